package ui_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/ui"
	"github.com/sluice-gateway/sluice/usage"
)

// TestAdoptionTablePages: the user table pages 25 users at a time in the
// order asked for, and every filter's page and CSV agree on the users.
func TestAdoptionTablePages(t *testing.T) {
	d := newDashboard(t)
	now := time.Now().UTC()
	var recs []store.Record
	for i := range 30 {
		// user00 spent least, user29 most.
		recs = append(recs, store.Record{
			Time: now.Add(-time.Duration(i) * time.Minute), Login: fmt.Sprintf("user%02d@example.com", i),
			Provider: "openai", Model: "gpt-5", Status: 200, UserAgent: "curl/8",
			Usage:   usage.Tokens{Input: usage.Of(int64(100 * (i + 1))), Output: usage.Of(1)},
			CostUSD: float64(i+1) / 100, CostKnown: true,
		})
	}
	if err := d.store.Insert(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	users := regexp.MustCompile(`<tr data-name="(user\d\d@example.com)">`)
	tests := []struct {
		query      string
		first      string
		rows       int
		wantPrev   bool
		wantNext   bool
		csvRecords int
	}{
		{"", "user29@example.com", 25, false, true, 30},
		{"?page=2", "user04@example.com", 5, true, false, 30},
		{"?sort=cost&dir=asc", "user00@example.com", 25, false, true, 30},
		{"?sort=user&dir=desc&page=2", "user04@example.com", 5, true, false, 30},
		{"?sort=input&dir=asc&page=9", "user25@example.com", 5, true, false, 30},
		{"?user=user07@example.com", "user07@example.com", 1, false, false, 1},
		{"?model=o3", "", 0, false, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			body := get(t, d.admin.URL+"/admin/adoption"+tt.query)
			m := users.FindAllStringSubmatch(body, -1)
			if len(m) != tt.rows || len(m) > 0 && m[0][1] != tt.first {
				t.Fatalf("%d rows, first %v; want %d, first %s", len(m), m, tt.rows, tt.first)
			}
			if got := regexp.MustCompile(`id="prev"`).MatchString(body); got != tt.wantPrev {
				t.Errorf("previous link: %v", got)
			}
			if got := regexp.MustCompile(`id="next"`).MatchString(body); got != tt.wantNext {
				t.Errorf("next link: %v", got)
			}
			href := regexp.MustCompile(`id="csv" href="([^"]+)"`).FindStringSubmatch(body)
			if href == nil {
				t.Fatal("no CSV link")
			}
			csv := get(t, d.admin.URL+unescapeAmp(href[1]))
			if n := len(regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d,`).FindAllString(csv, -1)); n != tt.csvRecords {
				t.Errorf("CSV has %d lines of data, want %d:\n%s", n, tt.csvRecords, csv)
			}
		})
	}
	// The cards add up every user, whatever the page.
	var cost float64
	for _, r := range recs {
		cost += r.CostUSD
	}
	if body := get(t, d.admin.URL+"/admin/adoption?page=2"); !regexp.MustCompile(`data-card="cost"><div class="k">[^<]*</div><div class="v">` + regexp.QuoteMeta(ui.FormatUSD(cost))).MatchString(body) {
		t.Errorf("cost card is not %s", ui.FormatUSD(cost))
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

func unescapeAmp(s string) string { return regexp.MustCompile(`&amp;`).ReplaceAllString(s, "&") }
