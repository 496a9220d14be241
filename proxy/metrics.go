package proxy

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/store"
)

// writerStats is implemented by sinks that count what they did
// (store.Writer).
type writerStats interface {
	Stats() store.WriterStats
}

// Request outcomes, the outcome label of sluice_requests_total.
const (
	outcomeOK            = "ok"
	outcomeDenied        = "denied"
	outcomeUpstreamError = "upstream_error"
	outcomeClientClosed  = "client_closed"
	outcomeError         = "error"
)

// labelNone stands for a label the request never learned (no provider was
// chosen, no model read); labelOther for a model the configuration does
// not list, so a client cannot grow the series by inventing names.
const (
	labelNone  = "none"
	labelOther = "other"
)

// Histogram buckets, in seconds. Model answers take from a fraction of a
// second to minutes; policy decisions take microseconds.
var (
	durationBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}
	ttfbBuckets     = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
	decisionBuckets = prometheus.ExponentialBuckets(10e-6, 4, 9) // 10µs … 655ms
)

// metrics are the gateway's Prometheus metrics, in a registry of its own
// so that two servers in one process (tests) do not share counts. Label
// sets are bounded by the configuration: providers, configured models,
// API formats, status classes, outcomes; per-user series only with
// Options.MetricsPerUser.
type metrics struct {
	reg *prometheus.Registry

	requests     *prometheus.CounterVec
	tokens       *prometheus.CounterVec
	cost         *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	ttfb         *prometheus.HistogramVec
	stream       *prometheus.HistogramVec
	decisions    *prometheus.CounterVec
	decisionDur  prometheus.Histogram
	cache        *prometheus.CounterVec
	openStreams  prometheus.Gauge
	reloads      *prometheus.CounterVec
	quotaRefused *prometheus.CounterVec
	attempts     *prometheus.CounterVec
	failovers    *prometheus.CounterVec

	// Per-user series; nil unless Options.MetricsPerUser.
	userRequests *prometheus.CounterVec
	userTokens   *prometheus.CounterVec
	userCost     *prometheus.CounterVec

	// The series request updates, by label values.
	requestSeries  seriesCache[[5]string, prometheus.Counter]
	tokenSeries    seriesCache[[3]string, prometheus.Counter]
	costSeries     seriesCache[[2]string, prometheus.Counter]
	durationSeries seriesCache[string, prometheus.Observer]
	ttfbSeries     seriesCache[string, prometheus.Observer]
	streamSeries   seriesCache[string, prometheus.Observer]

	// The series observeDecision counts in, looked up once: it runs for
	// every request, and a vector's lookup (validate, hash, map read
	// under a lock) cost more than the count itself.
	allowed, denied, decisionErrors prometheus.Counter
	cacheHits, cacheMisses          prometheus.Counter

	handler http.Handler
	// collectors are every registered collector, for tests that check
	// which metric names exist.
	collectors []prometheus.Collector
}

