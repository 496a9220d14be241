// Package proxy is sluice's HTTP front: it identifies the caller, finds the
// API format and model of a request, asks the policy engine, forwards the
// request to the chosen provider with the provider's credentials, streams
// the answer back while recording usage, and hands one record per request
// to a sink. Everything derived from the configuration lives in a snapshot
// that a reload builds aside and swaps atomically.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/mcpgw"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/hooks"
	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/quota"
	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/ui"
)

// Options configures a Server. Identity and Sink are required.
type Options struct {
	// Identity tells who is calling.
	Identity identity.Resolver
	// Sink receives one record per request.
	Sink Sink
	// Logger receives operational logs; slog.Default() when nil.
	Logger *slog.Logger
	// EngineOptions are passed to engine.New on every (re)load.
	EngineOptions []engine.Option

	// MaxBodyBytes bounds a request body (413 beyond); DefaultMaxBodyBytes
	// when zero.
	MaxBodyBytes int64
	// BodyReadTimeout bounds the arrival of a whole request body (408
	// beyond); DefaultBodyReadTimeout when zero, none when negative.
	BodyReadTimeout time.Duration
	// KeptBodyBudget bounds, across the process, the memory requests
	// hold for what they keep while they run: raw bodies for
	// database.save_raws, and what response recorders hold (the JSON body
	// they parse, the partial stream message, bodies, raw messages and
	// tool-call arguments for hooks). KeptBodyMax bounds one request's
	// share. What does not fit is truncated and the record says so.
	// Defaults: DefaultKeptBodyBudget, DefaultKeptBodyMax.
	KeptBodyBudget int64
	KeptBodyMax    int64

	// ConnectTimeout bounds dialling a provider (default 10s);
	// HeaderTimeout bounds the wait for its response headers (default 5m,
	// since some models think long before answering); IdleStreamTimeout
	// ends a response whose body stalls that long (default 5m).
	ConnectTimeout    time.Duration
	HeaderTimeout     time.Duration
	IdleStreamTimeout time.Duration

	// Transport reaches providers; one with the timeouts above when nil.
	// The proxy enforces HeaderTimeout and IdleStreamTimeout itself, for
	// any transport.
	Transport http.RoundTripper
	// TailnetTransport reaches providers with "tailnet": true; such
	// providers fail with 502 when it is nil. When it is an
	// *http.Transport, New uses a copy whose dials and TLS handshakes are
	// bounded by ConnectTimeout.
	TailnetTransport http.RoundTripper
	// Instance names this replica in records.
	Instance string
	// Store, when set, serves the request log under /api/, and keeps
	// quota balances unless Quotas is set.
	Store store.Store
	// Quotas keeps quota balances; Store when nil. With neither, requests
	// the policy charges to quotas are refused.
	Quotas quota.Store
	// QuotaOutputTokens is the output reserved for a request that sets no
	// max_tokens (DefaultQuotaOutputTokens when zero); QuotaReservation is
	// reserved for a model without a price (DefaultQuotaReservation).
	QuotaOutputTokens int64
	QuotaReservation  quota.Amount
	// QuotaCutoff stops a stream charged to quotas once it has carried
	// more output than its reservation counted (a model that ignored
	// max_tokens), with an error event in the caller's stream format.
	QuotaCutoff bool
	// Hooks delivers hook calls; a dispatcher with default options when
	// nil. Shutdown drains it.
	Hooks *hooks.Dispatcher
	// MetricsPerUser adds series labelled by caller login to /metrics:
	// one set per user, so off by default.
	MetricsPerUser bool
	// AccessLog, when set, receives one line per request (see
	// accessLog); nil writes none.
	AccessLog *slog.Logger
	// TracerProvider, when set, traces each request: a span for the
	// request, a child for each policy decision and for the upstream
	// call, whose trace context is passed on in the traceparent header.
	// Nil traces nothing.
	TracerProvider trace.TracerProvider
	// ConfigFile is the file the configuration was loaded from: SIGHUP
	// (ReloadFile) rereads it and PUT /api/config rewrites it. Empty when
	// sluice serves its embedded default, which the config API shows but
	// refuses to save (there is no file to write).
	ConfigFile string
	// ForceModel, when set, replaces the model of every request (serve
	// --force-model); it wins over the configuration's force_model.
	ForceModel string
	// ReadyChecks are what GET /readyz checks beyond the configuration
	// and the request log (the tailnet node being up, in tailnet mode).
	ReadyChecks []ReadyCheck
	// ConfigDB, when set, holds the configuration (--config-source db):
	// PUT /api/config stores a new revision there and GET /api/status
	// lists the replicas' heartbeats from it. ConfigRevision is the
	// revision the configuration given to New is.
	ConfigDB       ConfigDB
	ConfigRevision int64
	// Replicas, when set, lists the replicas' heartbeats for GET
	// /api/status (a shared PostgreSQL store without ConfigDB).
	Replicas ReplicaLister
	// Shadow, when set, is a candidate policy every request is decided
	// by too, never enforced: differences from the live decision are
	// counted (sluice_policy_shadow_differences_total) and logged.
	Shadow *engine.Engine
	// ShadowSource names where Shadow came from (the --shadow-config
	// file), for GET /api/config/shadow.
	ShadowSource string
	// DurableLog (serve --durable-log) completes an answer only once its
	// record is committed to the database or fsynced to the spool: Sink
	// must be a DurableSink. Answers are then sent without
	// Content-Length, so the client sees their end only when the handler
	// returns, after the record is safe. An answer whose record cannot be
	// kept within DurableLogTimeout (DefaultDurableLogTimeout when zero)
	// is aborted: the client sees a broken response, never a complete one.
	DurableLog        bool
	DurableLogTimeout time.Duration
}

