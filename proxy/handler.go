package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/store"
)

// Response headers sluice adds.
const (
	headerRequestID  = "X-Request-Id"
	headerDecisionID = "X-Sluice-Decision-Id"
)

// exchange is one request on its way through the pipeline. It collects
// what the record needs as the stages learn it.
type exchange struct {
	s     *Server
	snap  *snapshot
	r     *http.Request
	w     *responseRecorder
	start time.Time
	id    string

	route    compat.Route
	who      identity.Identity
	body     []byte
	req      compat.Request
	provider *policy.Provider
	decision engine.Decision

	recorder compat.Recorder
	upstream *upstreamBody
	// kept is the request's share of the memory budget for what it keeps.
	kept *keptLease
	// rawCharged is how much of the request body the budget granted to
	// keep for save_raws.
	rawCharged int
	// parsedBody is the request body decoded for CEL conditions, when one
	// needs it; session is the client's session ID.
	parsedBody any
	session    string
	// status, kind and err describe a failure sluice answered itself;
	// err is for the log, never sent to the client as is.
	status int
	kind   compat.ErrorKind
	err    string
	// corsDone is set once the CORS headers were considered.
	corsDone bool
	// quotas are the request's reservations, settled in finish; estimate
	// is what they were computed from.
	quotas   []quotaHold
	estimate quotaEstimate
	// plan is the request's routing: target, providers left, attempts.
	plan routePlan
	// upBody is the request body translated into the upstream format,
	// when route is translated; translateErr notes an answer that could
	// not be translated to its end.
	upBody       []byte
	translateErr string
	// copyBuf picks the buffer the answer is copied through.
	copyBuf copyBuffer
	// answered is set once the current attempt's response headers
	// arrived: its timer then means an idle stream, not a late answer.
	answered atomic.Bool
	// rw is what w points to, allocated with the exchange.
	rw responseRecorder
	// query is the request's query, parsed once; nil when it has none.
	query url.Values
	// tracked lists the request in flight for Cut (Server.track).
	tracked tracking
	// ids hold the values of the response headers X-Request-Id and
	// X-Sluice-Decision-Id, which would otherwise cost a slice each.
	ids [2]string
	// at is the current upstream attempt, from its setup to its end
	// (endAttempt); entered is set while the attempt is counted on its
	// provider's route; streamCounted while the request counts as an
	// open stream.
	at            *attemptParts
	entered       bool
	streamCounted bool
	// begun is set once the request is one finish records (begin).
	begun bool
}

// setDecisionID sets the X-Sluice-Decision-Id response header.
func (ex *exchange) setDecisionID(id string) {
	ex.ids[1] = id
	ex.w.Header()[headerDecisionID] = ex.ids[1:2:2]
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	// The answer's body is copied here (copyBody), not in the stages
	// that got it (run, forward, attempt, forwardTo): while a stream is
	// open, only ServeHTTP's, serve's and copyBody's frames of sluice's
	// lie under the wait for its next event. The collector halves a
	// waiting goroutine's stack when less than a quarter of it is in use
	// (counting 800 bytes of guard), so a stream's handler then keeps 4 KB
	// of stack instead of 8. serve keeps its frame small for the same
	// reason: the work that needs large frames runs in helpers (begin,
	// admit, prepare, newAttempt, endCopy) and one deferred call does all
	// the finishing.
	ex := s.newExchange()
	defer ex.finish()
	if ex.begin(w, r) && ex.admit() && ex.run() {
		ex.endCopy(ex.at.copyBody())
	}
}

// newExchange makes the exchange of a request and tracks it in flight.
// The exchange holds the tracking node too (one allocation less per
// request).
//
//go:noinline
func (s *Server) newExchange() *exchange {
	ex := &exchange{s: s, start: time.Now()}
	s.track(&ex.tracked)
	return ex
}

