// Package replay decides recorded requests again under a candidate policy
// and reports whose access to which model it changes: who gains and who
// loses what. `sluice policy replay` prints its report for CI, and the
// dashboard's Policy page shows it for a pasted configuration.
//
// Every record keeps the decision input it was decided on (the caller's
// tags, groups and tailnet capabilities next to the login, model, format
// and path of the row) and the policy's answer; see [store.DecisionInput].
package replay

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/store"
)

// Change is one (user, model) pair whose access a candidate policy
// changes, with how many recorded requests it changes.
type Change struct {
	User     string `json:"user"`
	Model    string `json:"model"`
	Change   string `json:"change"` // "gained" or "lost"
	Requests int    `json:"requests"`
}

// Report is what a replay found.
type Report struct {
	// Replayed counts the requests decided again; Skipped those recorded
	// without their decision input (before it was kept, or no decision
	// was made).
	Replayed int      `json:"replayed"`
	Skipped  int      `json:"skipped"`
	Changes  []Change `json:"changes"`
}

// Run decides every request of st matching f again with eng and compares
// with the answer recorded. Changes are sorted by user, model and change.
func Run(ctx context.Context, st store.Store, eng *engine.Engine, f store.Filter) (Report, error) {
	type key struct{ user, model, change string }
	counts := map[key]int{}
	var rep Report
	p := store.Page{Limit: store.MaxLimit}
	for {
		page, err := st.Requests(ctx, f, p)
		if err != nil {
			return rep, err
		}
		for _, r := range page.Records {
			if r.Decision == nil {
				rep.Skipped++
				continue
			}
			allow, err := Allow(ctx, eng, &r)
			if err != nil {
				return rep, fmt.Errorf("request %s: %w", r.ID, err)
			}
			rep.Replayed++
			switch {
			case allow && !r.Decision.Allow:
				counts[key{r.Login, r.Model, "gained"}]++
			case !allow && r.Decision.Allow:
				counts[key{r.Login, r.Model, "lost"}]++
			}
		}
		if page.Next == "" {
			break
		}
		p.Cursor = page.Next
	}
	rep.Changes = []Change{}
	for k, n := range counts {
		rep.Changes = append(rep.Changes, Change{User: k.user, Model: k.model, Change: k.change, Requests: n})
	}
	slices.SortFunc(rep.Changes, func(a, b Change) int {
		return cmp.Or(cmp.Compare(a.User, b.User), cmp.Compare(a.Model, b.Model), cmp.Compare(a.Change, b.Change))
	})
	return rep, nil
}

// Allow decides r as the gateway would under eng's policy: allowed when
// some provider that serves r's model in r's format, natively or by
// translating it, is granted, asked with the upstream format the gateway
// would call it in. A model the candidate no longer configures is not
// allowed.
func Allow(ctx context.Context, eng *engine.Engine, r *store.Record) (bool, error) {
	cfg := eng.Config()
	// Only model requests translate; a token count or a compaction needs
	// a provider that speaks the client's format. The log keeps the path,
	// which tells.
	route, _ := compat.Detect(http.MethodPost, r.Path, nil)
	generate := route.Operation == "" || route.Operation == compat.OpGenerate
	for _, p := range cfg.ProvidersFor(r.Model) {
		upstream, ok := r.Format, p.Compatibility.Supports(r.Format)
		if generate {
			upstream, ok = p.UpstreamFormat(r.Format)
		}
		if !ok {
			continue
		}
		d, err := eng.Decide(ctx, input(r, p, upstream))
		if err != nil {
			return false, err
		}
		if d.Allow {
			return true, nil
		}
	}
	return false, nil
}

func input(r *store.Record, p *policy.Provider, upstream string) engine.Input {
	return engine.Input{
		User: engine.User{Login: r.Login, NodeID: r.NodeID, Tailnet: r.Tailnet, Tags: r.Decision.Tags, Groups: r.Decision.Groups},
		Caps: r.Decision.Caps,
		Request: engine.Request{
			Provider: p.ID, Model: r.Model, Format: r.Format, UpstreamFormat: upstream, Path: r.Path,
		},
	}
}

// ParseSince reads a duration as time.ParseDuration does, plus whole days
// ("7d").
func ParseSince(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration (7d, 12h, 30m)", s)
	}
	return d, nil
}