func newMetrics(s *Server, perUser bool) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{reg: reg}
	f := func(c prometheus.Collector) {
		reg.MustRegister(c)
		m.collectors = append(m.collectors, c)
	}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_requests_total",
		Help: "Requests by provider, model (configured models; other for the rest), API format, status class and outcome (ok, denied, upstream_error, client_closed, error).",
	}, []string{"provider", "model", "format", "code", "outcome"})
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_tokens_total",
		Help: "Tokens the providers reported, by provider, model and kind (input, output, cache_read, cache_write, reasoning).",
	}, []string{"provider", "model", "kind"})
	m.cost = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_cost_usd_total",
		Help: "Cost of the requests in US dollars at the configured prices, by provider and model.",
	}, []string{"provider", "model"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sluice_request_duration_seconds",
		Help:    "Time from a request's arrival to the end of its answer, by provider.",
		Buckets: durationBuckets,
	}, []string{"provider"})
	m.ttfb = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sluice_time_to_first_byte_seconds",
		Help:    "Time from a forwarded request's arrival to the first byte of its answer, by provider.",
		Buckets: ttfbBuckets,
	}, []string{"provider"})
	m.stream = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sluice_stream_duration_seconds",
		Help:    "Duration of streamed answers, by provider.",
		Buckets: durationBuckets,
	}, []string{"provider"})
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_policy_decisions_total",
		Help: "Policy decisions by result (allow, deny, error).",
	}, []string{"result"})
	m.decisionDur = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "sluice_policy_decision_duration_seconds",
		Help:    "Time a policy decision took, cached ones included.",
		Buckets: decisionBuckets,
	})
	m.cache = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_policy_cache_lookups_total",
		Help: "Decision cache lookups by result (hit, miss).",
	}, []string{"result"})
	m.openStreams = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sluice_open_streams",
		Help: "Streamed requests being forwarded now.",
	})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_config_reloads_total",
		Help: "Configuration reloads by result (applied, unchanged, refused, failed).",
	}, []string{"result"})
	m.quotaRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_quota_rejections_total",
		Help: "Requests refused with 429 because a quota bucket could not cover them, by bucket as configured (daily:<user>, not each user's).",
	}, []string{"bucket"})
	m.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_upstream_attempts_total",
		Help: "Calls to providers by provider and outcome (ok, rate_limited, server_error, timeout, unreachable, client_closed); a request that failed over counts one per provider tried.",
	}, []string{"provider", "outcome"})
	m.failovers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_failovers_total",
		Help: "Requests moved from one provider to the next after a failure before the first byte, by provider pair.",
	}, []string{"from", "to"})
	for _, c := range []prometheus.Collector{m.requests, m.tokens, m.cost, m.duration, m.ttfb, m.stream,
		m.decisions, m.decisionDur, m.cache, m.openStreams, m.reloads, m.quotaRefused, m.attempts, m.failovers} {
		f(c)
	}
	// Series that exist from the start, so rates and ratios are defined
	// before the first event.
	m.allowed = m.decisions.WithLabelValues("allow")
	m.denied = m.decisions.WithLabelValues("deny")
	m.decisionErrors = m.decisions.WithLabelValues("error")
	m.cacheHits = m.cache.WithLabelValues("hit")
	m.cacheMisses = m.cache.WithLabelValues("miss")
	for _, r := range []string{"applied", "unchanged", "refused", "failed"} {
		m.reloads.WithLabelValues(r)
	}
	if perUser {
		m.userRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_user_requests_total",
			Help: "Requests by caller login and outcome (--metrics-per-user).",
		}, []string{"login", "outcome"})
		m.userTokens = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_user_tokens_total",
			Help: "Tokens by caller login and kind (--metrics-per-user).",
		}, []string{"login", "kind"})
		m.userCost = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_user_cost_usd_total",
			Help: "Cost in US dollars by caller login (--metrics-per-user).",
		}, []string{"login"})
		f(m.userRequests)
		f(m.userTokens)
		f(m.userCost)
	}
	f(&stateCollector{s: s})
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return m
}

// observeDecision is the engine's observer (engine.WithObserver).
func (m *metrics) observeDecision(o engine.Observation) {
	switch {
	case o.Err != nil:
		m.decisionErrors.Inc()
	case o.Allow:
		m.allowed.Inc()
	default:
		m.denied.Inc()
	}
	m.decisionDur.Observe(o.Duration.Seconds())
	switch o.Cache {
	case "":
	case "hit":
		m.cacheHits.Inc()
	case "miss":
		m.cacheMisses.Inc()
	default:
		m.cache.WithLabelValues(o.Cache).Inc()
	}
}

