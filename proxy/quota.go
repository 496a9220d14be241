package proxy

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/hooks"
	"github.com/sluice-gateway/sluice/quota"
	"github.com/sluice-gateway/sluice/store"
)

// Quota enforcement is reserve-then-settle. Before a request goes upstream
// its worst-case cost is reserved in every bucket the policy charges it
// in, each reservation one atomic statement of the quota store; when any
// bucket cannot cover it the request is refused with 429 and Retry-After.
// When the answer ends (streams included) each bucket is settled to the
// actual cost the record computes from the usage, giving back the rest; a
// request that never reached a provider gets its reservation back whole.
// Concurrent requests thus never spend more than a bucket holds, beyond
// what one answer costs over its own reservation.

// Defaults of the reservation estimate.
const (
	// DefaultQuotaOutputTokens is the output reserved for a request whose
	// body sets no max_tokens (or its format's equivalent).
	DefaultQuotaOutputTokens = 4096
	// DefaultQuotaReservation is reserved for a request to a model without
	// a price: its cost cannot be estimated, nor computed afterwards, so
	// this amount is charged whole.
	DefaultQuotaReservation = quota.Dollar / 10
	// inputBytesPerToken is the counting rule for input: one token per 4
	// bytes of the request body (JSON keys and markup included), rounded
	// up. Real tokenizers give about 4 characters of English per token, so
	// counting the whole body errs on the side of reserving more.
	inputBytesPerToken = 4
	// settleTimeout bounds settling, which runs after the client has
	// its answer (or has gone). It is long: a settlement that gives up
	// leaves the whole reservation charged, and a busy single-writer
	// SQLite database can keep one waiting for seconds.
	settleTimeout = 30 * time.Second
)

// quotaHold is one bucket's reservation for the request.
type quotaHold struct {
	bucket   *quota.Bucket
	name     string // expanded
	reserved quota.Amount
	// chain numbers the overdraft chain the hold belongs to (its holds
	// are consecutive, in chain order); 0 for a bucket charged on its own.
	chain int
}

// quotaStore is the store balances live in: Options.Quotas, else the
// request log's store; nil when there is neither.
func (s *Server) quotaStore() quota.Store {
	if s.opts.Quotas != nil {
		return s.opts.Quotas
	}
	if s.opts.Store != nil {
		return s.opts.Store
	}
	return nil
}

// quotaEstimate is a request's worst case and what it was computed from.
type quotaEstimate struct {
	amount quota.Amount
	// priced is false for a model without a price: amount is then the
	// default reservation.
	priced  bool
	price   policy.Price
	in, out int64 // tokens
}

// estimateCost is the request's worst case: its input counted by the rule
// above at the higher of the input and cache-write prices, plus the most
// output it allows (max_tokens or DefaultQuotaOutputTokens) at the output
// price.
func (ex *exchange) estimateCost() quotaEstimate {
	p, ok := ex.snap.cfg.PriceOn(ex.provider.ID, ex.req.Model)
	if !ok {
		return quotaEstimate{amount: ex.s.quotaDefaultReservation()}
	}
	in := int64((len(ex.body) + inputBytesPerToken - 1) / inputBytesPerToken)
	// The cap the provider receives: a translation may set one the
	// client's format leaves out (Anthropic requires max_tokens).
	out, ok := compat.MaxOutputTokens(ex.forwardBody())
	if !ok {
		out = ex.s.quotaOutputTokens()
	}
	return quotaEstimate{amount: cost(in, max(p.Input, p.CacheWrite), out, p.Output), priced: true, price: p, in: in, out: out}
}

// cost is in input and out output tokens at per-million prices, in
// nanodollars rounded up.
func cost(in int64, inPrice float64, out int64, outPrice float64) quota.Amount {
	// Prices are USD per million tokens: tokens × price × 1e3 nanodollars.
	nanos := math.Ceil((float64(in)*inPrice + float64(out)*outPrice) * 1e3)
	if nanos >= math.MaxInt64/4 {
		return math.MaxInt64 / 4
	}
	return quota.Amount(nanos)
}

