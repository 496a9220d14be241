package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluice-gateway/sluice/quota"
)

var _ quota.Store = (*sqlStore)(nil)

// On PostgreSQL, quota balances are changed by one UPDATE each (SQLite
// keeps them in the process, see quotamem.go): the refill since the row
// last changed, the cap at capacity, the check and the change are all in
// the statement, so concurrent requests on one replica or many serialize
// on the row and none reads a balance another is about to change.
//
// The refill is integer arithmetic on the rate as a fraction of
// nanodollars per millisecond (quota.Rate.Fraction), over the elapsed
// milliseconds bounded by quota.Bucket.FillMillis. The configuration is
// passed with every statement, so a lowered capacity caps a stored balance
// at its next change.

// quotaExprs are the SQL expressions over a quota_balances row, with
// :name parameters bound by quotaArgs.
const (
	qElapsed = `CASE WHEN :now - updated_ms <= 0 THEN 0 WHEN :now - updated_ms > :maxe THEN :maxe ELSE :now - updated_ms END`
	qStart   = `CASE WHEN balance > :cap THEN :cap ELSE balance END`
)

var (
	qRefill  = `((` + qElapsed + `) / :den) * :num + (((` + qElapsed + `) % :den) * :num) / :den`
	qCurrent = `CASE WHEN (` + qStart + `) + (` + qRefill + `) > :cap THEN :cap ELSE (` + qStart + `) + (` + qRefill + `) END`
	qUpdated = `CASE WHEN updated_ms > :now THEN updated_ms ELSE :now END`
	qTake    = `CASE WHEN (` + qCurrent + `) <= 0 THEN 0 WHEN (` + qCurrent + `) < :amount THEN (` + qCurrent + `) ELSE :amount END`

	reserveSQL = `UPDATE quota_balances SET balance = (` + qCurrent + `) - :amount, updated_ms = ` + qUpdated +
		` WHERE bucket = :bucket AND (` + qCurrent + `) >= :amount RETURNING balance`
	adjustSQL = `UPDATE quota_balances SET balance = CASE WHEN (` + qCurrent + `) + :amount > :cap THEN :cap ELSE (` + qCurrent + `) + :amount END, updated_ms = ` + qUpdated +
		` WHERE bucket = :bucket RETURNING balance`
	// takeSQL takes what the bucket has, up to :amount, never below zero.
	takeSQL = `UPDATE quota_balances SET balance = (` + qCurrent + `) - (` + qTake + `), taken = ` + qTake + `, updated_ms = ` + qUpdated +
		` WHERE bucket = :bucket RETURNING taken, balance`
	// overdrawSQL takes :amount from a bucket with a positive balance,
	// into debt if need be: the last bucket of an overdraft chain.
	overdrawSQL = `UPDATE quota_balances SET balance = (` + qCurrent + `) - :amount, taken = :amount, updated_ms = ` + qUpdated +
		` WHERE bucket = :bucket AND (` + qCurrent + `) > 0 RETURNING taken, balance`
	insertBucketSQL = `INSERT INTO quota_balances (bucket, balance, updated_ms) VALUES (?, ?, ?) ON CONFLICT (bucket) DO NOTHING`
)

// bindQuota replaces each :name in q with a typed placeholder and returns
// the arguments in order (PostgreSQL numbers each occurrence).
func (d dialect) bindQuota(q string, vals map[string]any) (string, []any) {
	var b strings.Builder
	var args []any
	for {
		i := strings.IndexByte(q, ':')
		if i < 0 {
			b.WriteString(q)
			break
		}
		b.WriteString(q[:i])
		j := i + 1
		for j < len(q) && (q[j] >= 'a' && q[j] <= 'z') {
			j++
		}
		name := q[i+1 : j]
		v, ok := vals[name]
		if !ok {
			panic("quota SQL: no value for :" + name)
		}
		if _, isText := v.(string); isText {
			b.WriteString("?")
		} else {
			b.WriteString("CAST(? AS BIGINT)")
		}
		args = append(args, v)
		q = q[j:]
	}
	return d.rebind(b.String()), args
}

func quotaVals(b *quota.Bucket, name string, amount quota.Amount, now time.Time) map[string]any {
	num, den := b.Rate.Fraction()
	return map[string]any{
		"now": now.UnixMilli(), "maxe": b.FillMillis(), "cap": int64(b.Capacity),
		"num": num, "den": den, "amount": int64(amount), "bucket": name,
	}
}

