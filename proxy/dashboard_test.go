package proxy

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestDashboardMetricsExist: every metric the shipped Grafana dashboard
// queries is one sluice exports, so a renamed metric cannot leave an
// operator's panel silently empty.
func TestDashboardMetricsExist(t *testing.T) {
	raw, err := os.ReadFile("../deploy/grafana/sluice.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	gw := newMetricsGateway(t, func(o *Options) { o.MetricsPerUser = true })
	names := make(map[string]bool)
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	for _, c := range gw.srv.metrics.collectors {
		ch := make(chan *prometheus.Desc, 1024)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			if m := fqName.FindStringSubmatch(d.String()); m != nil {
				names[m[1]] = true
			}
		}
	}
	used := regexp.MustCompile(`\b(?:sluice|go|process)_[a-z_]+`)
	queries := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			queries++
			for _, name := range used.FindAllString(tg.Expr, -1) {
				base := name
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if trimmed, ok := strings.CutSuffix(name, suffix); ok && names[trimmed] {
						base = trimmed
					}
				}
				if !names[base] {
					t.Errorf("panel %q queries %s, which sluice does not export", p.Title, name)
				}
			}
		}
	}
	if queries < 10 {
		t.Errorf("dashboard has %d queries", queries)
	}
}
