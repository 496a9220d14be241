package store

import (
	"math/bits"
	"runtime"
	"strconv"
	"strings"
)

// dialect is what differs between the backends' SQL. Queries are written
// once with '?' placeholders and portable SQL (window functions, CASE,
// COALESCE, ON CONFLICT); times are stored as integer microseconds since the
// epoch so date arithmetic is plain integer arithmetic on both.
type dialect struct {
	name string
	// dollar placeholders ($1, $2, ...) instead of '?'.
	dollar bool
	// distinctList aggregates the distinct values of a column into one
	// comma-separated string.
	distinctList func(col string) string
	// rowsPerInsert is how many rows one INSERT statement carries. SQLite
	// runs in-process, so one prepared single-row statement executed per
	// row beats parsing a large statement per batch; PostgreSQL saves
	// round trips with multi-row statements.
	rowsPerInsert int
	// rowsAlone, when set, replaces rowsPerInsert when the process has
	// one processor: the inserter gives way between statements only, so
	// a statement is the shortest run it can keep.
	rowsAlone int
	// insertInto begins a batch insert. On SQLite, OR FAIL: a statement
	// that fails leaves the rows it inserted before the failure, so it
	// needs no statement journal (a copy of each page it changes, which
	// only undoing the statement alone would read). The batch's
	// transaction is rolled back on any error, so nothing of a failed
	// statement stays either way.
	insertInto string
}

// rowsPerStatement is how many rows one INSERT carries now.
func (d dialect) rowsPerStatement() int {
	if d.rowsAlone > 0 && runtime.GOMAXPROCS(0) == 1 {
		return d.rowsAlone
	}
	return d.rowsPerInsert
}

// chunkRows is how many of the rest rows still to insert the next
// statement takes, at most per (rowsPerStatement), and whether that
// statement is prepared once and cached. Full chunks always are. On
// SQLite a shorter rest goes in statements of the largest power of two
// that fits (13 rows: 8, 4, 1), each prepared once too, which caches at
// most one statement per power of two below per: preparing an insert
// into the requests table, with its dozens of columns, costs more than
// running it, and a quiet gateway's batches are all shorter than a
// chunk. On PostgreSQL the rest is one statement, parsed by the server
// each time: one round trip instead of several, for a batch the COPY
// path does not take.
func (d dialect) chunkRows(rest, per int) (rows int, prepared bool) {
	switch {
	case rest >= per:
		return per, true
	case d.name == BackendSQLite:
		return 1 << (bits.Len(uint(rest)) - 1), true
	default:
		return rest, false
	}
}

var sqliteDialect = dialect{
	name:         BackendSQLite,
	distinctList: func(col string) string { return "group_concat(DISTINCT " + col + ")" },
	// Divides the Writer's batch size, so every chunk reuses one prepared
	// statement. Each statement has a cost of its own (it opened a
	// statement journal too, before insertInto): 64 rows took 6% fewer
	// instructions per row than 16 (8 rows cost a fifth more); 128 are
	// no cheaper. With two processors a statement's length holds up no
	// request (see rowsAlone).
	rowsPerInsert: 64,
	// With one processor a statement of 16 rows (about 250 µs of CPU)
	// was most of the time requests waited behind the writer; 8 rows
	// halve that wait.
	rowsAlone:  8,
	insertInto: "INSERT OR FAIL INTO ",
}

var postgresDialect = dialect{
	name:          BackendPostgres,
	dollar:        true,
	distinctList:  func(col string) string { return "string_agg(DISTINCT " + col + ", ',')" },
	rowsPerInsert: 200, // 200 × 34 columns stays under PostgreSQL's parameter limit
	insertInto:    "INSERT INTO ",
}

// rebind rewrites '?' placeholders for the dialect. The queries this package
// writes never hold '?' inside string literals.
func (d dialect) rebind(q string) string {
	if !d.dollar {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// where accumulates AND-ed conditions and their arguments.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return "1=1"
	}
	return strings.Join(w.conds, " AND ")
}
