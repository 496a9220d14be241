package ui

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-gateway/sluice/store"
)

// The date range a page shows when none is asked for: a month of usage,
// a week of logs (their sessions are computed from the rows).
const (
	usageDays = 30
	logsDays  = 7
)

// filters is the filter form of a page: what the viewer typed, and the
// store filter it means. A non-admin's filter always carries their own
// login, whatever the URL says.
type filters struct {
	User, Model, Agent, Status, From, To string
	// Problem explains a value that could not be used; the page shows it
	// and ignores the value.
	Problem string
	// Admin shows the user field.
	Admin bool
	f     store.Filter
}

func (h *Handler) parseFilters(q url.Values, c Caller, defaultDays int) filters {
	fl := filters{
		User:  strings.TrimSpace(q.Get("user")),
		Model: strings.TrimSpace(q.Get("model")),
		Agent: strings.TrimSpace(q.Get("agent")),
		From:  q.Get("from"),
		To:    q.Get("to"),
		Admin: c.Admin,
	}
	if !c.Admin {
		fl.User = ""
		fl.f.Login = c.Login
	} else {
		fl.f.Login = fl.User
	}
	fl.f.Model, fl.f.Agent = fl.Model, fl.Agent
	if s := strings.TrimSpace(q.Get("status")); s != "" {
		switch n, err := strconv.Atoi(s); {
		case s == "errors":
			fl.Status, fl.f.Errors = s, true
		case err != nil || n < 100 || n > 999:
			fl.Problem = "Status " + strconv.Quote(s) + " is not an HTTP status code (or \"errors\")."
		default:
			fl.Status, fl.f.Status = s, n
		}
	}
	today := h.opts.Now().UTC().Truncate(24 * time.Hour)
	from, err := time.Parse(time.DateOnly, fl.From)
	if err != nil {
		if fl.From != "" {
			fl.Problem = "From " + strconv.Quote(fl.From) + " is not a date (2006-01-02)."
		}
		from = today.AddDate(0, 0, -(defaultDays - 1))
	}
	to, err := time.Parse(time.DateOnly, fl.To)
	if err != nil {
		if fl.To != "" {
			fl.Problem = "To " + strconv.Quote(fl.To) + " is not a date (2006-01-02)."
		}
		to = today
	}
	if to.Before(from) {
		from, to = to, from
	}
	fl.From, fl.To = from.Format(time.DateOnly), to.Format(time.DateOnly)
	fl.f.Since, fl.f.Until = from, to.AddDate(0, 0, 1)
	return fl
}

// days lists the dates of the filter's range, oldest first.
func (fl filters) days() []string {
	var out []string
	for d := fl.f.Since; d.Before(fl.f.Until); d = d.AddDate(0, 0, 1) {
		out = append(out, d.Format(time.DateOnly))
	}
	return out
}

// query is the filter as URL parameters, for links that keep it.
func (fl filters) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"user": fl.User, "model": fl.Model, "agent": fl.Agent, "status": fl.Status, "from": fl.From, "to": fl.To} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// with returns the filter's query with extra parameters set.
func (fl filters) with(kv ...string) string {
	q := fl.query()
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			q.Del(kv[i])
		} else {
			q.Set(kv[i], kv[i+1])
		}
	}
	return q.Encode()
}
