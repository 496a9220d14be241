package store

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Spool defaults.
const (
	// DefaultSpoolMaxBytes bounds the spool on disk: about two million
	// records without raw bodies, hours of a busy gateway's traffic.
	DefaultSpoolMaxBytes = 1 << 30
	// DefaultSpoolSegmentBytes is the size at which the spool starts a new
	// segment file; stored segments are deleted whole.
	DefaultSpoolSegmentBytes = 8 << 20
)

// ErrSpoolFull reports a spool at its size bound.
var ErrSpoolFull = errors.New("the spool is full")

// SpoolOptions configures a Spool. Zero values take the defaults.
type SpoolOptions struct {
	// MaxBytes bounds the spool's files (default DefaultSpoolMaxBytes);
	// an append that would pass it fails with ErrSpoolFull.
	MaxBytes int64
	// SegmentBytes is the size at which a new segment starts (default
	// DefaultSpoolSegmentBytes).
	SegmentBytes int64
	// Logger receives reports of damaged segments (default slog.Default()).
	Logger *slog.Logger
}

// SpoolDamage describes bytes of a segment that did not hold whole, valid
// records when the spool was opened; they were cut off.
type SpoolDamage struct {
	Segment string // file name
	Offset  int64  // where the valid records end
	Bytes   int64  // how many bytes were cut off
}

// Spool is a durable, append-only queue of records on local disk: where the
// Writer keeps records the database cannot take, until it can. Records are
// framed with their length and a CRC-32C checksum (see scanFrames) in
// segment files of the spool's directory, and each append is fsynced before
// it reports success. A segment is deleted only once every record in it is
// stored.
//
// One Writer reads a Spool (Peek, Ack) while any goroutine may Append.
// A spool directory is locked while open, so two gateways cannot share it.
type Spool struct {
	dir    string
	o      SpoolOptions
	unlock func()

	mu      sync.Mutex
	segs    []*segment // oldest first; the last one is appended to
	active  *os.File   // append handle of the last segment; nil until the next append opens a new one
	nextSeq uint64
	// ackOff and ackRecs say how much of segs[0] is stored.
	ackOff  int64
	ackRecs int64
	rd      *os.File // read handle of segs[0]
	rdSeq   uint64
	closed  bool

	records, bytes atomic.Int64
	damage         []SpoolDamage
}

type segment struct {
	seq     uint64
	size    int64 // bytes of header and whole frames
	records int64
}

const segmentExt = ".spool"

func (s *Spool) segPath(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", seq, segmentExt))
}

// OpenSpool opens (creating it if needed) the spool in dir. It checks every
// segment: a tail that does not hold whole, valid records (a crash during an
// append) is cut off and reported by Damage and the logger, never read.
func OpenSpool(dir string, o SpoolOptions) (*Spool, error) {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultSpoolMaxBytes
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = DefaultSpoolSegmentBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool directory: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool %s: %w", dir, err)
	}
	s := &Spool{dir: dir, o: o, unlock: unlock, nextSeq: 1, ackOff: spoolHeaderLen}
	if err := s.load(); err != nil {
		unlock()
		return nil, err
	}
	return s, nil
}

func (s *Spool) load() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("spool directory: %w", err)
	}
	var seqs []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), segmentExt)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		seq, err := strconv.ParseUint(name, 10, 64)
		if err != nil || seq == 0 {
			continue
		}
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		s.nextSeq = seq + 1
		seg, err := s.check(seq)
		if err != nil {
			return err
		}
		if seg == nil {
			continue
		}
		s.segs = append(s.segs, seg)
		s.records.Add(seg.records)
		s.bytes.Add(seg.size)
	}
	return nil
}

