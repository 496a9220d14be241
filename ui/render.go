package ui

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/usage"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticRoot embed.FS

// staticFS holds static/style.css and static/ui.js, served under
// /ui/static/.
var staticFS fs.FS = staticRoot

// pages holds one template set per page, each the layout plus the page's
// own file.
type pages struct {
	byName map[string]*template.Template
}

var funcs = template.FuncMap{
	"tokens":   formatTokens,
	"usd":      formatUSD,
	"int":      formatInt,
	"duration": formatDuration,
	"when":     formatTime,
	"pct":      func(f float64) string { return strconv.FormatFloat(f*100, 'f', 0, 64) + "%" },
	"agent":    store.AgentName,
	"int64":    func(n int) int64 { return int64(n) },
	"price": func(f float64) string {
		if f == 0 {
			return "—"
		}
		return "$" + strconv.FormatFloat(f, 'f', -1, 64)
	},
	"plural": func(n int64, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return formatInt(n) + " " + many
	},
	"add": func(a, b int64) int64 { return a + b },
	"sub": func(a, b time.Time) time.Duration { return a.Sub(b) },
	"count": func(c usage.Count) string {
		if !c.Reported() {
			return "—"
		}
		return formatInt(c.Value())
	},
	"table": func(label string, rows []row) any {
		return struct {
			Label string
			Rows  []row
		}{label, rows}
	},
	"requests": func(recs []store.Record, showUser bool) any {
		return struct {
			Records  []store.Record
			ShowUser bool
		}{recs, showUser}
	},
}

func loadPages() *pages {
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/parts*.html"))
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "templates/"), ".html")
		if name == "layout" || strings.HasPrefix(name, "parts") {
			continue
		}
		p.byName[name] = template.Must(template.Must(layout.Clone()).ParseFS(templateFS, f))
	}
	return p
}

// view is what the layout renders around a page's own content.
type view struct {
	Title  string
	Key    string
	Caller Caller
	Nav    []navItem
	Admin  []navItem
	Data   any
}

// render writes page name with data, or a 500 when the template fails
// (rendered to a buffer first, so a half page is never sent).
func (h *Handler) render(w http.ResponseWriter, r *http.Request, c Caller, status int, name, title, key string, data any) {
	v := view{Title: title, Key: key, Caller: c, Nav: navUser, Data: data}
	if c.Admin {
		v.Admin = navAdmin
	}
	var buf bytes.Buffer
	t := h.pages.byName[name]
	if t == nil {
		h.opts.Logger.Error("ui: no template", "page", name)
		http.Error(w, "page template missing", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		h.opts.Logger.Error("ui: rendering failed", "page", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail shows an error page with the layout, so the caller can navigate on.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, c Caller, status int, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	h.render(w, r, c, status, "error", http.StatusText(status), "", struct {
		Status  int
		Message string
	}{status, msg})
}

// failErr logs err and shows a generic message: internal details stay in
// the log.
func (h *Handler) failErr(w http.ResponseWriter, r *http.Request, c Caller, err error) {
	if r.Context().Err() != nil {
		return
	}
	if err == errNoLog {
		h.fail(w, r, c, http.StatusServiceUnavailable, err.Error())
		return
	}
	h.opts.Logger.Error("ui: page failed", "path", r.URL.Path, "err", err)
	h.fail(w, r, c, http.StatusInternalServerError, "The request log could not be read; see the gateway's log.")
}

func formatInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// formatTokens shortens large counts: 1.2M, 34.5k.
func formatTokens(n int64) string {
	switch a := math.Abs(float64(n)); {
	case a >= 1e9:
		return strconv.FormatFloat(float64(n)/1e9, 'f', 2, 64) + "B"
	case a >= 1e6:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 2, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(float64(n)/1e3, 'f', 1, 64) + "k"
	}
	return formatInt(n)
}

func formatUSD(f float64) string {
	switch {
	case f == 0:
		return "$0.00"
	case math.Abs(f) < 0.0001:
		return "<$0.0001"
	case math.Abs(f) < 0.01:
		return "$" + strconv.FormatFloat(f, 'f', 4, 64)
	}
	whole := int64(math.Floor(f))
	cents := int64(math.Round((f - float64(whole)) * 100))
	if cents == 100 {
		whole, cents = whole+1, 0
	}
	return fmt.Sprintf("$%s.%02d", formatInt(whole), cents)
}

func formatDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return strconv.FormatInt(d.Microseconds(), 10) + " µs"
	case d < 10*time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}