// begin answers a CORS preflight (reporting false) or sets the exchange
// up for its request.
//
//go:noinline
func (ex *exchange) begin(w http.ResponseWriter, r *http.Request) bool {
	s := ex.s
	if s.servePreflight(w, r) {
		return false
	}
	ex.begun = true
	r = s.startSpan(r)
	ex.snap = s.state.Load()
	ex.r = r
	ex.rw = responseRecorder{ResponseWriter: w, chunked: s.durable != nil}
	ex.id = store.NewID(ex.start)
	ex.kept = s.kept.lease(s.opts.KeptBodyMax)
	ex.query = queryOf(r.URL)
	ex.w = &ex.rw
	ex.session = store.SessionFromHeader(r.Header)
	ex.ids[0] = ex.id
	ex.w.Header()[headerRequestID] = ex.ids[0:1:1]
	return true
}

// admit detects the request's route and refuses it when it is unknown,
// when it looped back to this gateway or when its record could not be
// kept; it reports whether the request goes on.
//
//go:noinline
func (ex *exchange) admit() bool {
	r := ex.r
	route, err := compat.Detect(r.Method, r.URL.EscapedPath(), ex.query)
	ex.route = route
	if err != nil {
		// Misrouted requests are recorded too, under the caller's name
		// when it can be told, so an admin sees a misconfigured client.
		ex.who, _ = ex.s.opts.Identity.Identify(r)
		status, kind := http.StatusNotFound, compat.KindNotFound
		var re *compat.RouteError
		if errors.As(err, &re) {
			status, kind = re.Status(), re.Kind()
		}
		ex.fail(status, kind, err.Error(), err.Error())
		return false
	}
	if ex.s.looped(r) {
		ex.refuseLoop()
		return false
	}
	return ex.logHealthy()
}

// logHealthy refuses the request when its record could not be kept and
// database.on_log_failure says refuse (anything but "serve"): an audit
// trail must not grow holes while the gateway keeps serving.
func (ex *exchange) logHealthy() bool {
	err := ex.s.opts.Sink.Healthy()
	if err == nil || ex.snap.cfg.Database.OnLogFailure == policy.LogFailureServe {
		return true
	}
	// The refusal is offered to the log too, under the caller's name.
	ex.who, _ = ex.s.opts.Identity.Identify(ex.r)
	ex.fail(http.StatusServiceUnavailable, compat.KindUnavailable,
		"the request log cannot be written: "+err.Error()+"; the gateway refuses requests until it can record them",
		"refused: the request log cannot be written: "+err.Error())
	return false
}

// run prepares the request and forwards it. It reports whether an
// answer's body is left to copy: its headers went to the client, and
// the attempt (ex.at) is ready for copyBody and endCopy.
//
//go:noinline
func (ex *exchange) run() bool {
	if !ex.prepare() {
		return false
	}
	if ex.req.Stream {
		ex.s.metrics.openStreams.Inc() // until finish
		ex.streamCounted = true
	}
	ex.forward()
	if ex.at == nil {
		return false
	}
	ex.startCopy()
	return true
}

// prepare identifies the caller, reads and inspects the body and decides
// on it: policy, provider, hooks, quotas. It reports whether the request
// goes upstream; when not, it has answered.
//
//go:noinline
func (ex *exchange) prepare() bool {
	return ex.identifyCaller() && ex.readRequest() &&
		ex.resolve() && ex.choose() && ex.tracedPreRequest() && ex.reserveQuotas()
}

// identifyCaller identifies the caller, or answers (reporting false)
// when it cannot or when the request is for the model list.
//
//go:noinline
func (ex *exchange) identifyCaller() bool {
	who, err := ex.identify()
	switch {
	case errors.Is(err, identity.ErrUnknownCaller), errors.Is(err, identity.ErrUntrustedHeaders):
		ex.fail(http.StatusForbidden, compat.KindPermissionDenied,
			"sluice could not identify the caller: "+err.Error(), err.Error())
		return false
	case err != nil:
		// The tailnet itself failed to answer: not the caller's fault,
		// and never a reason to let them through.
		ex.s.log.Error("identifying the caller failed", "request_id", ex.id, "err", err)
		ex.fail(http.StatusServiceUnavailable, compat.KindUnavailable,
			"sluice could not ask the tailnet who is calling; try again", err.Error())
		return false
	}
	ex.who = who
	if ex.route.Kind == compat.RouteModels {
		ex.serveModels()
		return false
	}
	return true
}

