package proxy

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/quota"
)

// The quota API:
//
//	GET  /api/quotas           the caller's buckets (admins: every bucket)
//	POST /api/quotas/refill    {"bucket": NAME, "amount": "$5.00"}, admins only
//
// Both answer {"quotas": [status...]}, each status
//
//	{"bucket": "daily:alice@example.com", "config": "daily:<user>",
//	 "current": 9500000000, "capacity": 10000000000, "rate": "$5.00/day",
//	 "balance": "$9.50", "updated": "2026-...Z"}
//
// with current and capacity in nanodollars and the balance computed at the
// time of the call (refill included); "updated" is when the stored balance
// last changed, absent for a bucket never charged (it holds its capacity).

// quotaStatus is one bucket as the API and hooks show it.
type quotaStatus struct {
	Bucket   string       `json:"bucket"`
	Config   string       `json:"config"`
	Current  quota.Amount `json:"current"`
	Capacity quota.Amount `json:"capacity"`
	Rate     string       `json:"rate"`
	Balance  string       `json:"balance"`
	Updated  *time.Time   `json:"updated,omitempty"`
	// Overdraft is the bucket this one borrows from (configured name).
	Overdraft string `json:"overdraft,omitempty"`
}

func isQuotaPath(p string) bool { return p == "/api/quotas" || p == "/api/quotas/refill" }

// serveQuotas answers the quota API for a caller routeLocal identified.
func (s *Server) serveQuotas(w http.ResponseWriter, r *http.Request, c localCaller) {
	st := s.quotaStore()
	if st == nil {
		writeLocalError(w, http.StatusServiceUnavailable, "this gateway has no database to keep quota balances in")
		return
	}
	cfg := s.state.Load().cfg
	switch {
	case r.URL.Path == "/api/quotas" && r.Method == http.MethodGet:
	case r.URL.Path == "/api/quotas/refill" && r.Method == http.MethodPost:
		if !c.decision.Admin {
			writeLocalError(w, http.StatusForbidden, c.login+" may not refill quotas: only admins may")
			return
		}
		s.refillQuota(w, r, cfg, st)
		return
	default:
		writeLocalError(w, http.StatusMethodNotAllowed, "use GET /api/quotas or POST /api/quotas/refill")
		return
	}
	out, err := s.quotaStatuses(r, c)
	if err != nil {
		s.log.Error("reading quota balances failed", "err", err)
		writeLocalError(w, http.StatusServiceUnavailable, "quota balances cannot be read")
		return
	}
	writeQuotaJSON(w, out)
}

// quotaStatuses are the buckets the caller sees, with their balances now:
// their own, or every charged bucket for an admin.
func (s *Server) quotaStatuses(r *http.Request, c localCaller) ([]quotaStatus, error) {
	st := s.quotaStore()
	if st == nil {
		return nil, errNoQuotaStore
	}
	cfg := s.state.Load().cfg
	var names []string // nil: every stored bucket, for an admin
	var buckets []*policy.Quota
	if c.decision.Admin {
		buckets = cfg.Quotas
	} else {
		buckets = s.callerQuotas(r, c)
		for _, q := range buckets {
			names = append(names, q.Expand(c.login))
		}
		if names == nil {
			names = []string{}
		}
	}
	stored, err := st.Balances(r.Context(), names)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := []quotaStatus{}
	for _, q := range buckets {
		if c.decision.Admin && q.PerUser() {
			// Every user's bucket that was ever charged.
			var charged []string
			for name := range stored {
				if expandedFrom(&q.Bucket, name) {
					charged = append(charged, name)
				}
			}
			slices.Sort(charged)
			for _, name := range charged {
				out = append(out, status(&q.Bucket, name, stored, now))
			}
			continue
		}
		name := q.Expand(c.login)
		out = append(out, status(&q.Bucket, name, stored, now))
	}
	return out, nil
}

