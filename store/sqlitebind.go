package store

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// cStatements runs a SQLite store's batch inserts on the C handle of the
// driver connection rawInserts keeps, binding values itself. The driver
// binds a statement's values one by one: for each, it looks the
// parameter's name up, allocates a C copy of a string and frees it after
// the statement, and clears the binding; for a batch's 2,368 values per
// statement that was about a fifth of an insert's instructions. Here a
// statement's strings are copied into one C buffer kept for the next
// statement and bound in place (SQLite's SQLITE_STATIC: SQLite reads them
// only while the statement runs, and a value bound in place is bound
// again before it runs next), and nothing needs clearing afterwards.
// execValues also leaves alone the parameters that hold their value from
// the last run.
//
// The values stored are those the driver would store: strings as text
// (its length given, so a NUL byte inside stays), []byte as a blob (nil
// as NULL), int and int64 as integers, bool as 0 or 1, float64 as a real,
// nil as NULL (FuzzCStatements compares the two paths).
//
// It is used only inside conn.Raw, which holds the connection, and with
// the connection's own thread state, as the driver's calls are.
type cStatements struct {
	tls   *libc.TLS
	db    uintptr
	stmts map[string]*cStmt
	// buf holds the current statement's strings; size is its capacity.
	buf  uintptr
	size int
}

// errNoCHandle reports a driver connection that is not the SQLite
// driver's as this package knows it: the inserts then bind through the
// driver.
var errNoCHandle = errors.New("not a SQLite driver connection with a C handle")

// newCStatements reads the C handle and thread state of dc, the SQLite
// driver's connection, from its fields "db" (a uintptr) and "tls" (a
// *libc.TLS); a connection of another shape is refused with errNoCHandle.
func newCStatements(dc any) (*cStatements, error) {
	v := reflect.ValueOf(dc)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil, errNoCHandle
	}
	s := v.Elem()
	db, tls := s.FieldByName("db"), s.FieldByName("tls")
	if !db.IsValid() || db.Kind() != reflect.Uintptr || !tls.IsValid() || tls.Type() != reflect.TypeFor[*libc.TLS]() {
		return nil, errNoCHandle
	}
	c := &cStatements{tls: (*libc.TLS)(tls.UnsafePointer()), db: uintptr(db.Uint()), stmts: make(map[string]*cStmt)}
	if c.tls == nil || c.db == 0 {
		return nil, errNoCHandle
	}
	return c, nil
}

// err is the connection's error for result code rc.
func (c *cStatements) err(rc int32) error {
	return fmt.Errorf("sqlite: %s (%d)", libc.GoString(sqlite3.Xsqlite3_errmsg(c.tls, c.db)), rc)
}

// cStmt is a prepared statement and what execValues knows its
// parameters hold.
type cStmt struct {
	st uintptr
	// bound[i], when its ok is set, is the value parameter i+1 holds
	// (see execValues); nil when nothing is known.
	bound []boundValue
}

// boundValue is the value a parameter holds: SQLite keeps a statement's
// bindings from one run to the next, until they are bound again or
// cleared.
type boundValue struct {
	colValue
	ok bool
	// owned is set for text bound as SQLite's own copy
	// (SQLITE_TRANSIENT), which stays valid while it is bound; text
	// bound in place points into the values buffer, which the next run
	// overwrites.
	owned bool
}

// forget drops what execValues knows of cs's parameters: after an
// error, or bindings written by exec.
func (cs *cStmt) forget() {
	cs.bound = nil
}

// prepare returns q's statement, preparing it on first use, once it has
// checked that it takes n values.
func (c *cStatements) prepare(q string, n int) (*cStmt, error) {
	cs, err := c.prepared(q)
	if err != nil {
		return nil, err
	}
	if want := int(sqlite3.Xsqlite3_bind_parameter_count(c.tls, cs.st)); want != n {
		return nil, fmt.Errorf("sqlite: statement has %d parameters, %d values given", want, n)
	}
	return cs, nil
}

// prepared returns q's statement, preparing it on first use.
func (c *cStatements) prepared(q string) (*cStmt, error) {
	if cs, ok := c.stmts[q]; ok {
		return cs, nil
	}
	cq, err := libc.CString(q)
	if err != nil {
		return nil, err
	}
	defer libc.Xfree(c.tls, cq)
	out := c.tls.Alloc(int(unsafe.Sizeof(uintptr(0))))
	defer c.tls.Free(int(unsafe.Sizeof(uintptr(0))))
	*(*uintptr)(cMem(out)) = 0
	if rc := sqlite3.Xsqlite3_prepare_v2(c.tls, c.db, cq, -1, out, 0); rc != sqlite3.SQLITE_OK {
		return nil, c.err(rc)
	}
	st := *(*uintptr)(cMem(out))
	if st == 0 {
		return nil, fmt.Errorf("sqlite: %q holds no statement", q)
	}
	cs := &cStmt{st: st}
	c.stmts[q] = cs
	return cs, nil
}

