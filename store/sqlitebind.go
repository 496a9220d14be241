package store

import (
	"errors"
	"fmt"
	"math"
	"reflect"
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
// only while the statement runs, and every value is bound again before it
// runs next), and nothing needs clearing afterwards.
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
	stmts map[string]uintptr
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
	c := &cStatements{tls: (*libc.TLS)(tls.UnsafePointer()), db: uintptr(db.Uint()), stmts: make(map[string]uintptr)}
	if c.tls == nil || c.db == 0 {
		return nil, errNoCHandle
	}
	return c, nil
}

// err is the connection's error for result code rc.
func (c *cStatements) err(rc int32) error {
	return fmt.Errorf("sqlite: %s (%d)", libc.GoString(sqlite3.Xsqlite3_errmsg(c.tls, c.db)), rc)
}

// prepare returns q's statement, preparing it on first use, once it has
// checked that it takes n values.
func (c *cStatements) prepare(q string, n int) (uintptr, error) {
	st, err := c.prepared(q)
	if err != nil {
		return 0, err
	}
	if want := int(sqlite3.Xsqlite3_bind_parameter_count(c.tls, st)); want != n {
		return 0, fmt.Errorf("sqlite: statement has %d parameters, %d values given", want, n)
	}
	return st, nil
}

// prepared returns q's statement, preparing it on first use.
func (c *cStatements) prepared(q string) (uintptr, error) {
	if st, ok := c.stmts[q]; ok {
		return st, nil
	}
	cq, err := libc.CString(q)
	if err != nil {
		return 0, err
	}
	defer libc.Xfree(c.tls, cq)
	out := c.tls.Alloc(int(unsafe.Sizeof(uintptr(0))))
	defer c.tls.Free(int(unsafe.Sizeof(uintptr(0))))
	*(*uintptr)(cMem(out)) = 0
	if rc := sqlite3.Xsqlite3_prepare_v2(c.tls, c.db, cq, -1, out, 0); rc != sqlite3.SQLITE_OK {
		return 0, c.err(rc)
	}
	st := *(*uintptr)(cMem(out))
	if st == 0 {
		return 0, fmt.Errorf("sqlite: %q holds no statement", q)
	}
	c.stmts[q] = st
	return st, nil
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
		// all its values again first.
		sqlite3.Xsqlite3_free(c.tls, c.buf)
	}
	c.buf, c.size = p, n
	return nil
}

// exec runs q with args and returns how many rows it changed.
func (c *cStatements) exec(q string, args []any) (int64, error) {
	st, err := c.prepare(q, len(args))
	if err != nil {
		return 0, err
	}
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
	return c.run(st)
}

// execValues runs q with vals, bound as exec binds their driver values
// (colValue.arg), and returns how many rows it changed.
func (c *cStatements) execValues(q string, vals []colValue) (int64, error) {
	st, err := c.prepare(q, len(vals))
	if err != nil {
		return 0, err
	}
	text := 0
	for i := range vals {
		text += len(vals[i].s)
	}
	if err := c.reserve(text); err != nil {
		return 0, err
	}
	mem := unsafe.Slice((*byte)(cMem(c.buf)), c.size)
	off := 0
	for i := range vals {
		v := &vals[i]
		idx := int32(i + 1)
		var rc int32
		switch v.kind {
		case colNull:
			rc = sqlite3.Xsqlite3_bind_null(c.tls, st, idx)
		case colText:
			copy(mem[off:], v.s)
			rc = sqlite3.Xsqlite3_bind_text(c.tls, st, idx, c.buf+uintptr(off), int32(len(v.s)), 0)
			off += len(v.s)
		case colInt:
			rc = sqlite3.Xsqlite3_bind_int64(c.tls, st, idx, v.n)
		case colBool:
			rc = sqlite3.Xsqlite3_bind_int(c.tls, st, idx, int32(v.n))
		case colFloat:
			rc = sqlite3.Xsqlite3_bind_double(c.tls, st, idx, math.Float64frombits(uint64(v.n)))
		default:
			return 0, fmt.Errorf("argument %d: no value of kind %d", i+1, v.kind)
		}
		if rc != sqlite3.SQLITE_OK {
			return 0, c.err(rc)
		}
	}
	return c.run(st)
}

// run steps st, its values bound, to its end and returns how many rows
// it changed.
func (c *cStatements) run(st uintptr) (int64, error) {
	rc := sqlite3.Xsqlite3_step(c.tls, st)
	for rc == sqlite3.SQLITE_ROW {
		rc = sqlite3.Xsqlite3_step(c.tls, st)
	}
	if rc != sqlite3.SQLITE_DONE {
		err := c.err(rc)
		sqlite3.Xsqlite3_reset(c.tls, st)
		return 0, err
	}
	n := sqlite3.Xsqlite3_changes64(c.tls, c.db)
	if rc := sqlite3.Xsqlite3_reset(c.tls, st); rc != sqlite3.SQLITE_OK {
		return 0, c.err(rc)
	}
	if c.size > keepBuffer {
		// A statement of large values (raw bodies): their copy is not
		// kept for the next one.
		sqlite3.Xsqlite3_clear_bindings(c.tls, st)
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
	for q, st := range c.stmts {
		if rc := sqlite3.Xsqlite3_finalize(c.tls, st); rc != sqlite3.SQLITE_OK {
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