// readRequest reads and inspects the request body, or answers (reporting
// false) when it cannot.
//
//go:noinline
func (ex *exchange) readRequest() bool {
	deadline := setBodyDeadline(ex.w, ex.s.opts.BodyReadTimeout)
	body, err := readBody(ex.r, ex.s.opts.MaxBodyBytes)
	if err == nil && deadline {
		// Kept on failure: the server then gives up on the rest of the
		// body at once instead of waiting for it before answering.
		liftBodyDeadline(ex.w)
	}
	encErr, isEncErr := errors.AsType[*encodingError](err)
	switch {
	case err != nil && isBodyTimeout(err):
		ex.fail(http.StatusRequestTimeout, compat.KindTimeout,
			fmt.Sprintf("the request body did not arrive within %s", ex.s.opts.BodyReadTimeout), errBodyTimeout.Error()+": "+err.Error())
		return false
	case errors.Is(err, errBodyTooLarge):
		ex.fail(http.StatusRequestEntityTooLarge, compat.KindTooLarge,
			fmt.Sprintf("request body exceeds the gateway's limit of %d bytes (decompressed)", ex.s.opts.MaxBodyBytes), err.Error())
		return false
	case isEncErr:
		ex.fail(encErr.status(), compat.KindInvalidRequest, encErr.Error(), encErr.Error())
		return false
	case err != nil:
		ex.fail(http.StatusBadRequest, compat.KindInvalidRequest, "could not read the request body", err.Error())
		return false
	}
	ex.body = body
	ex.keepRawRequest()
	req, err := compat.Inspect(ex.route, body)
	ex.req = req
	if err != nil {
		ex.fail(http.StatusBadRequest, compat.KindInvalidRequest, err.Error(), err.Error())
		return false
	}
	return true
}

// choose picks the provider: the first, in declaration order, that lists
// the model, speaks the request's format and is granted to the caller.
// Its frame stays small, as the policy engine runs below it: the answers
// are written by helpers (accept, refuse, refuseFormat).
func (ex *exchange) choose() bool {
	offers, err := ex.candidates()
	if err != nil {
		ex.fail(http.StatusNotFound, compat.KindNotFound, err.Error(), "unknown model")
		return false
	}
	var supported []string
	var first *engine.Decision
	restricted := false
	for i := 0; i < len(offers); i++ {
		p := offers[i]
		upstream, ok := upstreamFormat(p, ex.route)
		if !ok {
			for _, f := range p.Compatibility.Enabled() {
				if !slices.Contains(supported, f) {
					supported = append(supported, f)
				}
			}
			continue
		}
		d := new(engine.Decision) // kept as first beyond the iteration
		if err := ex.judge(p.ID, upstream, d); err != nil {
			ex.failPolicy(p, err)
			return false
		}
		ex.applyCORS(d)
		if d.Allow && d.ForceProvider != "" && d.ForceProvider != p.ID {
			// An obligation sends the request to one provider only.
			if restricted = ex.forceProviderOf(d, &offers); !restricted {
				return false
			}
			i, first = -1, nil
			continue
		}
		if d.Allow && d.ForceModel != "" && d.ForceModel != ex.plan.forced {
			return ex.forceModelOf(d)
		}
		if d.Allow {
			return ex.accept(p, upstream, d, offers[i+1:], restricted)
		}
		if first == nil {
			first = d
		}
	}
	if first == nil {
		ex.refuseFormat(supported)
		return false
	}
	ex.refuse(first)
	return false
}