// DefaultDurableLogTimeout bounds how long an answer waits for its record
// with Options.DurableLog.
const DefaultDurableLogTimeout = 10 * time.Second

// Server is the gateway's http.Handler.
type Server struct {
	opts Options
	// upstream are the round trippers to providers, from opts.
	upstream upstreamTransports
	kept     *keptBudget
	log      *slog.Logger
	state    atomic.Pointer[snapshot]
	// reloadMu serialises reloads, so each compares against the
	// configuration it replaces.
	reloadMu sync.Mutex
	api      http.Handler
	adminAPI http.Handler
	ui       *ui.Handler
	hooks    *hooks.Dispatcher
	metrics  *metrics
	shadow   *shadowPolicy
	pprof    http.Handler
	tracer   trace.Tracer
	tracing  bool

	// inflight counts requests not yet recorded, and lists them for Cut.
	inflight *inflight
	// loopID marks the requests this gateway forwards (headerLoop): one
	// value, shared by their headers.
	loopID []string
	// routes keeps load-balancing and circuit-breaker state.
	routes *routeState
	// connectors serves /v1/mcp and /v1/connectors/.
	connectors *mcpgw.Gateway
	// failed is the newest stored revision that could not be applied.
	failed atomic.Pointer[failedRevision]
	// durable is the sink answers wait for, with Options.DurableLog.
	durable DurableSink
}