// check verifies one segment, cuts off a damaged tail and returns what it
// holds; nil when it held no record (the file is then removed).
func (s *Spool) check(seq uint64) (*segment, error) {
	path := s.segPath(seq)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("spool segment: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("spool segment: %w", err)
	}
	size := fi.Size()
	var head [spoolHeaderLen]byte
	if size < spoolHeaderLen {
		// Created but never given a record: a crash right after create.
		return nil, s.remove(path)
	}
	if _, err := f.ReadAt(head[:], 0); err != nil {
		return nil, fmt.Errorf("spool segment %s: %w", path, err)
	}
	if string(head[:]) != spoolMagic {
		// Not a segment this version writes: keep it for a person to
		// look at rather than delete or misread it.
		bad := path + ".unknown"
		s.report(SpoolDamage{Segment: filepath.Base(path), Bytes: size}, "spool segment has an unknown header; moved aside", slog.String("moved_to", bad))
		return nil, os.Rename(path, bad)
	}
	seg := &segment{seq: seq, size: spoolHeaderLen}
	valid, err := scanFrames(io.NewSectionReader(f, spoolHeaderLen, size-spoolHeaderLen), size-spoolHeaderLen, func([]byte, int64) error {
		seg.records++
		return nil
	})
	seg.size += valid
	switch {
	case err == nil:
	case errors.Is(err, errTorn):
		s.report(SpoolDamage{Segment: filepath.Base(path), Offset: seg.size, Bytes: size - seg.size},
			"spool segment has a torn or corrupt tail; cut off after the last whole record")
		if err := f.Truncate(seg.size); err != nil {
			return nil, fmt.Errorf("spool segment %s: cut off damaged tail: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("spool segment %s: %w", path, err)
		}
	default:
		return nil, fmt.Errorf("spool segment %s: %w", path, err)
	}
	if seg.records == 0 {
		return nil, s.remove(path)
	}
	return seg, nil
}

// errPeekFull stops a Peek's scan once it has enough records.
var errPeekFull = errors.New("peek full")

func (s *Spool) report(d SpoolDamage, msg string, attrs ...slog.Attr) {
	s.damage = append(s.damage, d)
	args := []any{slog.String("segment", d.Segment), slog.Int64("offset", d.Offset), slog.Int64("bytes_cut", d.Bytes)}
	for _, a := range attrs {
		args = append(args, a)
	}
	s.o.Logger.Error("store: "+msg, args...)
}

func (s *Spool) remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// Dir returns the spool's directory.
func (s *Spool) Dir() string { return s.dir }

// MaxBytes returns the spool's size bound.
func (s *Spool) MaxBytes() int64 { return s.o.MaxBytes }

// Damage lists the damaged segment tails OpenSpool cut off.
func (s *Spool) Damage() []SpoolDamage { return slices.Clone(s.damage) }

// Records returns how many records wait in the spool to be stored.
func (s *Spool) Records() int64 { return s.records.Load() }

// Bytes returns the size of the spool's files.
func (s *Spool) Bytes() int64 { return s.bytes.Load() }

// Append writes recs to the spool and returns once they are on disk
// (fsynced). On error none of them counts as kept: a partial write is cut
// off again, and the next append starts a new segment.
func (s *Spool) Append(recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	var buf []byte
	for i := range recs {
		var err error
		if buf, err = appendFrame(buf, &recs[i]); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("spool closed")
	}
	if s.bytes.Load()+int64(len(buf)) > s.o.MaxBytes {
		return fmt.Errorf("%w (%d of %d bytes used)", ErrSpoolFull, s.bytes.Load(), s.o.MaxBytes)
	}
	if s.active == nil || s.segs[len(s.segs)-1].size >= s.o.SegmentBytes {
		if err := s.startSegment(); err != nil {
			return err
		}
	}
	seg := s.segs[len(s.segs)-1]
	_, err := s.active.Write(buf)
	if err == nil {
		err = s.active.Sync()
	}
	if err != nil {
		// Cut the partial write off so no later frame follows garbage,
		// and start afresh in a new segment; if the cut fails, the next
		// open finds the torn tail.
		_ = s.active.Truncate(seg.size)
		s.active.Close()
		s.active = nil
		return fmt.Errorf("spool append: %w", err)
	}
	seg.size += int64(len(buf))
	seg.records += int64(len(recs))
	s.records.Add(int64(len(recs)))
	s.bytes.Add(int64(len(buf)))
	return nil
}

// startSegment closes the active segment and creates the next one, its
// header and directory entry on disk. Called with mu held.
func (s *Spool) startSegment() error {
	if s.active != nil {
		s.active.Close()
		s.active = nil
	}
	seq := s.nextSeq
	path := s.segPath(seq)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("spool segment: %w", err)
	}
	s.nextSeq++
	_, err = f.Write([]byte(spoolMagic))
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(s.dir)
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("spool segment: %w", err)
	}
	s.active = f
	s.segs = append(s.segs, &segment{seq: seq, size: spoolHeaderLen})
	s.bytes.Add(spoolHeaderLen)
	return nil
}