// accept makes p, which policy allowed with d, the request's provider,
// rest the providers to fail over to; it answers the client and reports
// false when the request cannot be sent to p as policy allowed it.
//
//go:noinline
func (ex *exchange) accept(p *policy.Provider, upstream string, d *engine.Decision, rest []*policy.Provider, restricted bool) bool {
	if !ex.capMaxTokens(d.MaxTokens) {
		ex.decision = *d
		return false
	}
	route, err := ex.route.Translated(upstream, ex.req)
	if err != nil {
		ex.fail(http.StatusInternalServerError, compat.KindInternal, "the gateway cannot call this provider in its format", err.Error())
		return false
	}
	up, err := ex.translateRequest(route)
	if err != nil {
		ex.failTranslation(p, route, err)
		return false
	}
	ex.route, ex.upBody = route, up
	ex.provider, ex.decision = p, *d
	ex.setDecisionID(d.ID)
	ex.plan.rest = rest // to fail over to, each judged first
	if restricted || d.ForceProvider != "" {
		ex.plan.rest = nil
	}
	if d.FullCapture {
		ex.keepRawRequest()
	}
	return true
}

// forceProviderOf and forceModelOf apply d's obligations (forceProvider,
// forceModel), keeping the copy of d they take out of choose's frame.
//
//go:noinline
func (ex *exchange) forceProviderOf(d *engine.Decision, offers *[]*policy.Provider) bool {
	return ex.forceProvider(*d, offers)
}

//go:noinline
func (ex *exchange) forceModelOf(d *engine.Decision) bool { return ex.forceModel(*d) }

// failPolicy answers a request policy could not decide on.
//
//go:noinline
func (ex *exchange) failPolicy(p *policy.Provider, err error) {
	ex.s.log.Error("policy evaluation failed", "request_id", ex.id, "provider", p.ID, "model", ex.req.Model, "err", err)
	ex.fail(http.StatusInternalServerError, compat.KindInternal, "the policy engine failed to decide; the request was not forwarded", err.Error())
}

// refuseFormat answers a request for a model no provider serves in the
// request's format; supported are the formats they do speak.
//
//go:noinline
func (ex *exchange) refuseFormat(supported []string) {
	ex.fail(http.StatusBadRequest, compat.KindInvalidRequest,
		fmt.Sprintf("model %q is not available in the %s format; it supports: %s", ex.req.Model, ex.route.Format, strings.Join(supported, ", ")), "format not supported")
}

// refuse answers a request policy denied with first, the decision on the
// first provider that could have served it.
//
//go:noinline
func (ex *exchange) refuse(first *engine.Decision) {
	ex.decision = *first
	ex.setDecisionID(first.ID)
	reason := "access denied by policy"
	if len(first.Reasons) > 0 {
		reason = strings.Join(first.Reasons, "; ")
	}
	status, kind := http.StatusForbidden, compat.KindPermissionDenied
	if first.Code == engine.CodeNoModel && (ex.snap.cfg.Grants != nil || len(ex.who.Caps) > 0) {
		// grants semantics: a role without a matching models grant is
		// 404, as if the model were not there; temp_grants keep 403.
		status, kind = http.StatusNotFound, compat.KindNotFound
	}
	ex.fail(status, kind, fmt.Sprintf("%s is not allowed to use model %q: %s", ex.who.Login, ex.req.Model, reason), reason)
}

// judge sets d to policy's decision on calling provider in the upstream
// format, compared with the shadow policy's. It is a function of its own so that
// choose's frame is not on the stack while the engine evaluates.
//
//go:noinline
func (ex *exchange) judge(provider, upstream string, d *engine.Decision) error {
	in := ex.input(provider, upstream)
	var err error
	*d, err = ex.decide(in)
	if err != nil {
		return err
	}
	if ex.s.shadow.cur.Load() != nil {
		ex.compareShadow(&in, d)
	}
	return nil
}

// compareShadow compares d with the shadow policy's decision on in.
//
//go:noinline
func (ex *exchange) compareShadow(in *engine.Input, d *engine.Decision) {
	ex.s.shadow.compare(ex.r.Context(), ex.snap.engine, ex.id, *in, *d)
}

// upstreamFormat is the API format p is called in for a client's route:
// the client's own format when p speaks it (the bytes pass untouched),
// else, for a model request to a provider with "translate": true, the
// format Provider.UpstreamFormat chooses. ok is false when p cannot serve
// the client.
func upstreamFormat(p *policy.Provider, r compat.Route) (upstream string, ok bool) {
	if r.Operation != compat.OpGenerate {
		if !p.Compatibility.Supports(r.Format) {
			return "", false
		}
		return r.Format, true
	}
	return p.UpstreamFormat(r.Format)
}