// New builds a Server for cfg. It compiles the policy once; an error means
// the configuration cannot be served.
func New(ctx context.Context, cfg *policy.Config, opts Options) (*Server, error) {
	if opts.Identity == nil || opts.Sink == nil {
		return nil, errors.New("proxy: Options.Identity and Options.Sink are required")
	}
	var durable DurableSink
	if opts.DurableLog {
		var ok bool
		if durable, ok = opts.Sink.(DurableSink); !ok {
			return nil, errors.New("proxy: Options.DurableLog needs a Sink that can wait for a record to be kept (a store.Writer)")
		}
		if opts.DurableLogTimeout <= 0 {
			opts.DurableLogTimeout = DefaultDurableLogTimeout
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.BodyReadTimeout == 0 {
		opts.BodyReadTimeout = DefaultBodyReadTimeout
	}
	if opts.KeptBodyBudget <= 0 {
		opts.KeptBodyBudget = DefaultKeptBodyBudget
	}
	if opts.KeptBodyMax <= 0 {
		opts.KeptBodyMax = DefaultKeptBodyMax
	}
	opts.KeptBodyMax = min(opts.KeptBodyMax, opts.KeptBodyBudget)
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.HeaderTimeout <= 0 {
		opts.HeaderTimeout = 5 * time.Minute
	}
	if opts.IdleStreamTimeout <= 0 {
		opts.IdleStreamTimeout = 5 * time.Minute
	}
	if opts.Transport == nil {
		opts.Transport = newTransport(opts.ConnectTimeout)
	}
	opts.TailnetTransport = withConnectTimeout(opts.TailnetTransport, opts.ConnectTimeout)
	upstream := newUpstreamTransports(opts.Transport, opts.TailnetTransport)
	if opts.TracerProvider != nil {
		tracer := newTracer(opts.TracerProvider)
		opts.Transport, opts.TailnetTransport = traced(opts.Transport, tracer), traced(opts.TailnetTransport, tracer)
		upstream = upstreamTransports{internet: opts.Transport, tailnet: opts.TailnetTransport,
			internetH2C: traced(upstream.internetH2C, tracer), tailnetH2C: traced(upstream.tailnetH2C, tracer)}
	}
	if opts.Hooks == nil {
		opts.Hooks = hooks.NewDispatcher(hooks.Options{Logger: opts.Logger})
	}
	s := &Server{opts: opts, upstream: upstream, log: opts.Logger, hooks: opts.Hooks, inflight: newInflight(),
		kept: &keptBudget{limit: opts.KeptBodyBudget}, loopID: newLoopID(), routes: newRouteState(), durable: durable}
	s.metrics = newMetrics(s, opts.MetricsPerUser)
	s.shadow = newShadowPolicy(s.metrics, s.log)
	if opts.Shadow != nil {
		s.SetShadow(opts.Shadow, opts.ShadowSource)
	}
	s.pprof = PprofHandler()
	s.tracer, s.tracing = newTracer(opts.TracerProvider), opts.TracerProvider != nil
	// A copy, so the caller's slice is not appended to.
	s.opts.EngineOptions = append(slices.Clip(opts.EngineOptions), engine.WithObserver(s.metrics.observeDecision))
	s.buildAPI()
	s.buildUI()
	s.buildConnectors()
	if err := s.Reload(ctx, cfg); err != nil {
		return nil, err
	}
	// Nothing reads the snapshot before New returns.
	s.state.Load().revision = opts.ConfigRevision
	return s, nil
}

// Shutdown drains what the gateway still has to deliver after responses
// (hook calls) within ctx. Call it after Wait and Cut, so the hook calls of the
// last complete answers are queued, and give it its own deadline.
func (s *Server) Shutdown(ctx context.Context) error {
	s.connectors.Close()
	return s.shutdownHooks(ctx)
}

// HookStats reports hook deliveries by hook name.
func (s *Server) HookStats() map[string]hooks.Stats { return s.hooks.Stats() }

// Config returns the configuration being served.
func (s *Server) Config() *policy.Config { return s.state.Load().cfg }

// maxIdleConnsPerProvider is how many idle connections the transport
// keeps to one provider, for IdleConnTimeout (90 s) after their last use.
// They are HTTP/1.1 connections (an HTTP/2 provider takes many requests
// on one): a local model server's, at most a connection per request open
// at once. Each idle one holds about 20 KB (net/http's buffers, the
// persistConn, two goroutines waiting): 256 of them, what stayed after
// 1,000 streams to one provider closed, were 5 MB of the 33 MB an idle
// sluice then held. Under steady load the idle list stays short, since a
// request takes the connection the last one returned, and the transport
// keeps a connection beyond the limit only until it is next idle: 32
// covers the load benchmark's 32 clients and a local server's batch of
// requests without a dial, and a burst past it after a pause pays a
// dial per extra connection (on a local network a fraction of a
// millisecond, against seconds of generation). net/http's default of 2
// would redial most of the connections of many streams to one box.
const maxIdleConnsPerProvider = 32

// newTransport is the transport to providers. It has no header timeout:
// forward enforces Options.HeaderTimeout for every transport alike.
func newTransport(connect time.Duration) *http.Transport {
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   maxIdleConnsPerProvider,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		// An HTTP/1.1 connection holds its write buffer for as long as
		// a stream on it is open (net/http's default is 4 KiB). Writes
		// are a request's headers (under a KiB or two) and its body,
		// which once the buffer is full goes to the connection
		// directly. The read buffer keeps net/http's 4 KiB: a JSON
		// answer of a few KiB, the common size, then arrives with its
		// headers in one read instead of two.
		WriteBufferSize: 2 << 10,
	}
	return withConnectTimeout(t, connect).(*http.Transport)
}

// errConnectTimeout reports a provider that could not be connected to
// within Options.ConnectTimeout.
var errConnectTimeout = errors.New("connect timeout")

// withConnectTimeout returns a copy of an *http.Transport whose dials and
// TLS handshakes are bounded by d, whatever dialer it uses (the tailnet
// node's included). Other round trippers are returned as they are: the
// header timeout still bounds them.
func withConnectTimeout(rt http.RoundTripper, d time.Duration) http.RoundTripper {
	t, ok := rt.(*http.Transport)
	if !ok || t == nil {
		return rt
	}
	t = t.Clone()
	dial := t.DialContext
	if dial == nil {
		dial = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dctx, cancel := context.WithTimeoutCause(ctx, d, errConnectTimeout)
		defer cancel()
		c, err := dial(dctx, network, addr)
		if err != nil && ctx.Err() == nil && errors.Is(context.Cause(dctx), errConnectTimeout) {
			return nil, fmt.Errorf("%w: %s not connected within %s: %w", errConnectTimeout, addr, d, err)
		}
		return c, err
	}
	t.TLSHandshakeTimeout = d
	return t
}

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Its frame stays on the stack while a stream is open (see serve):
	// what is not the gateway's own API is served by serveOther.
	if !s.serveOther(w, r) {
		s.serve(w, r)
	}
}

// serveOther sets the revision header and serves the health, local
// (dashboard, admin API) and connector endpoints; it reports false for a
// request of the gateway's API.
//
//go:noinline
func (s *Server) serveOther(w http.ResponseWriter, r *http.Request) bool {
	w.Header().Set(HeaderConfigRevision, s.state.Load().revisionHeader())
	if s.routeHealth(w, r) || s.routeLocal(w, r) {
		return true
	}
	if mcpgw.Owns(r.URL.Path) {
		s.connectors.ServeHTTP(w, r)
		return true
	}
	return false
}
