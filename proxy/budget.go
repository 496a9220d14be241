package proxy

import "sync/atomic"

// Defaults of the memory bounds on what requests keep (see
// Options.KeptBodyBudget and Options.KeptBodyMax).
const (
	DefaultKeptBodyBudget = 256 << 20
	DefaultKeptBodyMax    = 8 << 20
)

// keptBudget is the gateway-wide pool of memory for what requests keep
// while they run: the raw bodies for database.save_raws and everything the
// response recorder holds (the JSON body it parses, the partial stream
// message, the rebuilt body, raw messages and tool-call arguments for
// hooks). Without it, every large or endless answer held tens of
// megabytes, and a few hundred of them exhausted the process.
type keptBudget struct {
	limit int64
	used  atomic.Int64
}

// lease opens a request's share of the budget, at most max bytes.
func (b *keptBudget) lease(max int64) *keptLease {
	return &keptLease{budget: b, max: max}
}

// keptLease is one request's share of the budget. It implements
// compat.Allowance. What it took goes back to the budget once the request
// has handed on its record and every hook delivery carrying its bodies
// has ended. (The request log writer's queue, bounded in records, keeps
// the raw bodies a little longer.)
type keptLease struct {
	budget *keptBudget
	max    int64
	used   atomic.Int64
	// refs counts who still holds what was kept: the request, and each
	// hook delivery carrying its bodies. Zero means one (the request).
	refs atomic.Int32
	// refused is set once a Take was refused: something was truncated.
	refused atomic.Bool
}

// Take reserves n bytes; false means the request's cap or the gateway's
// budget is spent, and the caller must not keep them.
func (l *keptLease) Take(n int) bool {
	if n <= 0 {
		return true
	}
	if l.used.Add(int64(n)) > l.max {
		l.used.Add(-int64(n))
		l.refused.Store(true)
		return false
	}
	if l.budget.used.Add(int64(n)) > l.budget.limit {
		l.budget.used.Add(-int64(n))
		l.used.Add(-int64(n))
		l.refused.Store(true)
		return false
	}
	return true
}

// room is how much the lease could still take, as far as its own cap and
// the budget's current use tell.
func (l *keptLease) room() int64 {
	return max(0, min(l.max-l.used.Load(), l.budget.limit-l.budget.used.Load()))
}

// retain notes one more holder of what was kept (a queued hook
// delivery); each holder calls release once.
func (l *keptLease) retain() { l.refs.Add(1) }

// release drops one holder; the last gives what the lease took back to
// the budget.
func (l *keptLease) release() {
	if l.refs.Add(-1) < 0 {
		l.budget.used.Add(-l.used.Swap(0))
	}
}
