package store

import (
	"time"
	"unsafe"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/usage"
)

// Record is one request as the gateway saw it: one row of the log. Times are
// stored with microsecond precision.
type Record struct {
	// ID is the request ID the gateway gave the request (and returned to
	// the client). Insert fills in a random one when it is empty.
	ID string
	// Time is when the request arrived.
	Time time.Time

	// Who: the caller's tailnet identity.
	Login    string
	NodeID   string
	NodeName string
	Tailnet  string

	// What: where the request went.
	Provider string
	Model    string
	// RequestedModel is the model the client asked for when force_model,
	// model_aliases or inline parameters made it Model; "" otherwise.
	RequestedModel string
	// Attempts are the calls made to providers, in order; the last one
	// answered (or failed) the client. Nil when no provider was called.
	Attempts []Attempt
	Format   string // policy.Format* name
	Method   string
	Path     string
	// Stream is true when the client asked for a streamed answer.
	Stream bool

	// How it went. Status is the HTTP status the client received (499 when
	// the client went away first); Error says what failed, if anything.
	Status int
	Error  string
	// ErrorKind says who failed, in the error kinds of the API error
	// shapes: "upstream_error" when the provider did (also when it
	// answered 200 with a body that is not what it declared), else the
	// kind sluice answered the client with. Empty when nothing failed.
	ErrorKind string
	// Latency is the time from arrival to the last byte sent; TTFB the time
	// to the first byte of the answer.
	Latency time.Duration
	TTFB    time.Duration

	// Usage is the token usage the provider reported. A count it did not
	// report (a stream aborted before its usage arrived) stays "not
	// reported": NULL in the database, absent in the API, never 0.
	Usage usage.Tokens

	// CostUSD is what the request cost at the price known when it was
	// recorded. CostKnown is false for a model without a price and for
	// usage not reported: its cost is 0 (NULL in the database when the
	// usage is missing) and the dashboard flags it. SetCost fills both.
	CostUSD   float64
	CostKnown bool

	// ToolCalls counts the tool calls in the answer.
	ToolCalls int
	// RequestBytes and ResponseBytes are the body sizes on the wire.
	RequestBytes  int64
	ResponseBytes int64

	UserAgent string
	// Revision is the policy revision the access decision was made under.
	Revision string
	// Grants are the grants that allowed the request's model
	// ("temp_grants[i].grants[j]", "grants[i].app.tailscale.com/cap/aperture[j]",
	// "tailnet:caps[j]" for the tailnet policy file), sorted; empty when
	// the policy refused it. Stored as a JSON array in the grants column,
	// cut to 8 KiB like other long text.
	Grants []string
	// SessionID is the client's own session ID, from one of SessionHeaders;
	// empty when the client sent none (see SessionGap for the grouping).
	SessionID string
	// Instance names the gateway replica that served the request.
	Instance string
	// Decision is what the access decision was made on and its answer;
	// nil when no decision was made.
	Decision *DecisionInput

	// RawRequest and RawResponse are the bodies as received and as sent,
	// present only with database.save_raws. They are stored compressed, and
	// encrypted with database.keep_encrypted_blobs.
	RawRequest  []byte
	RawResponse []byte
	// Truncated reports that what the gateway kept of this request was
	// cut at its memory bounds: the raw bodies, or the response body, raw
	// messages or tool-call arguments recorded for hooks. The counts
	// (bytes, tokens when reported) still cover the whole answer.
	Truncated bool
	// HasRaws is set on records read back when raw bodies were stored.
	HasRaws bool
	// RawError is set on records read back when their raw bodies exist but
	// cannot be read (typically: the key they were sealed with is not
	// configured).
	RawError string
}

// UsageComplete reports whether the input and output counts, which a
// cost needs, were both reported.
func (r *Record) UsageComplete() bool {
	return r.Usage.Input.Reported() && r.Usage.Output.Reported()
}

// Cost is the USD cost of r's tokens at price p (USD per million tokens):
//
//	uncached input × Input + cache reads × CacheRead
//	  + cache writes × CacheWrite + output × Output
//
// A price without a cache-write rate bills cache writes at the input rate,
// and one without a cache-read rate bills reads at the input rate, so a
// partial price table never makes tokens free.
func Cost(p policy.Price, r *Record) float64 {
	cacheRead, cacheWrite := p.CacheRead, p.CacheWrite
	if cacheRead == 0 {
		cacheRead = p.Input
	}
	if cacheWrite == 0 {
		cacheWrite = p.Input
	}
	u := r.Usage
	micro := float64(u.UncachedInput().Value())*p.Input +
		float64(u.CacheRead.Value())*cacheRead +
		float64(u.CacheWrite.Value())*cacheWrite +
		float64(u.Output.Value())*p.Output
	return micro / 1e6
}

// SetCost prices r with the configuration's price table, as r's provider's
// cost_basis prices r's model. A model without a
// price, and usage whose input or output count was not reported, cost 0
// and have CostKnown false.
func (r *Record) SetCost(c *policy.Config) {
	p, ok := c.PriceOn(r.Provider, r.Model)
	if !ok || !r.UsageComplete() {
		r.CostUSD, r.CostKnown = 0, false
		return
	}
	r.CostUSD, r.CostKnown = Cost(p, r), true
}

// Attempt is one call to a provider on a request's way: a request that
// failed over has several, the last being the one that answered.
type Attempt struct {
	Provider string `json:"provider"`
	// Status is the provider's HTTP status; 0 when none arrived.
	Status int `json:"status,omitempty"`
	// Outcome is ok, rate_limited, server_error, timeout, unreachable or
	// client_closed.
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
}

// recordSize is what a Record takes before what it points to.
var recordSize = int64(unsafe.Sizeof(Record{}))

// memSize estimates the bytes r holds while it waits in the Writer's
// queue: the Record and what its strings, slices and decision input
// point to. A string shared with others (a model name from the
// configuration) counts too, so the estimate errs high, never low.
func (r *Record) memSize() int64 {
	n := recordSize + int64(len(r.ID)+len(r.Login)+len(r.NodeID)+len(r.NodeName)+len(r.Tailnet)+
		len(r.Provider)+len(r.Model)+len(r.RequestedModel)+len(r.Format)+len(r.Method)+len(r.Path)+
		len(r.Error)+len(r.ErrorKind)+len(r.UserAgent)+len(r.Revision)+len(r.SessionID)+len(r.Instance)+
		len(r.RawError)) + int64(cap(r.RawRequest)+cap(r.RawResponse))
	for _, a := range r.Attempts {
		n += int64(unsafe.Sizeof(a)) + int64(len(a.Provider)+len(a.Outcome)+len(a.Error))
	}
	for _, g := range r.Grants {
		n += int64(unsafe.Sizeof(g)) + int64(len(g))
	}
	if d := r.Decision; d != nil {
		n += int64(unsafe.Sizeof(*d))
		for _, s := range d.Tags {
			n += int64(unsafe.Sizeof(s)) + int64(len(s))
		}
		for _, s := range d.Groups {
			n += int64(unsafe.Sizeof(s)) + int64(len(s))
		}
		for _, c := range d.Caps {
			n += int64(unsafe.Sizeof(c)) + int64(cap(c))
		}
	}
	return n
}
