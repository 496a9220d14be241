package store

import (
	"cmp"
	"errors"
	"log/slog"
	"time"
)

// LogState says whether the request log keeps what the gateway records.
type LogState int32

// The request log's states.
const (
	// LogOK: records go to the database.
	LogOK LogState = iota
	// LogSpooling: the spool holds records the database has not taken
	// yet; nothing is lost.
	LogSpooling
	// LogFailing: records can be kept neither in the database nor in the
	// spool; Writer.Healthy reports why.
	LogFailing
)

// LogStates lists every LogState, for metrics.
var LogStates = []LogState{LogOK, LogSpooling, LogFailing}

func (s LogState) String() string {
	switch s {
	case LogOK:
		return "ok"
	case LogSpooling:
		return "spooling"
	case LogFailing:
		return "failing"
	}
	return "unknown"
}

// LogFailure is Writer.Healthy's error: why records cannot be kept now.
// Its message is fit for a client; Err holds the detail for the log.
type LogFailure struct {
	Reason string
	Err    error
}

func (f *LogFailure) Error() string { return f.Reason }
func (f *LogFailure) Unwrap() error { return f.Err }

// Healthy reports whether the Writer can keep records now: nil, or a
// *LogFailure saying why neither the database nor the spool takes them. It
// is an atomic load, cheap enough for every request. A Writer without a
// spool is always healthy: it drops and counts instead.
func (w *Writer) Healthy() error {
	if f := w.health.Load(); f != nil {
		return f
	}
	return nil
}

func (w *Writer) setState(s LogState, f *LogFailure) {
	w.health.Store(f)
	w.state.Store(int32(s))
}

// keep stores a batch with a spool behind the database: straight into the
// database while the spool is empty, else behind the spooled records, so
// they stay in order; into the database after all when the spool cannot
// take them. What neither takes is lost, loudly, and returned. A batch
// that callers of WriteDurable wait for (hurry) gets one try at the
// database, bounded by DurableInsertTimeout, before it goes to the spool.
func (w *Writer) keep(batch []Record, hurry bool) error {
	var dbErr error
	tried := false
	if w.spool.Records() == 0 && w.ctx.Err() == nil {
		tried = true
		if hurry {
			dbErr = w.insertWithin(batch, w.o.DurableInsertTimeout)
		} else {
			dbErr = w.insertRetrying(batch)
		}
		if dbErr == nil {
			w.written.Add(int64(len(batch)))
			w.batches.Add(1)
			if LogState(w.state.Load()) != LogOK && w.spool.Records() == 0 {
				w.setState(LogOK, nil)
			}
			return nil
		}
		w.o.Logger.Warn("store: database insert failed; keeping the records in the spool until it is back",
			slog.Int("records", len(batch)), slog.Any("error", dbErr))
	}
	spErr := w.spool.Append(batch)
	if spErr == nil {
		w.spooled.Add(int64(len(batch)))
		w.markSpooling()
		if tried && w.rp.backoff == 0 {
			w.rp.backoff = w.o.RetryBackoff
		}
		return nil
	}
	if !tried && w.ctx.Err() == nil {
		if dbErr = w.insert(batch); dbErr == nil {
			// Out of order, but kept: the database takes records again.
			w.written.Add(int64(len(batch)))
			w.batches.Add(1)
			if LogState(w.state.Load()) == LogFailing {
				w.setState(LogSpooling, nil)
			}
			return nil
		}
	}
	return w.lose(batch, spErr, dbErr)
}

// markSpooling notes records in the spool. A failing log stays failing:
// the spool took these records but was full or broken a moment ago, and
// only the replay loop's probe (room for a batch, a write that reaches the
// disk) declares it usable again, so the gateway does not flap between
// refusing and serving at the spool's bound.
func (w *Writer) markSpooling() {
	if LogState(w.state.Load()) == LogOK {
		w.state.CompareAndSwap(int32(LogOK), int32(LogSpooling))
	}
}

// errQueueFull stands for the database's part when a record found the
// queue full and the spool refused it.
var errQueueFull = errors.New("the write queue is full")

// overflow keeps a record that found the queue full in the spool.
func (w *Writer) overflow(r Record) bool {
	if err := w.spool.Append([]Record{r}); err != nil {
		w.lose([]Record{r}, err, errQueueFull)
		return false
	}
	w.spooled.Add(1)
	w.markSpooling()
	select {
	case w.spoolKick <- struct{}{}:
	default:
	}
	return true
}

// lose counts and logs records neither the database nor the spool took,
// and marks the log failing. It returns the failure.
func (w *Writer) lose(recs []Record, spErr, dbErr error) error {
	w.lost.Add(int64(len(recs)))
	ids := make([]string, len(recs))
	for i := range recs {
		ids[i] = recs[i].ID
	}
	w.o.Logger.Error("store: request records LOST: neither the database nor the spool could take them",
		slog.Int("records", len(recs)), slog.Any("request_ids", ids),
		slog.Any("spool_error", spErr), slog.Any("database_error", dbErr), slog.Int64("lost_total", w.lost.Load()))
	f := spoolFailure(spErr)
	w.setState(LogFailing, f)
	return f
}

func spoolFailure(err error) *LogFailure {
	reason := "the database is unavailable and the local spool cannot be written"
	if errors.Is(err, ErrSpoolFull) {
		reason = "the database is unavailable and the local spool is at its size bound"
	}
	return &LogFailure{Reason: reason, Err: err}
}