// cMem is the address of C memory: memory the SQLite library allocated
// outside the Go heap, which the garbage collector neither moves nor
// frees, given as the uintptr the library deals in.
func cMem(p uintptr) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(&p))
}

// reserve makes buf hold at least n bytes (and never 0, so an empty
// string is bound as text, not NULL).
func (c *cStatements) reserve(n int) error {
	if n > math.MaxInt32 {
		return fmt.Errorf("sqlite: a statement's values hold %d bytes", n)
	}
	n = max(n, 64)
	if n <= c.size {
		return nil
	}
	n = max(n, 2*c.size)
	p := sqlite3.Xsqlite3_malloc64(c.tls, uint64(n))
	if p == 0 {
		return fmt.Errorf("sqlite: cannot allocate %d bytes for a statement's values", n)
	}
	if c.buf != 0 {
		// No statement runs with the old buffer's bindings: each binds
		// the values it bound in place again first.
		sqlite3.Xsqlite3_free(c.tls, c.buf)
	}
	c.buf, c.size = p, n
	return nil
}

// exec runs q with args and returns how many rows it changed.
func (c *cStatements) exec(q string, args []any) (int64, error) {
	cs, err := c.prepare(q, len(args))
	if err != nil {
		return 0, err
	}
	cs.forget()
	st := cs.st
	text := 0
	for _, a := range args {
		switch v := a.(type) {
		case string:
			text += len(v)
		case []byte:
			text += len(v)
		}
	}
	if err := c.reserve(text); err != nil {
		return 0, err
	}
	mem := unsafe.Slice((*byte)(cMem(c.buf)), c.size)
	off := 0
	for i, a := range args {
		idx := int32(i + 1)
		var rc int32
		switch v := a.(type) {
		case nil:
			rc = sqlite3.Xsqlite3_bind_null(c.tls, st, idx)
		case string:
			copy(mem[off:], v)
			rc = sqlite3.Xsqlite3_bind_text(c.tls, st, idx, c.buf+uintptr(off), int32(len(v)), 0)
			off += len(v)
		case []byte:
			if v == nil {
				rc = sqlite3.Xsqlite3_bind_null(c.tls, st, idx)
				break
			}
			copy(mem[off:], v)
			rc = sqlite3.Xsqlite3_bind_blob(c.tls, st, idx, c.buf+uintptr(off), int32(len(v)), 0)
			off += len(v)
		case int64:
			rc = sqlite3.Xsqlite3_bind_int64(c.tls, st, idx, v)
		case int:
			rc = sqlite3.Xsqlite3_bind_int64(c.tls, st, idx, int64(v))
		case bool:
			var b int32
			if v {
				b = 1
			}
			rc = sqlite3.Xsqlite3_bind_int(c.tls, st, idx, b)
		case float64:
			rc = sqlite3.Xsqlite3_bind_double(c.tls, st, idx, v)
		default:
			return 0, fmt.Errorf("argument %d: cannot bind a %T", i+1, a)
		}
		if rc != sqlite3.SQLITE_OK {
			return 0, c.err(rc)
		}
	}
	return c.run(cs)
}