// request counts a finished request from its record.
func (m *metrics) request(ex *exchange, rec *store.Record) {
	provider := rec.Provider
	if provider == "" {
		provider = labelNone
	}
	model := labelNone
	switch {
	case rec.Model == "":
	case len(ex.snap.cfg.ProvidersFor(rec.Model)) > 0:
		model = rec.Model
	default:
		model = labelOther
	}
	format := rec.Format
	if format == "" {
		format = labelNone
	}
	outcome := requestOutcome(ex, rec)
	labels := [5]string{provider, model, format, statusClass(rec.Status), outcome}
	m.requestSeries.get(labels, func() prometheus.Counter { return m.requests.WithLabelValues(labels[:]...) }).Inc()
	m.durationSeries.get(provider, func() prometheus.Observer { return m.duration.WithLabelValues(provider) }).Observe(rec.Latency.Seconds())
	if ex.upstream != nil {
		if rec.TTFB > 0 {
			m.ttfbSeries.get(provider, func() prometheus.Observer { return m.ttfb.WithLabelValues(provider) }).Observe(rec.TTFB.Seconds())
		}
		if rec.Stream {
			m.streamSeries.get(provider, func() prometheus.Observer { return m.stream.WithLabelValues(provider) }).Observe(rec.Latency.Seconds())
		}
	}
	kinds := tokenKinds(rec)
	for _, k := range kinds {
		if k.n > 0 {
			labels := [3]string{provider, model, k.kind}
			m.tokenSeries.get(labels, func() prometheus.Counter { return m.tokens.WithLabelValues(labels[:]...) }).Add(float64(k.n))
		}
	}
	if rec.CostUSD > 0 {
		labels := [2]string{provider, model}
		m.costSeries.get(labels, func() prometheus.Counter { return m.cost.WithLabelValues(labels[:]...) }).Add(rec.CostUSD)
	}
	if m.userRequests == nil || rec.Login == "" {
		return
	}
	m.userRequests.WithLabelValues(rec.Login, outcome).Inc()
	for _, k := range kinds {
		if k.n > 0 {
			m.userTokens.WithLabelValues(rec.Login, k.kind).Add(float64(k.n))
		}
	}
	if rec.CostUSD > 0 {
		m.userCost.WithLabelValues(rec.Login).Add(rec.CostUSD)
	}
}

// seriesCache remembers a vector's series by their label values, which
// spares the vector's checks and hashing of the values on every request
// (a microsecond or so for the half dozen series a request updates).
// Series are never deleted from these vectors, so a remembered one stays
// the vector's; the label values, and so the cache, are bounded by the
// configuration (see metrics). Per-user series are not cached.
type seriesCache[K comparable, S any] struct {
	mu sync.Mutex
	m  map[K]S
}

// get returns the series for k, made by series the first time.
func (c *seriesCache[K, S]) get(k K, series func() S) S {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[k]
	if !ok {
		if c.m == nil {
			c.m = make(map[K]S)
		}
		s = series()
		c.m[k] = s
	}
	return s
}

type tokenKind struct {
	kind string
	n    int64
}

func tokenKinds(rec *store.Record) []tokenKind {
	u := rec.Usage
	return []tokenKind{
		{"input", u.Input.Value()},
		{"output", u.Output.Value()},
		{"cache_read", u.CacheRead.Value()},
		{"cache_write", u.CacheWrite.Value()},
		{"reasoning", u.Reasoning.Value()},
	}
}

// requestOutcome sorts a finished request into one of a few outcomes.
func requestOutcome(ex *exchange, rec *store.Record) string {
	switch {
	case rec.Error == "":
		return outcomeOK
	case rec.Status == statusClientClosed:
		return outcomeClientClosed
	case ex.decision.ID != "" && !ex.decision.Allow,
		rec.ErrorKind == string(compat.KindPermissionDenied), rec.ErrorKind == string(compat.KindGuardrailBlocked):
		return outcomeDenied
	case rec.ErrorKind == string(compat.KindUpstreamError), ex.upstream != nil:
		return outcomeUpstreamError
	}
	return outcomeError
}

// statusClass is the code label: 2xx, 4xx, …; "none" when no status was
// written.
func statusClass(status int) string {
	if status < 100 || status > 599 {
		return labelNone
	}
	return fmt.Sprintf("%dxx", status/100)
}

// countReload counts a reload's result for sluice_config_reloads_total.
func (m *metrics) countReload(result string) { m.reloads.WithLabelValues(result).Inc() }

// stateCollector reads, at scrape time, what other parts already count:
// hook deliveries, the request log writer, the kept-body budget and the
// running configuration's revision.
type stateCollector struct{ s *Server }

