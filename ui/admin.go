package ui

import (
	"encoding/csv"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-gateway/sluice/store"
)

// usersPerPage is the page size of the usage overview's user table.
const usersPerPage = 25

// column is a sortable column of the user table.
type column struct {
	Key, Label string
	Numeric    bool
	// Href sorts by the column (the other way round when it is the
	// current one); Sort is "ascending" or "descending" on the current.
	Href, Sort string
}

var userColumns = []struct {
	key, label string
	value      func(row) float64
}{
	{"user", "User", nil},
	{"requests", "Requests", func(r row) float64 { return float64(r.Requests) }},
	{"tokens", "Tokens", func(r row) float64 { return float64(r.Tokens()) }},
	{"input", "Input", func(r row) float64 { return float64(r.Input) }},
	{"output", "Output", func(r row) float64 { return float64(r.Output) }},
	{"cached", "Cached", func(r row) float64 { return float64(r.Cached) }},
	{"reasoning", "Reasoning", func(r row) float64 { return float64(r.Reason) }},
	{"cost", "Cost", func(r row) float64 { return r.Cost }},
}

type adoptionData struct {
	Filters filters
	Action  string
	Cards   []card
	Metric  string
	Chart   template.HTML
	Toggle  []toggle
	Columns []column
	Users   []row
	Page    int
	Pages   int
	Prev    string
	Next    string
	CSV     string
}

// toggle is one choice of a switch above a chart.
type toggle struct {
	Label, Href string
	Current     bool
}

// adoption is the usage overview: everyone's usage with filters, a daily
// chart of tokens or cost, and a table of users.
func (h *Handler) adoption(w http.ResponseWriter, r *http.Request, c Caller) {
	if h.opts.Log == nil {
		h.failErr(w, r, c, errNoLog)
		return
	}
	q := r.URL.Query()
	fl := h.parseFilters(q, c, usageDays)
	rs, err := h.opts.Log.Rollup(r.Context(), fl.f, store.DimDay, store.DimUser)
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	users := byKey(rs, userOf)
	var total row
	for _, x := range rs {
		total.add(x)
	}
	metric := q.Get("metric")
	if metric != "cost" {
		metric = "tokens"
	}
	days := fl.days()
	per := make([]float64, len(days))
	pos := map[string]int{}
	for i, d := range days {
		pos[d] = i
	}
	for _, x := range rs {
		if i, ok := pos[x.Time.Format(time.DateOnly)]; ok {
			if metric == "cost" {
				per[i] += x.CostUSD
			} else {
				per[i] += tokensOf(x)
			}
		}
	}
	ch := chart{ID: "daily-" + metric, Labels: shortDays(days), Series: []series{{Name: metric, Values: per}}, Format: formatTokensF}
	if metric == "cost" {
		ch.Format = formatUSD
	}

	// Sort and page the user table.
	sortKey, desc := q.Get("sort"), q.Get("dir") != "asc"
	col := 7 // cost
	for i, uc := range userColumns {
		if uc.key == sortKey {
			col = i
		}
	}
	sortKey = userColumns[col].key
	sort.SliceStable(users, func(i, j int) bool {
		if col == 0 {
			return (users[i].Name < users[j].Name) != desc
		}
		a, b := userColumns[col].value(users[i]), userColumns[col].value(users[j])
		if a == b {
			return users[i].Name < users[j].Name
		}
		return (a < b) != desc
	})
	pages := max(1, (len(users)+usersPerPage-1)/usersPerPage)
	page, _ := strconv.Atoi(q.Get("page"))
	page = min(max(page, 1), pages)
	shown := users[min((page-1)*usersPerPage, len(users)):min(page*usersPerPage, len(users))]
	for i := range shown {
		shown[i].Link = "/ui/users/" + url.PathEscape(shown[i].Name) + "?" + fl.with("user", "")
	}
	dir := "desc"
	if !desc {
		dir = "asc"
	}
	keep := func(kv ...string) string {
		return "?" + fl.with(append([]string{"metric", metric, "sort", sortKey, "dir", dir}, kv...)...)
	}
	var cols []column
	for i, uc := range userColumns {
		cl := column{Key: uc.key, Label: uc.label, Numeric: i > 0}
		next := "desc"
		if i == 0 {
			next = "asc"
		}
		if i == col {
			cl.Sort = map[bool]string{true: "descending", false: "ascending"}[desc]
			next = map[bool]string{true: "asc", false: "desc"}[desc]
		}
		cl.Href = keep("sort", uc.key, "dir", next, "page", "")
		cols = append(cols, cl)
	}
	d := adoptionData{
		Filters: fl, Action: "/admin/adoption", Metric: metric, Chart: ch.SVG(),
		Cards: []card{
			{"users", "Active users", formatInt(int64(len(users)))},
			{"tokens", "Total tokens", formatTokens(total.Tokens())},
			{"input", "Input tokens", formatTokens(total.Input)},
			{"output", "Output tokens", formatTokens(total.Output)},
			{"cached", "Cached tokens", formatTokens(total.Cached)},
			{"reasoning", "Reasoning tokens", formatTokens(total.Reason)},
			{"cost", "Estimated cost", formatUSD(total.Cost)},
			{"requests", "Requests", formatInt(total.Requests)},
		},
		Toggle: []toggle{
			{"Tokens", keep("metric", "tokens"), metric == "tokens"},
			{"Cost", keep("metric", "cost"), metric == "cost"},
		},
		Columns: cols, Users: shown, Page: page, Pages: pages,
		CSV: "/admin/adoption.csv?" + fl.with(),
	}
	if page > 1 {
		d.Prev = keep("page", strconv.Itoa(page-1))
	}
	if page < pages {
		d.Next = keep("page", strconv.Itoa(page+1))
	}
	h.render(w, r, c, http.StatusOK, "adoption", "Usage overview", "adoption", d)
}