// Reserve implements quota.Store.
func (s *sqlStore) Reserve(ctx context.Context, b *quota.Bucket, name string, amount quota.Amount, now time.Time) (quota.Amount, bool, error) {
	if s.mem != nil {
		return s.mem.reserve(ctx, b, name, amount, now)
	}
	_, bal, ok, err := s.conditional(ctx, reserveSQL, b, name, amount, now, false)
	return bal, ok, err
}

// conditional runs a conditional UPDATE of one bucket (RETURNING the
// balance, and what was taken when taken is set). When it changes no row,
// either the balance does not allow it or the bucket was never charged
// (no row yet): the row is then created, full, and the statement runs once
// more, so a refusal is always decided on a stored row.
func (s *sqlStore) conditional(ctx context.Context, stmt string, b *quota.Bucket, name string, amount quota.Amount, now time.Time, taken bool) (quota.Amount, quota.Amount, bool, error) {
	q, args := s.d.bindQuota(stmt, quotaVals(b, name, amount, now))
	for attempt := 0; attempt < 2; attempt++ {
		var took, bal int64
		var err error
		if taken {
			err = s.qdb().QueryRowContext(ctx, q, args...).Scan(&took, &bal)
		} else {
			err = s.qdb().QueryRowContext(ctx, q, args...).Scan(&bal)
		}
		if err == nil {
			return quota.Amount(took), quota.Amount(bal), true, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, 0, false, fmt.Errorf("quota bucket %q: %w", name, err)
		}
		if attempt == 0 {
			if err := s.createBucket(ctx, b, name, now); err != nil {
				return 0, 0, false, err
			}
		}
	}
	bals, err := s.storedBalances(ctx, s.qdb(), []string{name})
	if err != nil {
		return 0, 0, false, err
	}
	st, ok := bals[name]
	if !ok {
		return 0, 0, false, fmt.Errorf("quota bucket %q: row vanished", name)
	}
	return 0, b.At(st, now), false, nil
}

// ReserveChain implements quota.Store in one transaction: the chain's
// rows are locked in name order (so two chains sharing buckets never
// deadlock), then each link runs its own conditional UPDATE; a chain that
// cannot cover the amount rolls back whole.
func (s *sqlStore) ReserveChain(ctx context.Context, chain []quota.Link, amount quota.Amount, now time.Time) ([]quota.Amount, quota.Amount, bool, error) {
	if s.mem != nil {
		return s.mem.reserveChain(ctx, chain, amount, now)
	}
	// Buckets never charged have no row to lock: they are created, full,
	// and the transaction runs once more.
	for attempt := 0; ; attempt++ {
		taken, last, ok, missing, err := s.reserveChainTx(ctx, chain, amount, now)
		if !missing || err != nil {
			return taken, last, ok, err
		}
		if attempt > 0 {
			return nil, 0, false, fmt.Errorf("quota chain %q: rows vanished", chain[0].Name)
		}
		for _, l := range chain {
			if err := s.createBucket(ctx, l.Bucket, l.Name, now); err != nil {
				return nil, 0, false, err
			}
		}
	}
}

