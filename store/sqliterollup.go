package store

import (
	"cmp"
	"context"
	"database/sql"
	"math"
	"slices"
	"strings"
	"sync"
)

// rollupKey is one row of a usage rollup table: what its primary key
// holds.
type rollupKey struct {
	at                            int64 // start of the hour or day
	login, model, provider, agent string
	status, failed                int
}

// rollupSum is what a rollup row adds up.
type rollupSum struct {
	requests, input, output, cacheRead, cacheWrite, reasoning, unknownCost int64
	cost                                                                   float64
}

// addRollups adds the rows of a SQLite batch, all of them just inserted,
// to the hourly and daily usage rollups: one upserted row per hour (or
// day) and key, up to rollupRowsPerStatement of them per statement, with
// statements prepared once, where a trigger ran two per row. The sums are those the PostgreSQL
// triggers compute over a statement's rows, from the values the row
// columns hold.
func addRollups(ctx context.Context, in *inserter, rows []Record) error {
	// Each row's key, cleaned as its columns are, once for both tables.
	base := make([]rollupKey, len(rows))
	for i := range rows {
		r := &rows[i]
		k := rollupKey{
			at:    r.Time.UnixMicro(),
			login: cleanText(r.Login, maxShortText), model: cleanText(r.Model, maxShortText),
			provider: cleanText(r.Provider, maxShortText), agent: cleanText(r.UserAgent, maxShortText),
			status: r.Status,
		}
		if r.Status >= 400 || cleanText(r.Error, maxLongText) != "" {
			k.failed = 1
		}
		base[i] = k
	}
	for _, t := range []rollupTable{hourly, daily} {
		sums := make(map[rollupKey]*rollupSum)
		for i := range rows {
			r := &rows[i]
			k := base[i]
			k.at -= k.at % t.span
			s := sums[k]
			if s == nil {
				s = new(rollupSum)
				sums[k] = s
			}
			s.requests++
			s.input += r.Usage.Input.Value()
			s.output += r.Usage.Output.Value()
			s.cacheRead += r.Usage.CacheRead.Value()
			s.cacheWrite += r.Usage.CacheWrite.Value()
			s.reasoning += r.Usage.Reasoning.Value()
			if c, ok := costArg(r).(float64); ok {
				s.cost += c
			}
			if !r.CostKnown {
				s.unknownCost++
			}
		}
		keys := make([]rollupKey, 0, len(sums))
		for k := range sums {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b rollupKey) int {
			return cmp.Or(cmp.Compare(a.at, b.at), strings.Compare(a.login, b.login), strings.Compare(a.model, b.model),
				strings.Compare(a.provider, b.provider), strings.Compare(a.agent, b.agent),
				cmp.Compare(a.status, b.status), cmp.Compare(a.failed, b.failed))
		})
		vals := make([]colValue, 0, rollupRowsPerStatement*rollupColumns)
		for len(keys) > 0 {
			// Statements of 32 keys, the rest in statements of 16, 8,
			// ... 1: at most six statements per table are prepared.
			n := rollupRowsPerStatement
			for n > len(keys) {
				n /= 2
			}
			vals = vals[:0]
			for _, k := range keys[:n] {
				s := sums[k]
				vals = append(vals, intValue(k.at), textValue(k.login), textValue(k.model), textValue(k.provider), textValue(k.agent),
					intValue(int64(k.status)), intValue(int64(k.failed)),
					intValue(s.requests), intValue(s.input), intValue(s.output), intValue(s.cacheRead), intValue(s.cacheWrite), intValue(s.reasoning),
					colValue{kind: colFloat, n: int64(math.Float64bits(s.cost))}, intValue(s.unknownCost))
			}
			// Prepared once per store, as the inserts are.
			if _, err := in.execValues(ctx, rollupQuery(in.s.d, t, n), vals); err != nil {
				return err
			}
			keys = keys[n:]
		}
	}
	return nil
}

// rollupRowsPerStatement is how many rollup rows one upsert carries at
// most. A statement's run has a cost of its own (binding through the
// driver's values, stepping, resetting): with a few hundred keys per
// batch, single-row upserts took 7% more of an insert's instructions.
const rollupRowsPerStatement = 32

// rollupColumns is how many values a rollup row takes.
const rollupColumns = 15

// rollupQueries holds the upserts of n rows into a rollup table, by
// rollupQueryKey.
var rollupQueries sync.Map

type rollupQueryKey struct {
	table string
	rows  int
}

// rollupQuery is the upsert of n rows into t (see addRollups).
func rollupQuery(d dialect, t rollupTable, n int) string {
	key := rollupQueryKey{t.name, n}
	if q, ok := rollupQueries.Load(key); ok {
		return q.(string)
	}
	q := d.insertInto + t.name + " (" + t.time + `, login, model, provider, user_agent, status, failed,
			requests, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd, unknown_cost)
			VALUES ` + placeholders(n, rollupColumns) + `
			ON CONFLICT (` + t.time + `, login, model, provider, user_agent, status, failed) DO UPDATE SET
				requests = requests + excluded.requests,
				input_tokens = input_tokens + excluded.input_tokens,
				output_tokens = output_tokens + excluded.output_tokens,
				cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
				cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
				reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
				cost_usd = cost_usd + excluded.cost_usd,
				unknown_cost = unknown_cost + excluded.unknown_cost`
	rollupQueries.Store(key, q)
	return q
}

// newRows returns the rows of a batch that are not stored yet, each ID
// once (its first record, as ON CONFLICT DO NOTHING keeps).
func newRows(ctx context.Context, tx *sql.Tx, d dialect, rows []Record) ([]Record, error) {
	seen := make(map[string]bool, len(rows))
	const per = 500
	for start := 0; start < len(rows); start += per {
		chunk := rows[start:min(start+per, len(rows))]
		args := make([]any, len(chunk))
		for i := range chunk {
			args[i] = cleanText(chunk[i].ID, maxShortText)
		}
		q := "SELECT id FROM requests WHERE id IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ") + ")"
		stored, err := tx.QueryContext(ctx, d.rebind(q), args...)
		if err != nil {
			return nil, err
		}
		for stored.Next() {
			var id string
			if err := stored.Scan(&id); err != nil {
				stored.Close()
				return nil, err
			}
			seen[id] = true
		}
		if err := stored.Err(); err != nil {
			stored.Close()
			return nil, err
		}
		if err := stored.Close(); err != nil {
			return nil, err
		}
	}
	out := make([]Record, 0, len(rows))
	for i := range rows {
		id := cleanText(rows[i].ID, maxShortText)
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, rows[i])
	}
	return out, nil
}
