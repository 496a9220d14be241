package proxy

import (
	"github.com/sluice-gateway/sluice/store"
)

// Sink receives one record per request that reached the gateway. It must
// not block for long: store.Writer batches in the background. Write
// reports false when the record could not be kept (the sink counts and
// logs such drops itself).
//
// Healthy reports whether the sink can keep records now: nil, or why not.
// The gateway asks it at the start of every request, so it must be cheap
// (an atomic load); with database.on_log_failure "refuse" a non-nil answer
// refuses the request with 503, its message shown to the client.
type Sink interface {
	Write(store.Record) bool
	Healthy() error
}

var _ Sink = (*store.Writer)(nil)
