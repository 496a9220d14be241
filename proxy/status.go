package proxy

import (
	"context"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/sluice-gateway/sluice/cluster"
)

// ReplicaLister lists the heartbeats of the replicas sharing a database
// (a *cluster.DB).
type ReplicaLister interface {
	Replicas(ctx context.Context, staleAfter time.Duration) ([]cluster.Heartbeat, error)
}

// replicasTimeout bounds the database read of GET /api/status: a status
// page must answer when the database does not.
const replicasTimeout = 2 * time.Second

// statusJSON is GET /api/status's answer: what this replica serves and,
// from the database, what every live replica reported.
type statusJSON struct {
	// Replica names this replica (--replica-name, else host:pid).
	Replica string `json:"replica"`
	// ConfigSource is "db", "file" or "default" (the embedded default).
	ConfigSource   string `json:"config_source"`
	ConfigRevision int64  `json:"config_revision"`
	ConfigHash     string `json:"config_hash"`
	// ConfigFailed is a newer stored revision this replica refused,
	// serving the last good one instead.
	ConfigFailed   *revisionFailure `json:"config_failed,omitempty"`
	PolicyRevision string           `json:"policy_revision"`
	Store          storeStatus      `json:"store"`
	OpenRequests   int              `json:"open_requests"`
	OpenStreams    int              `json:"open_streams"`
	// Replicas are the live replicas' latest heartbeats (this one's
	// included once it has reported); ReplicasError says why they could
	// not be read.
	Replicas      []cluster.Heartbeat `json:"replicas"`
	ReplicasError string              `json:"replicas_error,omitempty"`
	// Drift is true when live replicas report different configuration
	// hashes or policy revisions, or one reports a refused revision.
	Drift bool `json:"drift"`
}

type revisionFailure struct {
	Revision int64  `json:"revision"`
	Error    string `json:"error"`
}

// storeStatus is the request log's state: "ok", "spooling" (the database
// does not take records; they wait in the spool on local disk) or
// "failing" (neither takes them), with the spool's depth.
type storeStatus struct {
	State        string `json:"state"`
	Error        string `json:"error,omitempty"`
	SpoolRecords int64  `json:"spool_records"`
	SpoolBytes   int64  `json:"spool_bytes"`
	Spooled      int64  `json:"spooled"`
	Replayed     int64  `json:"replayed"`
	Lost         int64  `json:"lost"`
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) {
	snap := s.state.Load()
	out := statusJSON{
		Replica:        s.opts.Instance,
		ConfigSource:   "file",
		ConfigRevision: snap.revision,
		ConfigHash:     configHash(snap.cfg.Raw),
		PolicyRevision: snap.engine.Revision(),
		OpenRequests:   s.inflight.count(),
		OpenStreams:    gaugeValue(s.metrics.openStreams),
		Replicas:       []cluster.Heartbeat{},
	}
	switch {
	case s.opts.ConfigDB != nil:
		out.ConfigSource = "db"
	case s.opts.ConfigFile == "":
		out.ConfigSource = "default"
	}
	if n, err := s.FailedRevision(); n > 0 {
		out.ConfigFailed = &revisionFailure{Revision: n, Error: err}
	}
	out.Store.State = "ok"
	if ws, ok := s.opts.Sink.(writerStats); ok {
		st := ws.Stats()
		out.Store = storeStatus{State: st.State.String(), SpoolRecords: st.SpoolRecords, SpoolBytes: st.SpoolBytes,
			Spooled: st.Spooled, Replayed: st.Replayed, Lost: st.Lost}
	}
	if err := s.opts.Sink.Healthy(); err != nil {
		out.Store.Error = err.Error()
	}
	var lister ReplicaLister = s.opts.Replicas
	if s.opts.ConfigDB != nil {
		lister = s.opts.ConfigDB
	}
	if lister != nil {
		ctx, cancel := context.WithTimeout(r.Context(), replicasTimeout)
		reps, err := lister.Replicas(ctx, cluster.DefaultStaleAfter)
		cancel()
		if err != nil {
			out.ReplicasError = err.Error()
		} else {
			out.Replicas = reps
		}
	}
	out.Drift = drift(out.Replicas)
	writeLocalJSON(w, http.StatusOK, out)
}

// drift reports whether replicas serve different configurations or
// policies, or one refused a revision.
func drift(reps []cluster.Heartbeat) bool {
	for _, h := range reps {
		if h.FailedRevision > 0 || h.ConfigHash != reps[0].ConfigHash || h.PolicyRevision != reps[0].PolicyRevision {
			return true
		}
	}
	return false
}

// gaugeValue reads a gauge's current value.
func gaugeValue(g interface{ Write(*dto.Metric) error }) int {
	var m dto.Metric
	if err := g.Write(&m); err != nil || m.Gauge == nil {
		return 0
	}
	return int(m.Gauge.GetValue())
}

// Heartbeat is this replica's report for the other replicas: what it
// serves now.
func (s *Server) Heartbeat() cluster.Heartbeat {
	snap := s.state.Load()
	h := cluster.Heartbeat{Replica: s.opts.Instance, ConfigRevision: snap.revision,
		ConfigHash: configHash(snap.cfg.Raw), PolicyRevision: snap.engine.Revision()}
	h.FailedRevision, h.FailedError = s.FailedRevision()
	return h
}