// input is what policy decides on for calling provider in the upstream
// format.
func (ex *exchange) input(provider, upstream string) engine.Input {
	return engine.Input{
		User: policyUser(ex.who),
		Caps: ex.who.Caps,
		Request: engine.Request{
			Provider:       provider,
			Model:          ex.req.Model,
			Format:         ex.route.Format,
			UpstreamFormat: upstream,
			Path:           ex.r.URL.Path,
			// The model the client asked for, before force_model and
			// model_aliases.
			RequestedModel: ex.plan.target.Requested,
		},
	}
}

// fail answers the client in its API format and notes the failure for the
// record: message is what the client reads, logged what the log keeps.
func (ex *exchange) fail(status int, kind compat.ErrorKind, message, logged string) {
	ex.status, ex.kind, ex.err = status, kind, logged
	ex.corsOnFailure()
	compat.WriteError(ex.w, ex.route.Format, status, kind, message)
}

// finish hands the request's record to the sink. It runs deferred, so a
// request that panicked (a stream aborted mid-way) is recorded too.
func (ex *exchange) finish() {
	p := recover()
	// Last, also after a panic: the request is done once its record is
	// handed over.
	defer ex.tracked.end()
	if !ex.begun { // a CORS preflight, answered
		if p != nil {
			panic(p)
		}
		return
	}
	if ex.at != nil { // a panic before endCopy, which ends the attempt
		ex.endAttempt()
	}
	if ex.streamCounted {
		ex.s.metrics.openStreams.Dec()
	}
	rec := ex.record()
	switch {
	case p == nil || rec.Error != "":
	case p == http.ErrAbortHandler && ex.recorder != nil && ex.result().Complete:
		// The client hung up after the whole answer; nothing failed.
	case p == http.ErrAbortHandler:
		rec.Error = "stream aborted"
	default:
		rec.Error = fmt.Sprint(p)
	}
	complete := ex.upstream != nil && (ex.upstream.done || ex.result().Complete)
	if (p != nil || rec.Error != "") && ex.cutAtShutdown(complete) {
		rec.Status, rec.Error = statusCutAtShutdown, errCutAtShutdown
	}
	ex.settleFromRecord(&rec)
	// After-response hooks fire for every complete answer, also when the
	// client hung up right after its end (the abort panic below).
	if complete {
		ex.afterResponse()
	}
	ex.s.metrics.request(ex, &rec)
	ex.accessLog(&rec)
	ex.endSpan(&rec)
	if ex.s.durable != nil && p == nil && !ex.ended() {
		if !ex.keepDurably(rec) {
			// The client must not take this answer for a complete one.
			p = http.ErrAbortHandler
		}
	} else {
		ex.s.opts.Sink.Write(rec)
	}
	ex.kept.release()
	if p != nil {
		panic(p)
	}
}

// result is what the recorder saw. The recorder works it out once and
// keeps it, so the exchange, which every open stream holds, need not.
func (ex *exchange) result() compat.Result { return ex.recorder.Result() }