// reserveChainTx is one attempt of ReserveChain; missing reports that a
// bucket of the chain has no row yet (nothing was changed).
func (s *sqlStore) reserveChainTx(ctx context.Context, chain []quota.Link, amount quota.Amount, now time.Time) (taken []quota.Amount, last quota.Amount, ok, missing bool, err error) {
	tx, err := s.qdb().BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, false, false, fmt.Errorf("quota chain: %w", err)
	}
	defer tx.Rollback()
	sorted := make([]string, len(chain))
	for i, l := range chain {
		sorted[i] = l.Name
	}
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	lock := "SELECT bucket FROM quota_balances WHERE bucket IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(sorted)), ", ") + ") ORDER BY bucket"
	if s.d.name == BackendPostgres {
		lock += " FOR UPDATE"
	}
	args := make([]any, len(sorted))
	for i, n := range sorted {
		args[i] = n
	}
	rows, err := tx.QueryContext(ctx, s.d.rebind(lock), args...)
	if err != nil {
		return nil, 0, false, false, fmt.Errorf("quota chain %q: lock: %w", chain[0].Name, err)
	}
	found := 0
	for rows.Next() {
		found++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, false, false, fmt.Errorf("quota chain %q: lock: %w", chain[0].Name, err)
	}
	if found < len(sorted) {
		return nil, 0, false, true, nil
	}
	taken = make([]quota.Amount, len(chain))
	remaining := amount
	for i, l := range chain {
		stmt, isLast := takeSQL, i == len(chain)-1
		if isLast {
			stmt = overdrawSQL
		}
		q, qargs := s.d.bindQuota(stmt, quotaVals(l.Bucket, l.Name, remaining, now))
		var took, bal int64
		err := tx.QueryRowContext(ctx, q, qargs...).Scan(&took, &bal)
		if isLast && errors.Is(err, sql.ErrNoRows) {
			// The last bucket is not positive: the chain is blocked.
			var st, ms int64
			if err := tx.QueryRowContext(ctx, s.d.rebind("SELECT balance, updated_ms FROM quota_balances WHERE bucket = ?"), l.Name).Scan(&st, &ms); err != nil {
				return nil, 0, false, false, fmt.Errorf("quota bucket %q: %w", l.Name, err)
			}
			return make([]quota.Amount, len(chain)), l.Bucket.At(quota.Balance{Amount: quota.Amount(st), Updated: time.UnixMilli(ms)}, now), false, false, nil
		}
		if err != nil {
			return nil, 0, false, false, fmt.Errorf("quota bucket %q: %w", l.Name, err)
		}
		taken[i] = quota.Amount(took)
		if remaining -= quota.Amount(took); remaining <= 0 {
			break
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, 0, false, false, fmt.Errorf("quota chain %q: %w", chain[0].Name, err)
	}
	return taken, 0, true, false, nil
}

// Adjust implements quota.Store.
func (s *sqlStore) Adjust(ctx context.Context, b *quota.Bucket, name string, delta quota.Amount, now time.Time) (quota.Amount, error) {
	if s.mem != nil {
		return s.mem.adjust(ctx, b, name, delta, now)
	}
	q, args := s.d.bindQuota(adjustSQL, quotaVals(b, name, delta, now))
	for attempt := 0; ; attempt++ {
		var bal int64
		err := s.qdb().QueryRowContext(ctx, q, args...).Scan(&bal)
		if err == nil {
			return quota.Amount(bal), nil
		}
		if !errors.Is(err, sql.ErrNoRows) || attempt > 0 {
			return 0, fmt.Errorf("adjust quota bucket %q: %w", name, err)
		}
		if err := s.createBucket(ctx, b, name, now); err != nil {
			return 0, err
		}
	}
}

// createBucket stores a bucket never charged, full. Two gateways doing it
// at once keep the first row.
func (s *sqlStore) createBucket(ctx context.Context, b *quota.Bucket, name string, now time.Time) error {
	if _, err := s.qdb().ExecContext(ctx, s.d.rebind(insertBucketSQL), name, int64(b.Capacity), now.UnixMilli()); err != nil {
		return fmt.Errorf("create quota bucket %q: %w", name, err)
	}
	return nil
}

// Balances implements quota.Store.
func (s *sqlStore) Balances(ctx context.Context, names []string) (map[string]quota.Balance, error) {
	if s.mem != nil {
		return s.mem.balances(ctx, names)
	}
	return s.storedBalances(ctx, s.qdb(), names)
}

// storedBalances reads rows of quota_balances.
func (s *sqlStore) storedBalances(ctx context.Context, db *sql.DB, names []string) (map[string]quota.Balance, error) {
	q := "SELECT bucket, balance, updated_ms FROM quota_balances"
	var args []any
	if names != nil {
		if len(names) == 0 {
			return map[string]quota.Balance{}, nil
		}
		q += " WHERE bucket IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(names)), ", ") + ")"
		for _, n := range names {
			args = append(args, n)
		}
	}
	rows, err := db.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("read quota balances: %w", err)
	}
	defer rows.Close()
	out := make(map[string]quota.Balance)
	for rows.Next() {
		var name string
		var bal, ms int64
		if err := rows.Scan(&name, &bal, &ms); err != nil {
			return nil, fmt.Errorf("read quota balances: %w", err)
		}
		out[name] = quota.Balance{Amount: quota.Amount(bal), Updated: time.UnixMilli(ms)}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read quota balances: %w", err)
	}
	return out, nil
}

// qdb is the handle quota statements run on.
func (s *sqlStore) qdb() *sql.DB {
	if s.quotaDB != nil {
		return s.quotaDB
	}
	return s.db
}
