package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func spoolRecs(prefix string, n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{ID: fmt.Sprintf("%s%04d", prefix, i), Time: time.UnixMicro(1_700_000_000_000_000 + int64(i)).UTC(),
			Login: "alice@example.com", Model: "gpt-5", Status: 200, CostUSD: 0.25, CostKnown: true}
	}
	return recs
}

func openTestSpool(t *testing.T, dir string, o SpoolOptions) *Spool {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quietLogger()
	}
	sp, err := OpenSpool(dir, o)
	if err != nil {
		t.Fatalf("OpenSpool: %v", err)
	}
	t.Cleanup(func() { sp.Close() })
	return sp
}

// drainSpool peeks and acks until the spool is empty and returns the IDs
// in the order read.
func drainSpool(t *testing.T, sp *Spool) []string {
	t.Helper()
	var ids []string
	for range 10_000 {
		recs, pos, bad, err := sp.Peek(7, 1<<20)
		if err != nil || len(bad) > 0 {
			t.Fatalf("Peek: %v, undecodable %v", err, bad)
		}
		if pos.seq == 0 {
			return ids
		}
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
		if err := sp.Ack(pos); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
	t.Fatal("spool never drained")
	return nil
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSpoolKeepsOrderAcrossSegmentsAndRestart(t *testing.T) {
	dir := t.TempDir()
	sp := openTestSpool(t, dir, SpoolOptions{SegmentBytes: 1024})
	want := spoolRecs("r", 50)
	for i := 0; i < len(want); i += 10 {
		if err := sp.Append(want[i : i+10]); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
	if n := len(segmentFiles(t, dir)); n < 2 {
		t.Fatalf("%d segment files after 50 records with 1 KiB segments, want several", n)
	}
	sp.Close()

	sp = openTestSpool(t, dir, SpoolOptions{SegmentBytes: 1024})
	if sp.Records() != 50 || len(sp.Damage()) != 0 {
		t.Fatalf("reopened: %d records, damage %v; want 50 and none", sp.Records(), sp.Damage())
	}
	recs, _, _, err := sp.Peek(1, 1<<20)
	if err != nil || len(recs) != 1 {
		t.Fatalf("Peek: %v %v", recs, err)
	}
	if got := recs[0]; got.ID != want[0].ID || !got.Time.Equal(want[0].Time) || got.CostUSD != 0.25 || !got.CostKnown || got.Login != want[0].Login {
		t.Errorf("first record read back as %+v, want %+v", got, want[0])
	}
	ids := drainSpool(t, sp)
	if len(ids) != 50 {
		t.Fatalf("drained %d records, want 50", len(ids))
	}
	for i, id := range ids {
		if id != want[i].ID {
			t.Fatalf("record %d is %s, want %s: order not kept", i, id, want[i].ID)
		}
	}
	if sp.Records() != 0 || sp.Bytes() != 0 || len(segmentFiles(t, dir)) != 0 {
		t.Errorf("after draining: %d records, %d bytes, files %v; want the segments deleted", sp.Records(), sp.Bytes(), segmentFiles(t, dir))
	}
	// Appending after a full drain starts a new segment.
	if err := sp.Append(spoolRecs("s", 3)); err != nil || sp.Records() != 3 {
		t.Fatalf("Append after drain: %v, %d records", err, sp.Records())
	}
}

func TestSpoolPeekBoundsBytes(t *testing.T) {
	sp := openTestSpool(t, t.TempDir(), SpoolOptions{})
	big := spoolRecs("big", 4)
	for i := range big {
		big[i].RawRequest = bytes.Repeat([]byte("x"), 10_000)
	}
	if err := sp.Append(big); err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{2, 2} {
		recs, pos, _, err := sp.Peek(100, 25_000)
		if err != nil || len(recs) != want {
			t.Fatalf("Peek(100, 25000) of 13 KB records = %d records, %v; want %d", len(recs), err, want)
		}
		if err := sp.Ack(pos); err != nil {
			t.Fatal(err)
		}
	}
	if recs, _, _, _ := sp.Peek(100, 1); len(recs) != 0 || sp.Records() != 0 {
		t.Errorf("%d records left", sp.Records())
	}
	if err := sp.Append(big[:1]); err != nil {
		t.Fatal(err)
	}
	if recs, _, _, err := sp.Peek(100, 1); err != nil || len(recs) != 1 {
		t.Errorf("Peek with a bound below one record = %d records, %v; want that record", len(recs), err)
	}
}

func TestSpoolBound(t *testing.T) {
	sp := openTestSpool(t, t.TempDir(), SpoolOptions{MaxBytes: 2048})
	var err error
	for i := 0; err == nil && i < 100; i++ {
		err = sp.Append(spoolRecs(fmt.Sprint(i), 1))
	}
	if !errors.Is(err, ErrSpoolFull) {
		t.Fatalf("appending past a 2 KiB bound: %v, want ErrSpoolFull", err)
	}
	if sp.Bytes() > 2048 {
		t.Errorf("spool holds %d bytes, over its 2048-byte bound", sp.Bytes())
	}
	if err := sp.Probe(); !errors.Is(err, ErrSpoolFull) {
		t.Errorf("Probe on a full spool = %v, want ErrSpoolFull", err)
	}
}

func TestSpoolLockedWhileOpen(t *testing.T) {
	dir := t.TempDir()
	openTestSpool(t, dir, SpoolOptions{})
	if sp, err := OpenSpool(dir, SpoolOptions{Logger: quietLogger()}); err == nil {
		sp.Close()
		t.Fatal("a second OpenSpool of the same directory succeeded; two writers would interleave")
	}
}

// TestSpoolTornTail damages the last record of a segment the ways a crash
// or a bad disk can, reopens, and checks that every complete record is
// read exactly once and the damaged one is reported, never read.
func TestSpoolTornTail(t *testing.T) {
	const n = 5
	build := func(t *testing.T) (path string, lastStart int64) {
		dir := t.TempDir()
		sp := openTestSpool(t, dir, SpoolOptions{})
		if err := sp.Append(spoolRecs("r", n-1)); err != nil {
			t.Fatal(err)
		}
		lastStart = sp.Bytes()
		if err := sp.Append(spoolRecs("last", 1)); err != nil {
			t.Fatal(err)
		}
		sp.Close()
		files := segmentFiles(t, dir)
		if len(files) != 1 {
			t.Fatalf("segments %v, want one", files)
		}
		return files[0], lastStart
	}
	path0, lastStart := build(t)
	whole, err := os.ReadFile(path0)
	if err != nil {
		t.Fatal(err)
	}
	frameLen := int64(len(whole)) - lastStart

	type damage struct {
		name   string
		mutate func(b []byte) []byte
		// wantRecords is how many records survive.
		wantRecords int
	}
	var tests []damage
	// Cut at every byte of the last frame.
	for cut := int64(1); cut < frameLen; cut++ {
		tests = append(tests, damage{fmt.Sprintf("cut_%d_bytes_into_last_frame", cut), func(b []byte) []byte { return b[:lastStart+cut] }, n - 1})
	}
	tests = append(tests,
		damage{"flipped_payload_byte", func(b []byte) []byte { b[len(b)-3] ^= 0x40; return b }, n - 1},
		damage{"flipped_length_byte", func(b []byte) []byte { b[lastStart] ^= 0x01; return b }, n - 1},
		damage{"zeroed_tail", func(b []byte) []byte { clear(b[lastStart+4:]); return b }, n - 1},
		damage{"garbage_after_last_frame", func(b []byte) []byte { return append(b, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5) }, n},
		damage{"huge_length_after_last_frame", func(b []byte) []byte { return append(b, 0xff, 0xff, 0xff, 0x3f, 0, 0, 0, 0) }, n},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			damaged := tt.mutate(bytes.Clone(whole))
			path := filepath.Join(dir, filepath.Base(path0))
			if err := os.WriteFile(path, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			sp := openTestSpool(t, dir, SpoolOptions{})
			if got := sp.Records(); got != int64(tt.wantRecords) {
				t.Errorf("reopened spool holds %d records, want %d", got, tt.wantRecords)
			}
			d := sp.Damage()
			if len(d) != 1 || d[0].Bytes <= 0 {
				t.Errorf("damage = %+v, want the torn tail reported once", d)
			}
			// A record appended after recovery follows the last whole
			// one and is read back.
			if err := sp.Append(spoolRecs("after", 1)); err != nil {
				t.Fatal(err)
			}
			ids := drainSpool(t, sp)
			if len(ids) != tt.wantRecords+1 {
				t.Fatalf("read %v, want %d records then after0000", ids, tt.wantRecords)
			}
			seen := map[string]bool{}
			for i, id := range ids[:tt.wantRecords] {
				want := fmt.Sprintf("r%04d", i)
				if i == n-1 {
					want = "last0000"
				}
				if id != want || seen[id] {
					t.Fatalf("record %d = %s, want %s exactly once (all: %v)", i, id, want, ids)
				}
				seen[id] = true
			}
			if ids[len(ids)-1] != "after0000" {
				t.Errorf("last record %s, want the one appended after recovery", ids[len(ids)-1])
			}
		})
	}
}

func TestSpoolMovesUnknownSegmentAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, fmt.Sprintf("%020d%s", 7, segmentExt))
	if err := os.WriteFile(path, []byte("NOTASPOOL and some bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	sp := openTestSpool(t, dir, SpoolOptions{})
	if sp.Records() != 0 || len(sp.Damage()) != 1 {
		t.Errorf("records %d, damage %v; want the file reported and not read", sp.Records(), sp.Damage())
	}
	if _, err := os.Stat(path + ".unknown"); err != nil {
		t.Errorf("unknown segment not kept aside: %v", err)
	}
	// New segments are numbered after it.
	if err := sp.Append(spoolRecs("x", 1)); err != nil {
		t.Fatal(err)
	}
	if files := segmentFiles(t, dir); len(files) != 1 || filepath.Base(files[0]) <= filepath.Base(path) {
		t.Errorf("segments %v, want one numbered after %s", files, filepath.Base(path))
	}
}

// FuzzSpoolScan feeds arbitrary segment bodies to the frame reader: it
// must never panic, never accept more bytes than it was given, and what it
// accepts must read back the same way on its own (a torn tail is cut at a
// frame boundary, never inside a record).
func FuzzSpoolScan(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "spool", "*"))
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	var valid []byte
	for _, r := range spoolRecs("seed", 3) {
		valid, _ = appendFrame(valid, &r)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)-1])
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		var payloads [][]byte
		n, err := scanFrames(bytes.NewReader(data), int64(len(data)), func(p []byte, end int64) error {
			payloads = append(payloads, bytes.Clone(p))
			_, _ = decodePayload(p)
			return nil
		})
		if n < 0 || n > int64(len(data)) {
			t.Fatalf("valid = %d of %d bytes", n, len(data))
		}
		if (err == nil) != (n == int64(len(data))) {
			t.Fatalf("valid %d of %d bytes with error %v", n, len(data), err)
		}
		var again int
		m, err := scanFrames(bytes.NewReader(data[:n]), n, func([]byte, int64) error { again++; return nil })
		if err != nil || m != n || again != len(payloads) {
			t.Fatalf("rescan of the valid prefix: %d bytes, %d frames, %v; want %d, %d, nil", m, again, err, n, len(payloads))
		}
	})
}