// execValues runs q with vals, bound as exec binds their driver values
// (colValue.arg), and returns how many rows it changed.
//
// A parameter that holds its value already from the statement's last run
// is not bound again: SQLite keeps bindings across runs, and binding a
// value costs a few hundred instructions, a large part of a row's insert.
// Most of a row's columns hold the same value from one batch to the
// next (their default, the node, the method, ...). Text is bound in
// place in the values buffer while it changes; once a parameter's text
// is the same in two runs in a row it is bound as SQLite's own copy, kept
// while it stays the same. Text longer than maxTrackedText is bound every
// time, so what is kept to compare with stays small.
func (c *cStatements) execValues(q string, vals []colValue) (int64, error) {
	cs, err := c.prepare(q, len(vals))
	if err != nil {
		return 0, err
	}
	if len(cs.bound) != len(vals) {
		cs.bound = make([]boundValue, len(vals))
	}
	text := 0
	for i := range vals {
		text += len(vals[i].s)
	}
	if err := c.reserve(text); err != nil {
		cs.forget()
		return 0, err
	}
	mem := unsafe.Slice((*byte)(cMem(c.buf)), c.size)
	off := 0
	st := cs.st
	for i := range vals {
		v := &vals[i]
		b := &cs.bound[i]
		// transient is set when v is text the parameter held in the
		// last run too, bound in place then.
		transient := false
		if b.ok && b.kind == v.kind {
			if v.kind != colText {
				if b.n == v.n {
					continue
				}
			} else if b.s == v.s {
				if b.owned {
					continue
				}
				transient = true
			}
		}
		idx := int32(i + 1)
		var rc int32
		switch v.kind {
		case colNull:
			rc = sqlite3.Xsqlite3_bind_null(c.tls, st, idx)
		case colText:
			copy(mem[off:], v.s)
			var del uintptr // SQLITE_STATIC
			if transient {
				del = sqliteTransient
			}
			rc = sqlite3.Xsqlite3_bind_text(c.tls, st, idx, c.buf+uintptr(off), int32(len(v.s)), del)
			off += len(v.s)
		case colInt:
			rc = sqlite3.Xsqlite3_bind_int64(c.tls, st, idx, v.n)
		case colBool:
			rc = sqlite3.Xsqlite3_bind_int(c.tls, st, idx, int32(v.n))
		case colFloat:
			rc = sqlite3.Xsqlite3_bind_double(c.tls, st, idx, math.Float64frombits(uint64(v.n)))
		default:
			cs.forget()
			return 0, fmt.Errorf("argument %d: no value of kind %d", i+1, v.kind)
		}
		if rc != sqlite3.SQLITE_OK {
			cs.forget()
			return 0, c.err(rc)
		}
		switch {
		case v.kind != colText:
			*b = boundValue{colValue: colValue{kind: v.kind, n: v.n}, ok: true}
		case transient:
			// Kept while the parameter holds it: a copy, so it holds
			// on to no larger string v.s may be part of.
			*b = boundValue{colValue: colValue{kind: colText, s: strings.Clone(v.s)}, ok: true, owned: true}
		case len(v.s) <= maxTrackedText:
			*b = boundValue{colValue: colValue{kind: colText, s: v.s}, ok: true}
		default:
			*b = boundValue{}
		}
	}
	return c.run(cs)
}

// sqliteTransient is SQLITE_TRANSIENT, the destructor argument that has
// SQLite bind its own copy of a value.
const sqliteTransient = ^uintptr(0)

// maxTrackedText is the longest text execValues compares with what a
// parameter holds; longer text is bound every time.
const maxTrackedText = 256

// run steps cs, its values bound, to its end and returns how many rows
// it changed.
func (c *cStatements) run(cs *cStmt) (int64, error) {
	st := cs.st
	rc := sqlite3.Xsqlite3_step(c.tls, st)
	for rc == sqlite3.SQLITE_ROW {
		rc = sqlite3.Xsqlite3_step(c.tls, st)
	}
	if rc != sqlite3.SQLITE_DONE {
		err := c.err(rc)
		sqlite3.Xsqlite3_reset(c.tls, st)
		cs.forget()
		return 0, err
	}
	n := sqlite3.Xsqlite3_changes64(c.tls, c.db)
	if rc := sqlite3.Xsqlite3_reset(c.tls, st); rc != sqlite3.SQLITE_OK {
		cs.forget()
		return 0, c.err(rc)
	}
	if c.size > keepBuffer {
		// A statement of large values (raw bodies): their copy is not
		// kept for the next one.
		sqlite3.Xsqlite3_clear_bindings(c.tls, st)
		cs.forget()
		sqlite3.Xsqlite3_free(c.tls, c.buf)
		c.buf, c.size = 0, 0
	}
	return n, nil
}

// keepBuffer is the largest values buffer kept from one statement to the
// next: a chunk of 64 rows is some 20 KB of text, a chunk of raw bodies
// can be megabytes.
const keepBuffer = 256 << 10

// close finalizes the statements and frees the buffer, while the
// connection is still open.
func (c *cStatements) close() error {
	var err error
	for q, cs := range c.stmts {
		if rc := sqlite3.Xsqlite3_finalize(c.tls, cs.st); rc != sqlite3.SQLITE_OK {
			err = errors.Join(err, c.err(rc))
		}
		delete(c.stmts, q)
	}
	if c.buf != 0 {
		sqlite3.Xsqlite3_free(c.tls, c.buf)
		c.buf, c.size = 0, 0
	}
	return err
}
