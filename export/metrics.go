package export

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the exporters' Prometheus metrics, labelled by exporter
// name (s3, http). A nil *Metrics counts nothing.
type Metrics struct {
	records      *prometheus.CounterVec
	batches      *prometheus.CounterVec
	failures     *prometheus.CounterVec
	lagRecords   *prometheus.GaugeVec
	lastCaughtUp *prometheus.GaugeVec
	standbyG     *prometheus.GaugeVec
}

// NewMetrics returns the exporters' metrics, to register with
// Collectors.
func NewMetrics() *Metrics {
	return &Metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_export_records_total",
			Help: "Request records stored at the exporter's destination (each once: a batch stored again after a crash is not counted twice).",
		}, []string{"exporter"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_export_batches_total",
			Help: "Batches (S3 objects, HTTP posts) stored and committed.",
		}, []string{"exporter"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_export_failures_total",
			Help: "Export cycles that failed (destination unreachable, refused, or the database); the next cycle retries from the cursor.",
		}, []string{"exporter"}),
		lagRecords: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_export_lag_records",
			Help: "Records numbered for export and not yet stored at the destination, as of the last cycle.",
		}, []string{"exporter"}),
		lastCaughtUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_export_last_success_timestamp_seconds",
			Help: "Unix time the exporter last stored everything pending; alert on time() minus this growing past a few cycles.",
		}, []string{"exporter"}),
		standbyG: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_export_standby",
			Help: "1 while another gateway on the same database holds the exporter's lock and this one waits to take over.",
		}, []string{"exporter"}),
	}
}

// Collectors returns the metrics to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.records, m.batches, m.failures, m.lagRecords, m.lastCaughtUp, m.standbyG}
}

func (m *Metrics) stored(name string, n int) {
	if m == nil {
		return
	}
	m.records.WithLabelValues(name).Add(float64(n))
	m.batches.WithLabelValues(name).Inc()
}

func (m *Metrics) failed(name string) {
	if m != nil {
		m.failures.WithLabelValues(name).Inc()
	}
}

func (m *Metrics) lag(name string, n int64) {
	if m != nil {
		m.lagRecords.WithLabelValues(name).Set(float64(n))
	}
}

func (m *Metrics) caughtUp(name string, t time.Time) {
	if m != nil {
		m.lagRecords.WithLabelValues(name).Set(0)
		m.lastCaughtUp.WithLabelValues(name).Set(float64(t.UnixNano()) / 1e9)
	}
}

func (m *Metrics) standby(name string, on bool) {
	if m == nil {
		return
	}
	v := 0.0
	if on {
		v = 1
	}
	m.standbyG.WithLabelValues(name).Set(v)
}
