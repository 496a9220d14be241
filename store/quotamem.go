package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/sluice-gateway/sluice/quota"
)

// On SQLite, quota balances are kept in the process: a SQLite database
// serves one gateway, and a SQL write per reservation and per settlement
// would cost each request hundreds of microseconds behind SQLite's single
// writer. The process holds every balance in memory under one mutex
// (reservations, chains and settlements are each one critical section),
// loads them from quota_balances when first asked, and writes changed
// balances back in one transaction every QuotaFlushInterval and when the
// store closes. A lock file next to the database keeps a second process
// from keeping its own balances for the same file.
//
// The crash window: a process killed without closing its store loses at
// most the balance changes of the last QuotaFlushInterval (those requests
// are then not charged); a clean stop loses nothing.

// QuotaFlushInterval is how often a SQLite store writes changed quota
// balances back to its database.
const QuotaFlushInterval = 100 * time.Millisecond

// ErrQuotaLocked reports a SQLite database whose quota balances another
// sluice process keeps.
var ErrQuotaLocked = errors.New("quota balances of this SQLite database are kept by another sluice process (several gateways must share a PostgreSQL database)")

var errQuotaClosed = errors.New("quota balances: the store is closed")

// memQuotas holds the balances of one SQLite database file. Stores of the
// same file opened in one process share it (see ledgers).
type memQuotas struct {
	path string

	mu      sync.Mutex
	dbs     []*sql.DB // of the stores sharing it; the first one writes
	loaded  bool
	closed  bool // the last store closed: changes would be lost
	bal     map[string]quota.Balance
	dirty   map[string]bool
	unlock  func()
	stop    chan struct{}
	stopped chan struct{}
	// flushErr is the failure of the last write-back, returned by Close.
	flushErr error
	// flushMu serializes write-backs.
	flushMu sync.Mutex
}

// ledgers are the in-memory balances by database file, shared by the
// stores of one process that open the same file: two ledgers of one file
// would each believe they hold all of it.
var ledgers = struct {
	sync.Mutex
	m map[string]*memQuotas
}{m: map[string]*memQuotas{}}

// attachLedger returns the ledger of the SQLite file at path for a store
// using db.
func attachLedger(path string, db *sql.DB) *memQuotas {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	ledgers.Lock()
	defer ledgers.Unlock()
	m := ledgers.m[path]
	if m == nil {
		m = &memQuotas{path: path, bal: map[string]quota.Balance{}, dirty: map[string]bool{}}
		ledgers.m[path] = m
	}
	m.mu.Lock()
	m.dbs = append(m.dbs, db)
	m.mu.Unlock()
	return m
}

// detach is called by a store's Close before its db closes: the last
// store writes every change back and releases the file; otherwise, when
// db was the one writing, changes are written with it first.
func (m *memQuotas) detach(db *sql.DB) error {
	ledgers.Lock()
	defer ledgers.Unlock()
	m.mu.Lock()
	writer := len(m.dbs) > 0 && m.dbs[0] == db
	m.dbs = slices.DeleteFunc(m.dbs, func(d *sql.DB) bool { return d == db })
	last := len(m.dbs) == 0
	loaded := m.loaded
	stop, stopped := m.stop, m.stopped
	m.mu.Unlock()
	if last && loaded {
		close(stop)
		<-stopped
	}
	var err error
	if writer && loaded {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = m.flush(ctx, db)
		cancel()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if last {
		m.closed = true
		err = errors.Join(err, m.flushErr)
		if m.unlock != nil {
			m.unlock()
		}
		delete(ledgers.m, m.path)
	}
	return err
}

// ready loads the balances on first use and takes the database's quota
// lock; the caller holds m.mu.
func (m *memQuotas) ready(ctx context.Context) error {
	if m.closed {
		return errQuotaClosed
	}
	if m.loaded {
		return nil
	}
	unlock, err := lockFile(m.path + "-quotas.lock")
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrQuotaLocked, m.path, err)
	}
	rows, err := m.dbs[0].QueryContext(ctx, "SELECT bucket, balance, updated_ms FROM quota_balances")
	if err != nil {
		unlock()
		return fmt.Errorf("read quota balances: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var bal, ms int64
		if err := rows.Scan(&name, &bal, &ms); err != nil {
			unlock()
			return fmt.Errorf("read quota balances: %w", err)
		}
		m.bal[name] = quota.Balance{Amount: quota.Amount(bal), Updated: time.UnixMilli(ms)}
	}
	if err := rows.Err(); err != nil {
		unlock()
		return fmt.Errorf("read quota balances: %w", err)
	}
	m.loaded, m.unlock = true, unlock
	m.stop, m.stopped = make(chan struct{}), make(chan struct{})
	go m.flushLoop(m.stop, m.stopped)
	return nil
}