func (s *Server) quotaOutputTokens() int64 {
	if s.opts.QuotaOutputTokens > 0 {
		return s.opts.QuotaOutputTokens
	}
	return DefaultQuotaOutputTokens
}

func (s *Server) quotaDefaultReservation() quota.Amount {
	if s.opts.QuotaReservation > 0 {
		return s.opts.QuotaReservation
	}
	return DefaultQuotaReservation
}

// reserveQuotas reserves the request's worst-case cost in every bucket the
// decision charges. It answers the client itself and returns false when a
// bucket cannot cover it (429) or balances cannot be reached (503: a
// request is never served uncharged).
func (ex *exchange) reserveQuotas() bool {
	names := ex.decision.Quotas
	if len(names) == 0 {
		return true
	}
	st := ex.s.quotaStore()
	if st == nil {
		ex.fail(http.StatusServiceUnavailable, compat.KindUnavailable,
			"this gateway has no database to keep quota balances in; requests charged to quotas are refused", "no quota store")
		return false
	}
	ex.estimate = ex.estimateCost()
	amount := ex.estimate.amount
	// The balances' store may be across the network: a wait Cut ends.
	ctx, done := ex.waitCtx()
	defer done()
	now := time.Now()
	cfg := ex.snap.cfg
	// A bucket reached through another's overdraft is charged as part of
	// that chain, not again on its own.
	inChain := map[string]bool{}
	for _, n := range names {
		if q := cfg.Quota(n); q != nil {
			for _, c := range cfg.Chain(q)[1:] {
				inChain[c.Name] = true
			}
		}
	}
	for _, n := range names {
		q := cfg.Quota(n)
		if q == nil {
			ex.releaseQuotas()
			ex.fail(http.StatusForbidden, compat.KindPermissionDenied,
				fmt.Sprintf("the policy charges undefined quota bucket %q", n), "undefined quota bucket "+n)
			return false
		}
		if inChain[n] {
			continue
		}
		if q.Overdraft != "" {
			if !ex.reserveChain(ctx, st, cfg.Chain(q), amount, now) {
				return false
			}
			continue
		}
		b := &q.Bucket
		name := b.Expand(ex.who.Login)
		bal, ok, err := st.Reserve(ctx, b, name, amount, now)
		if err != nil {
			ex.quotaStoreFailed(name, err)
			return false
		}
		if !ok {
			ex.releaseQuotas()
			ex.refuseQuota(b, name, bal, amount)
			return false
		}
		ex.quotas = append(ex.quotas, quotaHold{bucket: b, name: name, reserved: amount})
	}
	return true
}

// quotaStoreFailed gives back what was reserved and answers 503.
func (ex *exchange) quotaStoreFailed(name string, err error) {
	ex.releaseQuotas()
	ex.s.log.Error("quota reservation failed", "request_id", ex.id, "bucket", name, "err", err)
	ex.fail(http.StatusServiceUnavailable, compat.KindUnavailable,
		"quota balances cannot be read; the request was not forwarded", err.Error())
}