// adoptionCSV downloads the usage overview's current filter: one line per
// day and user.
func (h *Handler) adoptionCSV(w http.ResponseWriter, r *http.Request, c Caller) {
	if h.opts.Log == nil {
		h.failErr(w, r, c, errNoLog)
		return
	}
	fl := h.parseFilters(r.URL.Query(), c, usageDays)
	rs, err := h.opts.Log.Rollup(r.Context(), fl.f, store.DimDay, store.DimUser)
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="sluice-usage-`+fl.From+`-`+fl.To+`.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"day", "user", "requests", "failed", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "cost_usd", "unknown_cost_requests"})
	i64 := func(n int64) string { return strconv.FormatInt(n, 10) }
	for _, x := range rs {
		_ = cw.Write([]string{x.Time.Format(time.DateOnly), csvSafe(x.Login), i64(x.Requests), i64(x.Errors), i64(x.InputTokens), i64(x.OutputTokens),
			i64(x.CacheReadTokens), i64(x.CacheWriteTokens), i64(x.ReasoningTokens), strconv.FormatFloat(x.CostUSD, 'f', 6, 64), i64(x.UnknownCost)})
	}
	cw.Flush()
}

// csvSafe keeps a spreadsheet from reading a cell as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

type activityData struct {
	Filters   filters
	Action    string
	Period    string
	Periods   []toggle
	Metric    string
	Metrics   []toggle
	Active    template.HTML
	Models    template.HTML
	ModelRows []row
	Agents    template.HTML
	AgentRows []row
}

// activity shows who is active (daily, weekly, monthly active users) and
// usage stacked by model and by agent, each with its table.
func (h *Handler) activity(w http.ResponseWriter, r *http.Request, c Caller) {
	if h.opts.Log == nil {
		h.failErr(w, r, c, errNoLog)
		return
	}
	q := r.URL.Query()
	fl := h.parseFilters(q, c, usageDays)
	ctx := r.Context()
	byUser, err := h.opts.Log.Rollup(ctx, fl.f, store.DimDay, store.DimUser)
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	byModel, err := h.opts.Log.Rollup(ctx, fl.f, store.DimDay, store.DimModel)
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	byAgent, err := h.opts.Log.Rollup(ctx, fl.f, store.DimDay, store.DimAgent)
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	period := q.Get("period")
	if period != "week" && period != "month" {
		period = "day"
	}
	metric := q.Get("metric")
	if metric != "cost" {
		metric = "tokens"
	}
	keep := func(kv ...string) string {
		return "?" + fl.with(append([]string{"period", period, "metric", metric}, kv...)...)
	}
	value, format := tokensOf, formatTokensF
	if metric == "cost" {
		value, format = costOf, formatUSD
	}
	days := fl.days()
	models, agents := byKey(byModel, modelOf), byKey(byAgent, agentOf)
	d := activityData{
		Filters: fl, Action: "/admin/activity", Period: period, Metric: metric,
		Periods: []toggle{{"Day", keep("period", "day"), period == "day"}, {"Week", keep("period", "week"), period == "week"}, {"Month", keep("period", "month"), period == "month"}},
		Metrics: []toggle{{"Tokens", keep("metric", "tokens"), metric == "tokens"}, {"Cost", keep("metric", "cost"), metric == "cost"}},
		Active:  activeUsers(byUser, days, period).SVG(),
		Models:  dailyStack("by-model", days, byModel, modelOf, models, value, format).SVG(), ModelRows: models,
		Agents: dailyStack("by-agent", days, byAgent, agentOf, agents, value, format).SVG(), AgentRows: agents,
	}
	h.render(w, r, c, http.StatusOK, "activity", "Activity", "activity", d)
}

// activeUsers counts the distinct users with a request in each day, ISO
// week or month of the range.
func activeUsers(rs []store.Rollup, days []string, period string) chart {
	bucket := func(t time.Time) string {
		switch period {
		case "week":
			y, w := t.ISOWeek()
			return strconv.Itoa(y) + "-W" + strconv.Itoa(w)
		case "month":
			return t.Format("Jan 2006")
		}
		return t.Format("Jan 2")
	}
	var labels []string
	pos := map[string]int{}
	for _, d := range days {
		t, _ := time.Parse(time.DateOnly, d)
		b := bucket(t)
		if _, ok := pos[b]; !ok {
			pos[b] = len(labels)
			labels = append(labels, b)
		}
	}
	seen := make([]map[string]bool, len(labels))
	for i := range seen {
		seen[i] = map[string]bool{}
	}
	for _, x := range rs {
		if i, ok := pos[bucket(x.Time)]; ok && x.Requests > 0 {
			seen[i][x.Login] = true
		}
	}
	vals := make([]float64, len(labels))
	for i, s := range seen {
		vals[i] = float64(len(s))
	}
	return chart{ID: "active-users", Labels: labels, Series: []series{{Name: "active users", Values: vals}}}
}