func (m *memQuotas) flushLoop(stop, stopped chan struct{}) {
	defer close(stopped)
	t := time.NewTicker(QuotaFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			m.mu.Lock()
			if len(m.dbs) == 0 { // the last store is closing
				m.mu.Unlock()
				continue
			}
			db := m.dbs[0]
			m.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := m.flush(ctx, db)
			cancel()
			m.mu.Lock()
			m.flushErr = err
			m.mu.Unlock()
		}
	}
}

// flush writes the balances changed since the last flush in one
// transaction. A failed write marks them changed again, so the next flush
// retries them.
func (m *memQuotas) flush(ctx context.Context, db *sql.DB) error {
	m.flushMu.Lock()
	defer m.flushMu.Unlock()
	m.mu.Lock()
	if len(m.dirty) == 0 {
		m.mu.Unlock()
		return nil
	}
	names := make([]string, 0, len(m.dirty))
	vals := make([]quota.Balance, 0, len(m.dirty))
	for n := range m.dirty {
		names = append(names, n)
		vals = append(vals, m.bal[n])
	}
	clear(m.dirty)
	m.mu.Unlock()
	err := m.write(ctx, db, names, vals)
	if err != nil {
		m.mu.Lock()
		for _, n := range names {
			m.dirty[n] = true
		}
		m.mu.Unlock()
	}
	return err
}

const upsertBalanceSQL = `INSERT INTO quota_balances (bucket, balance, updated_ms) VALUES (?, ?, ?)
	ON CONFLICT (bucket) DO UPDATE SET balance = excluded.balance, updated_ms = excluded.updated_ms`

func (m *memQuotas) write(ctx context.Context, db *sql.DB, names []string, vals []quota.Balance) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("write quota balances: %w", err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, upsertBalanceSQL)
	if err != nil {
		return fmt.Errorf("write quota balances: %w", err)
	}
	defer st.Close()
	for i, n := range names {
		if _, err := st.ExecContext(ctx, n, int64(vals[i].Amount), vals[i].Updated.UnixMilli()); err != nil {
			return fmt.Errorf("write quota balance %q: %w", n, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("write quota balances: %w", err)
	}
	return nil
}

// get is the stored state of name; a bucket never charged starts full,
// as of now. The caller holds m.mu.
func (m *memQuotas) get(b *quota.Bucket, name string, now time.Time) quota.Balance {
	if s, ok := m.bal[name]; ok {
		return s
	}
	return quota.Balance{Amount: b.Capacity, Updated: now}
}

func (m *memQuotas) set(name string, s quota.Balance) {
	m.bal[name] = s
	m.dirty[name] = true
}

// millis truncates now as the table stores it, so a balance read back
// after a restart refills exactly as the one in memory did.
func millis(now time.Time) time.Time { return time.UnixMilli(now.UnixMilli()) }

func (m *memQuotas) reserve(ctx context.Context, b *quota.Bucket, name string, amount quota.Amount, now time.Time) (quota.Amount, bool, error) {
	now = millis(now)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ready(ctx); err != nil {
		return 0, false, err
	}
	cur := m.get(b, name, now)
	next, ok := b.Reserve(cur, amount, now)
	if !ok {
		if _, stored := m.bal[name]; !stored {
			m.set(name, cur)
		}
		return b.At(cur, now), false, nil
	}
	m.set(name, next)
	return next.Amount, true, nil
}

func (m *memQuotas) reserveChain(ctx context.Context, chain []quota.Link, amount quota.Amount, now time.Time) ([]quota.Amount, quota.Amount, bool, error) {
	now = millis(now)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ready(ctx); err != nil {
		return nil, 0, false, err
	}
	bals := make([]quota.Balance, len(chain))
	for i, l := range chain {
		bals[i] = m.get(l.Bucket, l.Name, now)
	}
	out, taken, last, ok := quota.ReserveChain(chain, bals, amount, now)
	for i, l := range chain {
		// Every bucket of the chain is stored from now on, as in SQL.
		if _, stored := m.bal[l.Name]; !stored || (ok && out[i] != bals[i]) {
			m.set(l.Name, out[i])
		}
	}
	return taken, last, ok, nil
}

func (m *memQuotas) adjust(ctx context.Context, b *quota.Bucket, name string, delta quota.Amount, now time.Time) (quota.Amount, error) {
	now = millis(now)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ready(ctx); err != nil {
		return 0, err
	}
	next := b.Adjust(m.get(b, name, now), delta, now)
	m.set(name, next)
	return next.Amount, nil
}

func (m *memQuotas) balances(ctx context.Context, names []string) (map[string]quota.Balance, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ready(ctx); err != nil {
		return nil, err
	}
	out := make(map[string]quota.Balance, len(names))
	if names == nil {
		for n, s := range m.bal {
			out[n] = s
		}
		return out, nil
	}
	for _, n := range names {
		if s, ok := m.bal[n]; ok {
			out[n] = s
		}
	}
	return out, nil
}
