package store

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// bigRecord is a record holding about size bytes, most in its raw request
// body (as with database.save_raws).
func bigRecord(id string, size int) Record {
	return Record{ID: id, Login: "alice@example.com", Model: "gpt-5", Status: 200,
		RawRequest: make([]byte, size)}
}

// TestWriterQueueBytesBound: with the database stalled, the queue takes
// records only up to QueueBytes of them (the batch being stored
// included), whatever QueueSize allows; the rest are refused without a
// spool and spooled with one, and every record taken is stored once the
// database is back.
func TestWriterQueueBytesBound(t *testing.T) {
	const bound = 64 << 10
	tests := []struct {
		name  string
		spool bool
		size  int // of each record's raw body
	}{
		{"4 KB records, no spool", false, 4 << 10},
		{"4 KB records, spool", true, 4 << 10},
		{"30 KB records, no spool", false, 30 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeInserter{gate: make(chan struct{})}
			o := WriterOptions{BatchSize: 1000, FlushInterval: time.Hour, QueueSize: 1000, QueueBytes: bound,
				BlockTimeout: time.Millisecond, Logger: quietLogger()}
			if tt.spool {
				o = spoolWriterOptions(openTestSpool(t, t.TempDir(), SpoolOptions{}))
				o.BatchSize, o.FlushInterval, o.QueueSize, o.QueueBytes = 1000, time.Hour, 1000, bound
			}
			w := NewWriter(f, o)
			probe := bigRecord("r000", tt.size)
			size := probe.memSize()
			const n = 60
			taken := 0
			for i := range n {
				if w.Write(bigRecord(fmt.Sprintf("r%03d", i), tt.size)) {
					taken++
				}
				if s := w.Stats(); s.PendingBytes > bound {
					t.Fatalf("after %d writes: %d bytes queued, over the bound of %d", i+1, s.PendingBytes, bound)
				}
			}
			s := w.Stats()
			wantQueued := int64(bound / size)
			if tt.spool {
				if taken != n || s.Spooled != n-wantQueued || s.Dropped != 0 || s.Lost != 0 {
					t.Errorf("%d of %d taken, stats %+v; want all taken, %d spooled past the byte bound", taken, n, s, n-wantQueued)
				}
			} else if int64(taken) != wantQueued || s.Dropped != n-wantQueued {
				t.Errorf("%d of %d taken (%d dropped) of %d bytes each; want %d under the %d-byte bound",
					taken, n, s.Dropped, size, wantQueued, bound)
			}
			close(f.gate)
			if tt.spool {
				waitDrained(t, w, 20*time.Second)
			}
			closeWriter(t, w)
			if rows, _ := f.stored(); rows != taken {
				t.Errorf("%d rows stored, want the %d taken", rows, taken)
			}
			if s := w.Stats(); s.PendingBytes != 0 {
				t.Errorf("%d bytes still counted as queued after Close", s.PendingBytes)
			}
		})
	}
}

// TestWriterTakesRecordLargerThanQueueBytes: a record over the byte bound
// is still stored when nothing else waits, rather than never fitting.
func TestWriterTakesRecordLargerThanQueueBytes(t *testing.T) {
	f := &fakeInserter{}
	w := NewWriter(f, WriterOptions{QueueBytes: 1 << 10, BlockTimeout: time.Second, Logger: quietLogger()})
	for i := range 3 {
		if !w.Write(bigRecord(fmt.Sprint(i), 10<<10)) {
			t.Fatalf("record %d of 10 KB refused by a queue bounded at 1 KB, with the Writer storing", i)
		}
	}
	closeWriter(t, w)
	if rows, _ := f.stored(); rows != 3 {
		t.Errorf("%d rows stored, want 3", rows)
	}
}

// TestWriterQueueBytesIsTheHeap: with the database stalled, what the
// queue holds on the heap stays under QueueBytes: memSize counts what a
// record keeps alive (were it to miss a field a request fills, the queue
// would hold more than its bound). Records like the gateway's: strings
// in every text field, attempts, grants and a decision input.
func TestWriterQueueBytesIsTheHeap(t *testing.T) {
	const bound = 1 << 20
	f := &fakeInserter{gate: make(chan struct{})}
	w := NewWriter(f, WriterOptions{QueueBytes: bound, BlockTimeout: time.Microsecond, Logger: quietLogger()})
	// The Writer's own channel and batch array (1 MB at the defaults) are
	// not the records': they are there from the start.
	w.Flush(t.Context())
	base := heapInUse()
	agent := strings.Repeat("a", 150)
	for i := range 4000 { // about 5 MB of records
		s := fmt.Sprint(i)
		r := Record{ID: "req-" + s, Time: time.Now(), Login: "user" + s + "@example.com", NodeID: "n" + s, NodeName: "laptop-" + s,
			Tailnet: "example.com" + s, Provider: "openai" + s, Model: "gpt-5" + s, Format: "openai_chat" + s, Method: "POST" + s,
			Path: "/v1/chat/completions" + s, UserAgent: agent + s, Revision: "rev-" + s, SessionID: "session-" + s, Instance: "gw-" + s,
			Status: 200, Error: "error " + s, ErrorKind: "upstream_error" + s,
			Attempts: []Attempt{{Provider: "openai" + s, Status: 500, Outcome: "server_error" + s, Error: "boom " + s}, {Provider: "b" + s, Status: 200, Outcome: "ok" + s}},
			Grants:   []string{"grants[0].app[" + s + "]", "temp_grants[1].grants[" + s + "]"},
			Decision: &DecisionInput{Tags: []string{"tag:" + s}, Groups: []string{"group:" + s}, Caps: nil, Allow: true}}
		w.Write(r)
	}
	held := heapInUse() - base
	s := w.Stats()
	t.Logf("queue: %d records, %d bytes estimated, %d bytes of heap", s.Queued, s.PendingBytes, held)
	if s.PendingBytes > bound {
		t.Errorf("%d bytes queued, over the bound of %d", s.PendingBytes, bound)
	}
	if held > bound {
		t.Errorf("the stalled queue holds %d bytes of heap, over its %d-byte bound: memSize counts less than a record holds", held, bound)
	}
	close(f.gate)
	closeWriter(t, w)
}