// spoolPos is how far a Peek read: Ack it once those records are stored.
type spoolPos struct {
	seq     uint64
	off     int64
	records int64
}

// Peek reads up to max records, and past maxBytes of them no more (but at
// least one), after those already acknowledged, oldest first, without
// removing them: records with raw bodies can be large. Records it could
// not decode are skipped and reported in undecodable; acknowledging pos
// drops them too.
func (s *Spool) Peek(max int, maxBytes int64) (recs []Record, pos spoolPos, undecodable []error, err error) {
	s.mu.Lock()
	if len(s.segs) == 0 || s.closed {
		s.mu.Unlock()
		return nil, spoolPos{}, nil, nil
	}
	seg := s.segs[0]
	pos = spoolPos{seq: seg.seq, off: s.ackOff}
	limit := seg.size
	if s.rd == nil || s.rdSeq != seg.seq {
		if s.rd != nil {
			s.rd.Close()
		}
		s.rd, err = os.Open(s.segPath(seg.seq))
		if err != nil {
			s.rd = nil
			s.mu.Unlock()
			return nil, pos, nil, fmt.Errorf("spool read: %w", err)
		}
		s.rdSeq = seg.seq
	}
	rd := s.rd
	s.mu.Unlock()

	start := pos.off
	body := io.NewSectionReader(rd, start, limit-start)
	_, err = scanFrames(body, limit-start, func(p []byte, end int64) error {
		r, derr := decodePayload(p)
		if derr != nil {
			undecodable = append(undecodable, derr)
		} else {
			recs = append(recs, r)
		}
		pos.records++
		if int(pos.records) >= max || end >= maxBytes {
			pos.off = start + end
			return errPeekFull
		}
		return nil
	})
	switch {
	case errors.Is(err, errPeekFull):
		return recs, pos, undecodable, nil
	case err != nil:
		// The segment held whole frames when written; failing now is
		// a disk error, not a torn tail.
		return nil, spoolPos{}, nil, fmt.Errorf("spool read %s: %w", filepath.Base(s.segPath(seg.seq)), err)
	}
	pos.off = limit
	return recs, pos, undecodable, nil
}

// Ack drops what a Peek returned once it is stored; a segment whose
// records are all stored is deleted.
func (s *Spool) Ack(pos spoolPos) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.segs) == 0 || s.segs[0].seq != pos.seq || pos.off < s.ackOff {
		return nil
	}
	seg := s.segs[0]
	s.ackOff = pos.off
	s.ackRecs += pos.records
	s.records.Add(-pos.records)
	if s.ackOff < seg.size {
		return nil
	}
	// Every record of the head segment is stored.
	if s.rd != nil {
		s.rd.Close()
		s.rd = nil
	}
	if len(s.segs) == 1 && s.active != nil {
		s.active.Close()
		s.active = nil
	}
	s.segs = s.segs[1:]
	s.ackOff, s.ackRecs = spoolHeaderLen, 0
	s.bytes.Add(-seg.size)
	return s.remove(s.segPath(seg.seq))
}

// Probe tells whether the spool can take records now: it is under its
// bound with room for a typical batch, and a test write reaches the disk.
func (s *Spool) Probe() error {
	const probeBytes = 64 << 10
	if used := s.bytes.Load(); used+probeBytes > s.o.MaxBytes {
		return fmt.Errorf("%w (%d of %d bytes used)", ErrSpoolFull, used, s.o.MaxBytes)
	}
	path := filepath.Join(s.dir, "probe.tmp")
	defer os.Remove(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("spool probe: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, probeBytes)); err != nil {
		return fmt.Errorf("spool probe: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("spool probe: %w", err)
	}
	return nil
}

// Close closes the spool's files and releases its directory. Records in
// it stay on disk for the next OpenSpool.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	if s.active != nil {
		err = s.active.Close()
	}
	if s.rd != nil {
		s.rd.Close()
	}
	s.unlock()
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
