package proxy

import (
	"context"
	"errors"

	"github.com/sluice-gateway/sluice/store"
)

// keepDurably hands rec to the durable sink and waits, at most
// DurableLogTimeout, until it is committed to the database or fsynced to
// the spool (Options.DurableLog). It reports whether it was: when not, the
// caller aborts the answer, so that no client holds a complete answer the
// log may not have. The answer's bytes may have left already; its end (the
// last chunk of a response without Content-Length, the end of a stream)
// has not, and never will.
func (ex *exchange) keepDurably(rec store.Record) bool {
	ctx, cancel := context.WithTimeout(context.Background(), ex.s.opts.DurableLogTimeout)
	defer cancel()
	err := ex.s.durable.WriteDurable(ctx, rec)
	if err == nil {
		return true
	}
	why := "the request log could not keep the record"
	if errors.Is(err, context.DeadlineExceeded) {
		why = "the request log did not keep the record in time"
	}
	ex.s.log.Error("answer aborted: "+why, "request_id", ex.id, "timeout", ex.s.opts.DurableLogTimeout, "err", err)
	return false
}
