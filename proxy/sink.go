package proxy

import (
	"context"

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

// DurableSink is a Sink that can also say when a record is safe:
// WriteDurable returns once the record is committed to the database or
// fsynced to the spool, or with an error when it is kept in neither.
// Options.DurableLog needs one.
type DurableSink interface {
	Sink
	WriteDurable(context.Context, store.Record) error
}

var _ DurableSink = (*store.Writer)(nil)