// reserveChain reserves amount along an overdraft chain, all or nothing
// (quota.Store.ReserveChain): each bucket gives what it holds until the
// rest is covered, and the last one covers what remains, into debt if need
// be, as long as its balance is positive. When it is not, the chain is
// blocked: 429, with Retry-After the time until the last bucket's refill
// makes it positive again.
func (ex *exchange) reserveChain(ctx context.Context, st quota.Store, chain []*policy.Quota, amount quota.Amount, now time.Time) bool {
	id := 1
	for _, h := range ex.quotas {
		id = max(id, h.chain+1)
	}
	links := make([]quota.Link, len(chain))
	for i, q := range chain {
		links[i] = quota.Link{Bucket: &q.Bucket, Name: q.Expand(ex.who.Login)}
	}
	taken, bal, ok, err := st.ReserveChain(ctx, links, amount, now)
	if err != nil {
		ex.quotaStoreFailed(links[0].Name, err)
		return false
	}
	if !ok {
		ex.releaseQuotas()
		last := links[len(links)-1]
		msg := fmt.Sprintf("quota %q and the buckets it overdrafts into are spent (the last, %q, holds %s)", links[0].Name, last.Name, bal)
		if d, ok := last.Bucket.RetryAfter(bal, 1); ok {
			secs := max(int64(math.Ceil(d.Seconds())), 1)
			ex.w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		}
		ex.s.metrics.quotaRefused.WithLabelValues(chain[0].Name).Inc()
		ex.fail(http.StatusTooManyRequests, compat.KindRateLimited, msg, "quota exceeded: "+last.Name)
		return false
	}
	// The holds run to the deepest bucket the chain reached (the last
	// that gave something), empty buckets on the way included.
	reached := 0
	for i, a := range taken {
		if a > 0 {
			reached = i
		}
	}
	for i, l := range links[:reached+1] {
		ex.quotas = append(ex.quotas, quotaHold{bucket: l.Bucket, name: l.Name, reserved: taken[i], chain: id})
	}
	return true
}

// refuseQuota answers 429 in the caller's format, with Retry-After the
// seconds until the bucket's refill covers the reservation (none when it
// never will: the reservation exceeds the capacity, or nothing refills).
func (ex *exchange) refuseQuota(b *quota.Bucket, name string, bal, amount quota.Amount) {
	msg := fmt.Sprintf("quota %q has %s left; this request needs up to %s (its worst-case cost)", name, bal, amount)
	if d, ok := b.RetryAfter(bal, amount); ok {
		secs := int64(math.Ceil(d.Seconds()))
		ex.w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
		msg += fmt.Sprintf("; it refills enough in %s", time.Duration(max(secs, 1))*time.Second)
	} else {
		msg += "; it never refills that much (lower max_tokens, or ask an admin)"
	}
	ex.s.metrics.quotaRefused.WithLabelValues(b.Name).Inc()
	ex.fail(http.StatusTooManyRequests, compat.KindRateLimited, msg, "quota exceeded: "+name)
}

// releaseQuotas gives every reservation back whole.
func (ex *exchange) releaseQuotas() { ex.settleQuotas(0, true) }

// settleQuotas charges cost in every bucket the request reserved in,
// giving back the rest of its reservation; with known false it keeps the
// reservation charged whole (the provider answered, but the cost cannot be
// computed). In an overdraft chain the rest goes back to the last buckets
// first, and a cost beyond the reservation is charged to the deepest
// bucket the chain reached. It runs once, also when the client has gone.
func (ex *exchange) settleQuotas(cost quota.Amount, known bool) {
	holds := ex.quotas
	ex.quotas = nil
	if len(holds) == 0 || !known {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ex.r.Context()), settleTimeout)
	defer cancel()
	st := ex.s.quotaStore()
	now := time.Now()
	adjust := func(h quotaHold, delta quota.Amount) {
		if delta == 0 {
			return
		}
		if _, err := st.Adjust(ctx, h.bucket, h.name, delta, now); err != nil {
			// The balance keeps the reservation: charged too much,
			// never too little.
			ex.s.log.Error("quota settlement failed", "request_id", ex.id, "bucket", h.name, "err", err)
		}
	}
	for i := 0; i < len(holds); {
		if holds[i].chain == 0 {
			adjust(holds[i], holds[i].reserved-cost)
			i++
			continue
		}
		end := i
		var taken quota.Amount
		for end < len(holds) && holds[end].chain == holds[i].chain {
			taken += holds[end].reserved
			end++
		}
		refund := taken - cost
		if refund < 0 {
			adjust(holds[end-1], refund)
		}
		for k := end - 1; k >= i && refund > 0; k-- {
			give := min(refund, holds[k].reserved)
			adjust(holds[k], give)
			refund -= give
		}
		i = end
	}
}

