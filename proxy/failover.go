package proxy

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/store"
)

// Attempt outcomes, the outcome label of sluice_upstream_attempts_total.
const (
	attemptOK           = "ok"
	attemptRateLimited  = "rate_limited"
	attemptServerError  = "server_error"
	attemptTimeout      = "timeout"
	attemptUnreachable  = "unreachable"
	attemptClientClosed = "client_closed"
)

// errFailover ends an attempt whose answer (5xx, 429) is dropped unseen
// because another provider will be tried.
var errFailover = errors.New("upstream failed; trying the next provider")

// forward sends the request to the chosen provider and, when it fails
// before the first byte of an answer reached the client, to the next
// eligible one, within routing.max_attempts and routing.deadline. Nothing
// is retried once the client has seen a byte.
func (ex *exchange) forward() {
	for {
		ex.plan.retry = false
		ex.attempt()
		if !ex.plan.retry {
			return
		}
		ex.failOver()
	}
}

// failOver moves the request on to the next provider planned. It is
// apart from forward, whose frame stays on the stack while a stream is
// open, for the log call's frame.
//
//go:noinline
func (ex *exchange) failOver() {
	next := ex.plan.next
	ex.plan.next = nil
	ex.s.metrics.failover(ex.provider.ID, next.p.ID)
	ex.s.log.Info("failing over", "request_id", ex.id, "from", ex.provider.ID, "to", next.p.ID,
		"reason", ex.plan.attempts[len(ex.plan.attempts)-1].Error)
	ex.provider, ex.decision, ex.route, ex.upBody = next.p, next.d, next.route, next.body
	ex.setDecisionID(next.d.ID)
}

// attempt makes one upstream call, counted outstanding on its provider
// while it lasts: when its answer's body is left to copy, until
// endAttempt, which endCopy calls, or finish when the copy ended in a
// panic (a stream aborted).
func (ex *exchange) attempt() {
	ex.s.routes.enter(ex.provider.ID)
	ex.entered = true
	ex.forwardTo()
	if ex.at == nil {
		ex.leaveRoute()
	}
}

// leaveRoute counts the attempt out of its provider's route.
func (ex *exchange) leaveRoute() {
	if ex.entered {
		ex.entered = false
		ex.s.routes.leave(ex.provider.ID)
	}
}

// canFailover reports whether the current attempt's failure may move the
// request on to another provider.
func (ex *exchange) canFailover() bool {
	r := ex.snap.cfg.Routing
	if !r.Failover || len(ex.plan.attempts) >= r.MaxAttempts ||
		(r.Deadline > 0 && time.Since(ex.start) >= r.Deadline) ||
		ex.ended() || ex.w.status != 0 || ex.w.bytes != 0 {
		return false
	}
	if ex.plan.next == nil {
		ex.plan.next = ex.nextProvider()
	}
	return ex.plan.next != nil
}

// attemptAnswered runs when a provider's response headers arrive, before
// anything reaches the client. A 5xx or 429 that another provider may
// still avoid is dropped (errFailover).
func (ex *exchange) attemptAnswered(resp *http.Response) error {
	outcome := attemptOK
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		outcome = attemptRateLimited
	case resp.StatusCode >= 500:
		outcome = attemptServerError
	}
	ex.noteAttempt(outcome, resp.StatusCode, "")
	if outcome == attemptOK {
		return nil
	}
	ex.plan.attempts[len(ex.plan.attempts)-1].Error = "upstream answered " + http.StatusText(resp.StatusCode)
	if !ex.canFailover() {
		return nil
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	ex.plan.retry = true
	return errFailover
}

// attemptFailed runs when an attempt ended without a usable answer; it
// reports whether the request moves on to another provider (and nothing
// is written to the client).
func (ex *exchange) attemptFailed(err, cause error) bool {
	if errors.Is(err, errFailover) {
		return true
	}
	if n := len(ex.plan.attempts); n > 0 && ex.plan.attempts[n-1].Provider == ex.provider.ID && ex.plan.attempts[n-1].Status != 0 {
		// The headers arrived and were counted (a non-JSON 5xx page).
		return false
	}
	outcome := attemptUnreachable
	var ne net.Error
	switch {
	case ex.ended():
		outcome = attemptClientClosed
	case errors.Is(cause, errHeaderTimeout), errors.Is(err, errHeaderTimeout), errors.Is(err, errConnectTimeout),
		errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		outcome = attemptTimeout
	}
	ex.noteAttempt(outcome, 0, upstreamDetail(err))
	if outcome == attemptClientClosed || !ex.canFailover() {
		return false
	}
	ex.plan.retry = true
	return true
}

