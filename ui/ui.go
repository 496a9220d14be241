// Package ui serves the dashboard: server-rendered pages under /ui/ for
// everyone's own activity and under /admin/ for admins, with their styles
// and charts embedded in the binary (no CDN, no build step).
//
// The gateway identifies the caller and asks policy whether they are an
// admin before handing a request over (see Options.Who); every page then
// reads the request log scoped to that caller, exactly as the /api/
// endpoints do: a non-admin's queries always carry their own login, and
// every /admin/ URL answers them 403. Usage pages read the store's hourly
// rollups, not raw rows, so they stay fast on a large log.
package ui

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sluice-gateway/sluice/store"
)

// Caller is who is looking at a page, as the gateway identified them.
type Caller struct {
	Login string
	// Admin is policy's answer for the caller: admins see /admin/ and
	// everyone's rows.
	Admin bool
}

// Log is the request log the pages read: store.Store implements it.
type Log interface {
	Request(ctx context.Context, id string, q store.Lookup) (store.Record, error)
	Requests(ctx context.Context, f store.Filter, p store.Page) (store.RequestPage, error)
	Sessions(ctx context.Context, f store.Filter, p store.Page) (store.SessionPage, error)
	Rollup(ctx context.Context, f store.Filter, by ...store.Dimension) ([]store.Rollup, error)
}

var _ Log = store.Store(nil)

// Model is one model the caller may use, with its prices in USD per
// million tokens (zero when unknown) and context window (0 when unknown).
type Model struct {
	ID            string
	Provider      string
	Priced        bool
	Input         float64
	Output        float64
	CacheRead     float64
	CacheWrite    float64
	ContextWindow int
}

// Quota is one quota bucket the caller's requests are charged in.
type Quota struct {
	Bucket   string
	Balance  string
	Capacity string
	Rate     string
	// Fraction is the balance over the capacity, 0 to 1.
	Fraction float64
	Updated  *time.Time
}

// Options configures the dashboard. Who is required; the others may be nil,
// and the pages that need them say so.
type Options struct {
	// Who returns the caller of a request the gateway has identified.
	Who func(*http.Request) (Caller, error)
	// Log is the request log; nil when the gateway keeps none.
	Log Log
	// Models lists the models the caller of r may use.
	Models func(r *http.Request) ([]Model, error)
	// Quotas lists the quota buckets the caller of r is charged in.
	Quotas func(r *http.Request) ([]Quota, error)
	// Policy serves the Policy and Settings pages; nil shows them as
	// unavailable.
	Policy Policy
	// Logger receives failures the pages could not show in detail.
	Logger *slog.Logger
	// Now is the clock (tests fix it); time.Now when nil.
	Now func() time.Time
}

// Handler serves the dashboard.
type Handler struct {
	opts  Options
	mux   *http.ServeMux
	pages *pages
}

// New returns the dashboard handler for the paths Owns reports.
func New(opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &Handler{opts: opts, mux: http.NewServeMux(), pages: loadPages()}
	h.mux.Handle("GET /ui/static/", http.StripPrefix("/ui/", http.FileServerFS(staticFS)))
	for _, rt := range routes {
		h.mux.HandleFunc(rt.pattern, h.guard(rt))
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c, ok := h.caller(w, r)
		if !ok {
			return
		}
		if isAdminPath(r.URL.Path) && !c.Admin {
			h.forbidden(w, r, c)
			return
		}
		h.fail(w, r, c, http.StatusNotFound, "There is no page at "+r.URL.Path+".")
	})
	return h
}

// Owns reports whether path is one of the dashboard's: the root (which
// redirects to /ui/), /ui/..., /admin/... and the icon browsers ask for
// (which would otherwise be logged as a failed LLM request).
func Owns(path string) bool {
	return path == "/" || path == "/favicon.ico" || path == "/ui" || strings.HasPrefix(path, "/ui/") || isAdminPath(path)
}

func isAdminPath(path string) bool {
	return path == "/admin" || strings.HasPrefix(path, "/admin/")
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/", "/ui":
		http.Redirect(w, r, "/ui/", http.StatusFound)
		return
	case "/favicon.ico":
		http.Redirect(w, r, "/ui/static/icon.svg", http.StatusMovedPermanently)
		return
	case "/admin", "/admin/":
		if c, ok := h.caller(w, r); ok {
			if !c.Admin {
				h.forbidden(w, r, c)
				return
			}
			http.Redirect(w, r, "/admin/adoption", http.StatusFound)
		}
		return
	}
	h.mux.ServeHTTP(w, r)
}

// guard checks the caller's role before a page runs: the role is checked on
// the server for every request, whatever links the page showed.
func (h *Handler) guard(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := h.caller(w, r)
		if !ok {
			return
		}
		if (rt.admin || isAdminPath(r.URL.Path)) && !c.Admin {
			h.forbidden(w, r, c)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
		rt.serve(h, w, r, c)
	}
}

func (h *Handler) caller(w http.ResponseWriter, r *http.Request) (Caller, bool) {
	c, err := h.opts.Who(r)
	if err != nil || c.Login == "" && !c.Admin {
		http.Error(w, "sluice could not identify the caller", http.StatusUnauthorized)
		return Caller{}, false
	}
	return c, true
}

func (h *Handler) forbidden(w http.ResponseWriter, r *http.Request, c Caller) {
	h.fail(w, r, c, http.StatusForbidden, c.Login+" may not open "+r.URL.Path+": admin pages are for admins.")
}

// errNoLog reports a page that needs the request log on a gateway that
// keeps none.
var errNoLog = errors.New("this gateway keeps no request log (no database configured)")