// errNoQuotaStore reports a gateway without a database for balances.
var errNoQuotaStore = errors.New("this gateway has no database to keep quota balances in")

// callerQuotas are the buckets the policy charges the caller's requests
// in, for any provider and model the configuration serves.
func (s *Server) callerQuotas(r *http.Request, c localCaller) []*policy.Quota {
	snap := s.state.Load()
	id, _ := s.opts.Identity.Identify(r)
	seen := map[string]bool{}
	for _, p := range snap.cfg.Providers {
		if p.Disabled {
			continue
		}
		for _, m := range p.Models {
			d, err := snap.engine.Decide(r.Context(), engine.Input{
				User:    engine.User{Login: id.Login, NodeID: id.NodeID, Tailnet: id.Tailnet, Tags: id.Tags, Groups: id.Groups},
				Caps:    id.Caps,
				Request: engine.Request{Provider: p.ID, Model: m},
			})
			if err != nil || !d.Allow {
				continue
			}
			for _, n := range d.Quotas {
				seen[n] = true
			}
		}
	}
	var out []*policy.Quota
	for _, q := range snap.cfg.Quotas {
		if seen[q.Name] {
			out = append(out, q)
		}
	}
	return out
}

// expandedFrom reports whether name is b's bucket (for some login, when b
// is per user).
func expandedFrom(b *quota.Bucket, name string) bool {
	if !b.PerUser() {
		return name == b.Name
	}
	prefix, _, _ := strings.Cut(b.Name, quota.UserTemplate)
	if !strings.HasPrefix(name, prefix) {
		return false
	}
	for end := len(prefix) + 1; end <= len(name); end++ {
		if b.Expand(name[len(prefix):end]) == name {
			return true
		}
	}
	return false
}

func status(b *quota.Bucket, name string, stored map[string]quota.Balance, now time.Time) quotaStatus {
	st := quotaStatus{Bucket: name, Config: b.Name, Capacity: b.Capacity, Rate: b.Rate.String(), Current: b.Capacity, Overdraft: b.Overdraft}
	if bal, ok := stored[name]; ok {
		st.Current = b.At(bal, now)
		u := bal.Updated.UTC()
		st.Updated = &u
	}
	st.Balance = st.Current.String()
	return st
}

// refillQuota adds an amount to one bucket (the expanded name), never past
// its capacity.
func (s *Server) refillQuota(w http.ResponseWriter, r *http.Request, cfg *policy.Config, st quota.Store) {
	var req struct {
		Bucket string `json:"bucket"`
		Amount string `json:"amount"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeLocalError(w, http.StatusBadRequest, `want {"bucket": NAME, "amount": "$5.00"}: `+err.Error())
		return
	}
	amount, err := quota.ParseAmount(req.Amount)
	if err != nil {
		writeLocalError(w, http.StatusBadRequest, err.Error())
		return
	}
	var b *quota.Bucket
	for _, q := range cfg.Quotas {
		if expandedFrom(&q.Bucket, req.Bucket) {
			b = &q.Bucket
			break
		}
	}
	if b == nil {
		writeLocalError(w, http.StatusNotFound, "no quota bucket "+`"`+req.Bucket+`"`+" (name a bucket of the quotas section, with <user> expanded)")
		return
	}
	now := time.Now()
	if _, err := st.Adjust(r.Context(), b, req.Bucket, amount, now); err != nil {
		s.log.Error("quota refill failed", "bucket", req.Bucket, "err", err)
		writeLocalError(w, http.StatusServiceUnavailable, "the quota balance cannot be written")
		return
	}
	stored, err := st.Balances(r.Context(), []string{req.Bucket})
	if err != nil {
		writeLocalError(w, http.StatusServiceUnavailable, "quota balances cannot be read")
		return
	}
	writeQuotaJSON(w, []quotaStatus{status(b, req.Bucket, stored, now)})
}

func writeQuotaJSON(w http.ResponseWriter, list []quotaStatus) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"quotas": list})
}