// insertRetrying inserts a batch, retrying with doubling pauses.
func (w *Writer) insertRetrying(batch []Record) error {
	err := w.insert(batch)
	pause := w.o.RetryBackoff
	for attempt := 0; err != nil && attempt < w.o.Retries && w.ctx.Err() == nil; attempt++ {
		w.o.Logger.Warn("store: batch insert failed, retrying", slog.Int("records", len(batch)),
			slog.Int("attempt", attempt+1), slog.Any("error", err))
		select {
		case <-time.After(pause):
		case <-w.ctx.Done():
		}
		pause *= 2
		err = w.insert(batch)
	}
	return err
}

// replayer schedules the stores from the spool on the Writer's goroutine:
// at once while they succeed, with doubling pauses while they fail.
type replayer struct {
	w       *Writer
	timer   *time.Timer
	armed   bool
	backoff time.Duration
}

func newReplayer(w *Writer) *replayer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &replayer{w: w, timer: t}
}

// arm starts the timer when there is something to replay or a failure to
// probe.
func (rp *replayer) arm() {
	w := rp.w
	if rp.armed || w.spool == nil || w.ctx.Err() != nil {
		return
	}
	if w.spool.Records() == 0 && LogState(w.state.Load()) != LogFailing {
		return
	}
	rp.timer.Reset(rp.backoff)
	rp.armed = true
}

func (rp *replayer) fired() {
	rp.armed = false
	if err := rp.w.replayStep(); err != nil {
		rp.backoff = min(max(rp.backoff*2, rp.w.o.RetryBackoff), rp.w.o.ReplayMaxBackoff)
		return
	}
	rp.backoff = 0
}

// replayStep stores one batch from the spool's head, or, with nothing
// spooled while the log is failing, probes whether the spool can take
// records again.
func (w *Writer) replayStep() error {
	sp := w.spool
	if sp.Records() == 0 {
		if err := sp.Probe(); err != nil {
			w.setState(LogFailing, spoolFailure(err))
			return err
		}
		w.setState(LogOK, nil)
		return nil
	}
	recs, pos, bad, err := sp.Peek(w.o.BatchSize, replayBatchBytes)
	if err != nil {
		w.o.Logger.Error("store: reading the spool failed", slog.String("spool", sp.Dir()), slog.Any("error", err))
		return err
	}
	if len(bad) > 0 {
		w.lost.Add(int64(len(bad)))
		w.o.Logger.Error("store: spooled records could not be decoded and are LOST",
			slog.Int("records", len(bad)), slog.Any("error", bad[0]), slog.Int64("lost_total", w.lost.Load()))
	}
	if len(recs) > 0 {
		if err := w.insert(recs); err == nil {
			w.written.Add(int64(len(recs)))
			w.replayed.Add(int64(len(recs)))
			w.batches.Add(1)
		} else if w.insertEach(recs) {
			w.o.Logger.Warn("store: the database still refuses spooled records; retrying with backoff",
				slog.Int64("spooled", sp.Records()), slog.Any("error", err))
			return err
		}
	}
	if err := sp.Ack(pos); err != nil {
		w.o.Logger.Error("store: deleting a stored spool segment failed", slog.Any("error", err))
	}
	switch {
	case sp.Records() == 0:
		w.setState(LogOK, nil)
		w.o.Logger.Info("store: spool replayed; the request log is up to date", slog.Int64("replayed_total", w.replayed.Load()))
	case LogState(w.state.Load()) == LogFailing:
		if sp.Probe() == nil {
			w.setState(LogSpooling, nil)
		}
	}
	return nil
}

// replayBatchBytes bounds the spooled bytes one replay batch reads, so
// records with large raw bodies do not all sit in memory at once.
const replayBatchBytes = 32 << 20

// maxAloneFailures is how many records in a row may fail alone before
// insertEach calls it an outage rather than bad records.
const maxAloneFailures = 3

// insertEach inserts spooled records one at a time after their batch
// failed, to tell an outage from a record the database refuses. It reports
// an outage (nothing of recs is settled) when maxAloneFailures records in a
// row fail, or none is stored; otherwise a record that failed alone is
// tried once more, and if it fails again while others were stored it is
// counted as failed and logged.
func (w *Writer) insertEach(recs []Record) (outage bool) {
	var suspects []int
	stored, inRow := 0, 0
	for i := range recs {
		if err := w.insert(recs[i : i+1]); err != nil {
			if inRow++; inRow >= maxAloneFailures {
				return true
			}
			suspects = append(suspects, i)
			continue
		}
		inRow = 0
		stored++
	}
	if stored == 0 {
		return true
	}
	var failed []string
	var firstErr error
	for _, i := range suspects {
		if err := w.insert(recs[i : i+1]); err != nil {
			failed = append(failed, recs[i].ID)
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		stored++
	}
	w.written.Add(int64(stored))
	w.replayed.Add(int64(stored))
	if len(failed) > 0 {
		w.failed.Add(int64(len(failed)))
		w.o.Logger.Error("store: request records not stored: the database refuses them while it stores others",
			slog.Int("records", len(failed)), slog.Any("request_ids", failed), slog.Any("error", firstErr))
	}
	return false
}