// settleFromRecord settles to the cost the record computed. An answer
// without a cost, or cut short (a stream aborted by the client or the
// provider before its usage came, or by the quota cut-off), settles to an
// estimate instead (see abortedCost).
func (ex *exchange) settleFromRecord(rec *store.Record) {
	if len(ex.quotas) == 0 {
		return
	}
	// An answer cut short may have reported part of its usage (an
	// Anthropic stream reports its input and a first output count at the
	// start): its cost is estimated, with the reported counts as floors.
	cut := ex.upstream != nil && ex.w.status < 400 && !ex.upstream.done && !ex.result().Complete
	if rec.CostKnown && !cut {
		ex.settleQuotas(quota.Amount(math.Ceil(rec.CostUSD*1e9)), true)
		return
	}
	ex.settleQuotas(ex.abortedCost(rec))
}

// abortedCost estimates what an answer without a computed cost cost, by
// this rule: nothing when no output text came (the request failed before
// any output: the whole reservation comes back); else the input tokens
// reported, or those the reservation counted at the higher of the input
// and cache-write prices, plus the output tokens estimated from the text
// streamed so far (one token per 4 bytes of text, at most the output the
// reservation counted, but never fewer than the text pieces streamed, each
// at least one token, nor than the output tokens reported so far) at the
// output price. A model without a price stays charged its reservation
// (known is false).
func (ex *exchange) abortedCost(rec *store.Record) (c quota.Amount, known bool) {
	est := ex.estimate
	if !est.priced {
		return 0, false
	}
	if ex.upstream == nil || ex.upstream.meter == nil || ex.upstream.meter.TextBytes() == 0 {
		return 0, true
	}
	m := ex.upstream.meter
	in, inPrice := est.in, max(est.price.Input, est.price.CacheWrite)
	if n, ok := rec.Usage.Input.Get(); ok {
		in, inPrice = n, est.price.Input
	}
	out := max(min(m.Tokens(), est.out), m.Pieces())
	if n, ok := rec.Usage.Output.Get(); ok {
		out = max(out, n)
	}
	return cost(in, inPrice, out, est.price.Output), true
}

// quotaBalances are the balances hooks receive as metadata.quotas: read
// only when a hook of the request asks for "quotas", and nil when no
// bucket charges the request or the store cannot be read (the hook then
// gets an empty object; the failure is logged).
func (ex *exchange) quotaBalances() map[string]hooks.QuotaBalance {
	if len(ex.decision.Quotas) == 0 || !ex.hooksWant(policy.FieldQuotas) {
		return nil
	}
	st := ex.s.quotaStore()
	if st == nil {
		return nil
	}
	buckets := make(map[string]*quota.Bucket, len(ex.decision.Quotas))
	names := make([]string, 0, len(ex.decision.Quotas))
	for _, n := range ex.decision.Quotas {
		if q := ex.snap.cfg.Quota(n); q != nil {
			name := q.Expand(ex.who.Login)
			buckets[name] = &q.Bucket
			names = append(names, name)
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ex.r.Context()), settleTimeout)
	defer cancel()
	stored, err := st.Balances(ctx, names)
	if err != nil {
		ex.s.log.Error("reading quota balances for hooks failed", "request_id", ex.id, "err", err)
		return nil
	}
	now := time.Now()
	out := make(map[string]hooks.QuotaBalance, len(names))
	for name, b := range buckets {
		cur := b.Capacity
		if s, ok := stored[name]; ok {
			cur = b.At(s, now)
		}
		out[name] = hooks.QuotaBalance{Current: int64(cur), Capacity: int64(b.Capacity), Rate: b.Rate.String()}
	}
	return out
}

// hooksWant reports whether a hook grant of the request sends field.
func (ex *exchange) hooksWant(field string) bool {
	for _, h := range ex.decision.Hooks {
		for _, f := range h.Fields {
			if f == field {
				return true
			}
		}
	}
	return false
}
