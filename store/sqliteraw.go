package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
)

// rawInserts runs a SQLite store's batch inserts on one connection it
// keeps, with the full-chunk statements prepared on it and executed on
// its C handle (cStatements), or, when the driver's connection is not of
// the shape that reads, through the driver with driver values.
// database/sql would check and convert each of a chunk's several hundred
// arguments and allocate their slice on every statement: about 7% of an
// insert's CPU on the benchmark's profile.
//
// SQLite lets one writer at a time in, so keeping the inserts on one
// connection, one batch at a time, costs no parallelism.
type rawInserts struct {
	// sem is held by the Insert using conn.
	sem   chan struct{}
	conn  *sql.Conn
	stmts map[string]driver.Stmt
	// c runs the statements on the connection's C handle when the
	// driver's connection has one (see cStatements); noC is set once it
	// was found not to.
	c   *cStatements
	noC bool
	// vals holds a statement's values, numbered; kept for the next.
	vals []driver.NamedValue
}

func newRawInserts() *rawInserts {
	return &rawInserts{sem: make(chan struct{}, 1)}
}

// acquire waits for the connection, taking one from db on first use.
func (r *rawInserts) acquire(ctx context.Context, db *sql.DB) (*sql.Conn, error) {
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if r.conn == nil {
		conn, err := db.Conn(ctx)
		if err != nil {
			<-r.sem
			return nil, err
		}
		r.conn, r.stmts = conn, make(map[string]driver.Stmt)
	}
	return r.conn, nil
}

// release gives the connection back to the next Insert. After an error
// that broke it, the connection and its statements are closed, and the
// next Insert takes a new one.
func (r *rawInserts) release(err error) {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		r.closeConn()
	}
	<-r.sem
}

// exec runs q, prepared on the connection once, with args, and returns
// how many rows it changed. The caller holds the connection.
func (r *rawInserts) exec(ctx context.Context, q string, args []any) (int64, error) {
	var n int64
	err := r.conn.Raw(func(dc any) error {
		var err error
		if c := r.cHandle(dc); c != nil {
			n, err = c.exec(q, args)
			return err
		}
		n, err = r.driverExec(ctx, dc, q, args)
		return err
	})
	return n, err
}

// execValues runs q with vals as exec runs it with their driver values.
// The caller holds the connection.
func (r *rawInserts) execValues(ctx context.Context, q string, vals []colValue) (int64, error) {
	var n int64
	err := r.conn.Raw(func(dc any) error {
		var err error
		if c := r.cHandle(dc); c != nil {
			n, err = c.execValues(q, vals)
			return err
		}
		args := make([]any, len(vals))
		for i := range vals {
			args[i] = vals[i].arg()
		}
		n, err = r.driverExec(ctx, dc, q, args)
		return err
	})
	return n, err
}

// cHandle returns the statements on dc's C handle, read from dc the
// first time; nil when dc has none (the driver path then serves).
func (r *rawInserts) cHandle(dc any) *cStatements {
	if r.c == nil && !r.noC {
		c, err := newCStatements(dc)
		r.c, r.noC = c, err != nil
	}
	return r.c
}

// driverExec runs q through the driver connection dc, with the
// statement prepared on it once.
func (r *rawInserts) driverExec(ctx context.Context, dc any, q string, args []any) (int64, error) {
	// The ordinals stay from one statement to the next; only the values
	// are written.
	for i := len(r.vals); i < len(args); i++ {
		r.vals = append(r.vals, driver.NamedValue{Ordinal: i + 1})
	}
	vals := r.vals[:len(args)]
	for i, a := range args {
		// Returns a as it is when it is a driver value already (all of
		// a row's values are); converts an int.
		v, err := driver.DefaultParameterConverter.ConvertValue(a)
		if err != nil {
			return 0, fmt.Errorf("argument %d: %w", i+1, err)
		}
		vals[i].Value = v
	}
	// The values are not needed once the statement has run (SQLite has
	// copied them): they are not kept alive until the next one.
	defer func() {
		for i := range vals {
			vals[i].Value = nil
		}
	}()
	st := r.stmts[q]
	if st == nil {
		prep, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return 0, fmt.Errorf("sqlite driver connection %T cannot prepare with a context", dc)
		}
		var err error
		if st, err = prep.PrepareContext(ctx, q); err != nil {
			return 0, err
		}
		r.stmts[q] = st
	}
	ex, ok := st.(driver.StmtExecContext)
	if !ok {
		return 0, fmt.Errorf("sqlite driver statement %T cannot execute with a context", st)
	}
	res, err := ex.ExecContext(ctx, vals)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// closeConn closes the statements and gives the connection back to the
// pool.
func (r *rawInserts) closeConn() error {
	if r.conn == nil {
		return nil
	}
	err := r.conn.Raw(func(any) error {
		var err error
		if r.c != nil {
			err = r.c.close()
		}
		for _, st := range r.stmts {
			err = errors.Join(err, st.Close())
		}
		return err
	})
	err = errors.Join(err, r.conn.Close())
	r.conn, r.stmts, r.c, r.noC = nil, nil, nil, false
	return err
}

// close closes the connection once no Insert uses it.
func (r *rawInserts) close() error {
	r.sem <- struct{}{}
	defer func() { <-r.sem }()
	return r.closeConn()
}