var (
	descHookDeliveries = prometheus.NewDesc("sluice_hook_deliveries_total", "Hook calls by hook and outcome.", []string{"hook", "outcome"}, nil)
	descHookQueue      = prometheus.NewDesc("sluice_hook_queue_length", "Hook deliveries waiting to be sent.", nil, nil)
	descLogRecords     = prometheus.NewDesc("sluice_log_records_total", "Request log records by outcome.", []string{"outcome"}, nil)
	descLogQueue       = prometheus.NewDesc("sluice_log_queue_length", "Request log records waiting to be written.", nil, nil)
	descSpoolRecords   = prometheus.NewDesc("sluice_log_spool_records", "Request log records waiting in the local spool.", nil, nil)
	descSpoolBytes     = prometheus.NewDesc("sluice_log_spool_bytes", "Size of the request log's local spool files.", nil, nil)
	descLogState       = prometheus.NewDesc("sluice_log_state", "Request log state: ok, spooling (the database lags, nothing lost) or failing (records cannot be kept).", []string{"state"}, nil)
	descKeptBytes      = prometheus.NewDesc("sluice_kept_body_bytes", "Memory running requests hold for kept bodies (--kept-body-budget).", nil, nil)
	descKeptBudget     = prometheus.NewDesc("sluice_kept_body_budget_bytes", "The limit of sluice_kept_body_bytes.", nil, nil)
	descRevision       = prometheus.NewDesc("sluice_config_revision", "The policy revision being served, as a label; the value is always 1.", []string{"revision"}, nil)
	descCacheEntries   = prometheus.NewDesc("sluice_policy_cache_entries", "Policy decisions memoized now; a reload keeps those of callers whose grants it did not change.", nil, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descHookDeliveries, descHookQueue, descLogRecords, descLogQueue,
		descSpoolRecords, descSpoolBytes, descLogState, descKeptBytes, descKeptBudget, descRevision, descCacheEntries} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for name, st := range s.hooks.Stats() {
		counter(descHookDeliveries, float64(st.Delivered), name, "delivered")
		counter(descHookDeliveries, float64(st.Retried), name, "retried")
		counter(descHookDeliveries, float64(st.Failed), name, "failed")
		counter(descHookDeliveries, float64(st.Dropped), name, "dropped")
	}
	gauge(descHookQueue, float64(s.hooks.Queued()))
	if ws, ok := s.opts.Sink.(writerStats); ok {
		st := ws.Stats()
		counter(descLogRecords, float64(st.Written), "written")
		counter(descLogRecords, float64(st.Dropped), "dropped")
		counter(descLogRecords, float64(st.Failed), "failed")
		counter(descLogRecords, float64(st.Spooled), "spooled")
		counter(descLogRecords, float64(st.Replayed), "replayed")
		counter(descLogRecords, float64(st.Lost), "lost")
		gauge(descLogQueue, float64(st.Pending))
		gauge(descSpoolRecords, float64(st.SpoolRecords))
		gauge(descSpoolBytes, float64(st.SpoolBytes))
		for _, state := range store.LogStates {
			v := 0.0
			if state == st.State {
				v = 1
			}
			gauge(descLogState, v, state.String())
		}
	}
	gauge(descKeptBytes, float64(s.kept.used.Load()))
	gauge(descKeptBudget, float64(s.kept.limit))
	if snap := s.state.Load(); snap != nil {
		gauge(descRevision, 1, snap.engine.Revision())
		gauge(descCacheEntries, float64(snap.engine.CachedDecisions()))
	}
}

// serveMetrics answers GET /metrics in the Prometheus exposition format.
// It holds counts only, never a key or a request; per-user series name
// logins, which is why they are off by default.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	s.metrics.handler.ServeHTTP(w, r)
}

// RegisterMetrics adds collectors of other parts of the gateway (the
// exporters) to the metrics /metrics serves.
func (s *Server) RegisterMetrics(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := s.metrics.reg.Register(c); err != nil {
			return err
		}
		s.metrics.collectors = append(s.metrics.collectors, c)
	}
	return nil
}

// MetricsHandler serves the metrics without asking who calls: for a
// listener only the local machine reaches (--metrics-listen).
func (s *Server) MetricsHandler() http.Handler { return s.metrics.handler }

// attempt counts one call to a provider; provider IDs come from the
// configuration, so the series stay bounded.
func (m *metrics) attempt(provider, outcome string) {
	m.attempts.WithLabelValues(provider, outcome).Inc()
}

// failover counts a request moved from one provider to another.
func (m *metrics) failover(from, to string) { m.failovers.WithLabelValues(from, to).Inc() }
