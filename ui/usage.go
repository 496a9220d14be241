package ui

import (
	"context"
	"html/template"
	"net/http"
	"sort"
	"time"

	"github.com/sluice-gateway/sluice/store"
)

type card struct{ Key, Label, Value string }

// row is the usage of one user, model or agent in a table.
type row struct {
	Name string
	// Link, when set, opens the row's own page.
	Link     string
	Requests int64
	Errors   int64
	Input    int64
	Output   int64
	Cached   int64
	Reason   int64
	Cost     float64
	Unknown  int64
}

func (r row) Tokens() int64 { return r.Input + r.Output }

func (r *row) add(x store.Rollup) {
	r.Requests += x.Requests
	r.Errors += x.Errors
	r.Input += x.InputTokens
	r.Output += x.OutputTokens
	r.Cached += x.CacheReadTokens
	r.Reason += x.ReasoningTokens
	r.Cost += x.CostUSD
	r.Unknown += x.UnknownCost
}

// byKey sums rollup rows by key, largest cost first, then most requests.
func byKey(rs []store.Rollup, key func(store.Rollup) string) []row {
	idx := map[string]int{}
	var out []row
	for _, r := range rs {
		k := key(r)
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, row{Name: k})
		}
		out[i].add(r)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Cost != out[j].Cost {
			return out[i].Cost > out[j].Cost
		}
		if out[i].Requests != out[j].Requests {
			return out[i].Requests > out[j].Requests
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// maxSeries bounds the series of a stacked chart; the rest are summed as
// "other".
const maxSeries = 8

// dailyStack turns rollups by (day, key) into a stacked chart over days,
// one series per key in the order of order (the largest first).
func dailyStack(id string, days []string, rs []store.Rollup, key func(store.Rollup) string, order []row, value func(store.Rollup) float64, format func(float64) string) chart {
	pos := map[string]int{}
	for i, d := range days {
		pos[d] = i
	}
	slot := map[string]int{}
	var ss []series
	for i, r := range order {
		if i == maxSeries {
			ss = append(ss, series{Name: "other", Values: make([]float64, len(days))})
			break
		}
		name := r.Name
		if name == "" {
			name = "(none)"
		}
		slot[r.Name] = i
		ss = append(ss, series{Name: name, Values: make([]float64, len(days))})
	}
	for _, r := range rs {
		d, ok := pos[r.Time.Format(time.DateOnly)]
		if !ok {
			continue
		}
		s, ok := slot[key(r)]
		if !ok {
			s = maxSeries
		}
		ss[s].Values[d] += value(r)
	}
	return chart{ID: id, Labels: shortDays(days), Series: ss, Format: format}
}

// shortDays labels days as "Mar 10".
func shortDays(days []string) []string {
	out := make([]string, len(days))
	for i, d := range days {
		t, _ := time.Parse(time.DateOnly, d)
		out[i] = t.Format("Jan 2")
	}
	return out
}

func tokensOf(r store.Rollup) float64 { return float64(r.InputTokens + r.OutputTokens) }
func costOf(r store.Rollup) float64   { return r.CostUSD }
func modelOf(r store.Rollup) string   { return r.Model }
func agentOf(r store.Rollup) string   { return store.AgentName(r.Agent) }
func userOf(r store.Rollup) string    { return r.Login }

func formatTokensF(v float64) string { return formatTokens(int64(v)) }

type usageData struct {
	Login   string
	Filters filters
	Action  string
	Cards   []card
	Tokens  template.HTML
	Cost    template.HTML
	Models  []row
	Recent  []store.Record
	Total   row
}

func (h *Handler) myUsage(w http.ResponseWriter, r *http.Request, c Caller) {
	h.usagePage(w, r, c, c.Login, "My usage", "/ui/")
}

// userUsage is one user's usage page: an admin opens anyone's from the
// usage overview; a user may open only their own.
func (h *Handler) userUsage(w http.ResponseWriter, r *http.Request, c Caller) {
	login := r.PathValue("login")
	if login != c.Login && !c.Admin {
		h.fail(w, r, c, http.StatusForbidden, c.Login+" may not see the usage of "+login+": only admins see other users' pages.")
		return
	}
	h.usagePage(w, r, c, login, "Usage of "+login, "/ui/users/"+login)
}

func (h *Handler) usagePage(w http.ResponseWriter, r *http.Request, c Caller, login, title, action string) {
	if h.opts.Log == nil {
		h.failErr(w, r, c, errNoLog)
		return
	}
	fl := h.parseFilters(r.URL.Query(), c, usageDays)
	fl.User, fl.Admin = "", false // the page is one user's
	fl.f.Login = login
	ctx := r.Context()
	rs, err := h.opts.Log.Rollup(ctx, fl.f, store.DimDay, store.DimModel)
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	active, err := h.activeSessions(ctx, login)
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	recent, err := h.opts.Log.Requests(ctx, fl.f, store.Page{Limit: 10})
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	models := byKey(rs, modelOf)
	var total row
	for _, x := range rs {
		total.add(x)
	}
	days := fl.days()
	key := "usage"
	if login != c.Login {
		key = "adoption"
	}
	h.render(w, r, c, http.StatusOK, "usage", title, key, usageData{
		Login: login, Filters: fl, Action: action,
		Cards: []card{
			{"requests", "Requests", formatInt(total.Requests)},
			{"tokens", "Tokens (in + out)", formatTokens(total.Tokens())},
			{"cost", "Estimated cost", formatUSD(total.Cost)},
			{"sessions", "Active sessions (30 min)", formatInt(int64(active))},
		},
		Tokens: dailyStack("tokens-by-day", days, rs, modelOf, models, tokensOf, formatTokensF).SVG(),
		Cost:   dailyStack("cost-by-day", days, rs, modelOf, models, costOf, formatUSD).SVG(),
		Models: models, Recent: recent.Records, Total: total,
	})
}

// activeSessions counts the user's sessions with a request in the last
// session gap: those that a next request would continue.
func (h *Handler) activeSessions(ctx context.Context, login string) (int, error) {
	page, err := h.opts.Log.Sessions(ctx, store.Filter{Login: login, Since: h.opts.Now().Add(-store.DefaultSessionGap)}, store.Page{Limit: store.MaxLimit})
	if err != nil {
		return 0, err
	}
	return len(page.Sessions), nil
}