// noteAttempt records an attempt on the current provider and counts it
// for the metrics and the circuit breaker.
func (ex *exchange) noteAttempt(outcome string, status int, detail string) {
	ex.plan.attempts = append(ex.plan.attempts, store.Attempt{
		Provider: ex.provider.ID, Status: status, Outcome: outcome, Error: detail,
	})
	ex.s.metrics.attempt(ex.provider.ID, outcome)
	if outcome != attemptClientClosed {
		ex.s.routes.result(ex.snap.cfg.Routing, ex.provider.ID, outcome == attemptOK)
	}
}

// routeState is what routing keeps across requests: requests outstanding
// per provider (least_outstanding) and the circuit breaker's counts. It
// is keyed by provider ID, so it survives reloads that keep the provider.
type routeState struct {
	// now and intn are the clock and the random source; tests replace them.
	now  func() time.Time
	intn func(n int) int

	mu          sync.Mutex
	outstanding map[string]int
	failures    map[string]int
	openUntil   map[string]time.Time
}

func newRouteState() *routeState {
	return &routeState{now: time.Now, intn: rand.IntN, outstanding: map[string]int{},
		failures: map[string]int{}, openUntil: map[string]time.Time{}}
}

// enter counts a request outstanding on provider id; leave ends the
// count.
func (s *routeState) enter(id string) {
	s.mu.Lock()
	s.outstanding[id]++
	s.mu.Unlock()
}

func (s *routeState) leave(id string) {
	s.mu.Lock()
	s.outstanding[id]--
	s.mu.Unlock()
}

// result feeds the circuit breaker: routing.circuit_breaker.failures
// failures in a row take the provider out of rotation for its cooldown;
// one success resets the count.
func (s *routeState) result(r policy.Routing, id string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok || r.BreakerFailures <= 0 {
		delete(s.failures, id)
		return
	}
	s.failures[id]++
	if s.failures[id] >= r.BreakerFailures {
		s.openUntil[id] = s.now().Add(r.BreakerCooldown)
		// Back after the cooldown on probation: one more failure opens
		// the circuit again.
		s.failures[id] = r.BreakerFailures - 1
	}
}

// open reports whether provider id is out of rotation. Callers hold mu.
func (s *routeState) open(id string) bool {
	until, ok := s.openUntil[id]
	if ok && !s.now().Before(until) {
		delete(s.openUntil, id)
		return false
	}
	return ok
}

// order returns the providers to try, in order, by the strategy: those
// whose circuit is closed (the open ones only when none is closed, since
// an answer from a struggling provider beats none).
func (s *routeState) order(r policy.Routing, offers []*policy.Provider) []*policy.Provider {
	if len(offers) < 2 {
		return offers
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var closed []*policy.Provider
	for _, p := range offers {
		if !s.open(p.ID) {
			closed = append(closed, p)
		}
	}
	if len(closed) == 0 {
		closed = slices.Clone(offers)
	}
	switch r.Balance {
	case policy.BalanceWeighted:
		s.weighted(closed)
	case policy.BalanceLeastOutstanding:
		slices.SortStableFunc(closed, func(a, b *policy.Provider) int { return s.outstanding[a.ID] - s.outstanding[b.ID] })
	}
	return closed
}

// weighted moves a provider drawn by weight to the front; the others keep
// their order as fallbacks.
func (s *routeState) weighted(ps []*policy.Provider) {
	total := 0
	for _, p := range ps {
		total += weightOf(p)
	}
	n := s.intn(total)
	for i, p := range ps {
		if n -= weightOf(p); n < 0 {
			copy(ps[1:i+1], ps[:i])
			ps[0] = p
			return
		}
	}
}

func weightOf(p *policy.Provider) int {
	if p.Weight <= 0 {
		return 1
	}
	return p.Weight
}