func (ex *exchange) record() store.Record {
	rec := store.Record{
		ID:           ex.id,
		Time:         ex.start,
		Login:        ex.who.Login,
		NodeID:       ex.who.NodeID,
		NodeName:     ex.who.NodeName,
		Tailnet:      ex.who.Tailnet,
		Model:        ex.req.Model,
		Format:       ex.route.Format,
		Method:       ex.r.Method,
		Path:         ex.r.URL.Path,
		Stream:       ex.req.Stream,
		Status:       ex.w.status,
		Error:        ex.err,
		ErrorKind:    string(ex.kind),
		Latency:      time.Since(ex.start),
		RequestBytes: int64(len(ex.body)),
		UserAgent:    ex.r.UserAgent(),
		Revision:     ex.decision.Revision,
		Grants:       ex.decision.Grants,
		SessionID:    ex.session,
		Instance:     ex.s.opts.Instance,
	}
	if ex.provider != nil {
		rec.Provider = ex.provider.ID
	}
	if ex.decision.ID != "" {
		// Kept so that `sluice policy replay` can decide this request
		// again under a candidate policy.
		rec.Decision = &store.DecisionInput{Tags: ex.who.Tags, Groups: ex.who.Groups, Caps: ex.who.Caps, Allow: ex.decision.Allow}
	}
	if t := ex.plan.target; t.Requested != "" && t.Requested != rec.Model {
		rec.RequestedModel = t.Requested
	}
	rec.Attempts = ex.plan.attempts
	if !ex.w.firstByte.IsZero() {
		rec.TTFB = ex.w.firstByte.Sub(ex.start)
	}
	rec.ResponseBytes = ex.w.bytes
	// A client may hang up once it has the whole answer (at [DONE]),
	// before the upstream's end of body was read: that is not an abort.
	complete := ex.recorder != nil && ex.result().Complete
	if ex.upstream != nil && !ex.upstream.done && !complete {
		if ex.ended() {
			rec.Status, rec.Error = statusClientClosed, "client closed the connection before the answer was complete"
		}
		ex.upstream.annotate(&rec)
	}
	if ex.captures() {
		rec.RawRequest = ex.rawRequest()
		rec.Truncated = len(rec.RawRequest) < len(ex.body)
		if ex.upstream != nil {
			rec.RawResponse = ex.upstream.raw.Bytes()
			rec.Truncated = rec.Truncated || ex.upstream.raw.Truncated()
		}
	}
	if ex.recorder != nil {
		res := ex.result()
		rec.Usage = res.Usage
		rec.ToolCalls = len(res.ToolCalls)
		rec.Truncated = rec.Truncated || res.Truncated
		switch {
		case rec.Error != "":
		case ex.translateErr != "":
			rec.Error, rec.ErrorKind = ex.translateErr, string(compat.KindUpstreamError)
		case res.Failure != "":
			rec.Error, rec.ErrorKind = res.Failure, string(compat.KindUpstreamError)
		case errors.Is(res.Err, compat.ErrMalformedResponse):
			// The client got the status and the bytes as they came; the
			// record tells what they were.
			rec.Error = fmt.Sprintf("upstream answered %d with a %v", ex.w.status, res.Err)
			rec.ErrorKind = string(compat.KindUpstreamError)
		}
	}
	rec.SetCost(ex.snap.cfg)
	if ex.upstream == nil || ex.w.status >= 400 {
		// No provider began an answer: no usage to report, nothing billed.
		rec.CostUSD, rec.CostKnown = 0, true
	}
	return rec
}

// statusClientClosed is recorded when the client went away before the
// answer was complete (nginx's convention).
const statusClientClosed = 499

// keepRawRequest keeps the request body for database.save_raws, as much
// of it as the request's share of the memory budget allows. The body is
// held for forwarding anyway; charging it makes one cap cover both raw
// bodies of a request. It runs again when a hook replaces the body.
func (ex *exchange) keepRawRequest() {
	if !ex.captures() {
		return
	}
	if more := int(min(int64(len(ex.body)-ex.rawCharged), ex.kept.room())); more > 0 && ex.kept.Take(more) {
		ex.rawCharged += more
	}
}

// rawRequest is the part of the request body kept for save_raws.
func (ex *exchange) rawRequest() []byte { return ex.body[:min(len(ex.body), ex.rawCharged)] }

// policyUser is the caller as policy sees them, the same for every
// endpoint: login, device, tailnet, tags and groups.
func policyUser(who identity.Identity) engine.User {
	return engine.User{Login: who.Login, NodeID: who.NodeID, Tailnet: who.Tailnet, Tags: who.Tags, Groups: who.Groups}
}

// queryOf parses u's query; nil when there is none, which saves the
// empty map every request without a query would otherwise allocate.
func queryOf(u *url.URL) url.Values {
	if u.RawQuery == "" {
		return nil
	}
	return u.Query()
}
