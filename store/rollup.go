package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Dimension names a key of a usage rollup.
type Dimension string

// Rollup dimensions. Hours and days are UTC.
const (
	DimHour     Dimension = "hour"
	DimDay      Dimension = "day"
	DimUser     Dimension = "user"
	DimModel    Dimension = "model"
	DimProvider Dimension = "provider"
	// DimAgent is the client's User-Agent as it was sent; AgentName
	// shortens it to the product.
	DimAgent  Dimension = "agent"
	DimStatus Dimension = "status"
)

// Rollup is the usage of one group of a rollup query: the keys named by
// the query's dimensions are set, the others are zero.
type Rollup struct {
	// Time is the start of the hour (DimHour) or day (DimDay).
	Time     time.Time
	Login    string
	Model    string
	Provider string
	Agent    string
	Status   int
	Totals
	ReasoningTokens int64
}

// ErrRollupFilter reports a filter the rollups cannot answer: they keep
// no sessions.
var ErrRollupFilter = errors.New("usage rollups cannot be filtered by session")

const hourUS = int64(time.Hour / time.Microsecond)

// rollupTable is one of the rollup tables: its name and time column, and
// the span of one of its rows.
type rollupTable struct {
	name, time string
	span       int64
}

var (
	hourly = rollupTable{"usage_hourly", "hour_us", hourUS}
	daily  = rollupTable{"usage_daily", "day_us", dayUS}
)

var rollupKeys = map[Dimension]string{
	DimUser:     "login",
	DimModel:    "model",
	DimProvider: "provider",
	DimAgent:    "user_agent",
	DimStatus:   "status",
}

// Rollup sums the rollup tables, which triggers keep up to date in the
// transaction of every insert, grouped by the given dimensions and
// filtered by f (Since rounds down and Until up to whole hours; Session is
// refused). It reads the daily table when the range is whole UTC days and
// no hours are asked for, else the hourly one. Groups come in the order of
// their keys.
func (s *sqlStore) Rollup(ctx context.Context, f Filter, by ...Dimension) ([]Rollup, error) {
	if f.Session != "" {
		return nil, ErrRollupFilter
	}
	tbl := daily
	if f.Since.UnixMicro()%dayUS != 0 || f.Until.UnixMicro()%dayUS != 0 {
		tbl = hourly
	}
	for _, d := range by {
		if d == DimHour {
			tbl = hourly
		}
	}
	var w where
	if f.Login != "" {
		w.add("login = ?", f.Login)
	}
	if f.Model != "" {
		w.add("model = ?", f.Model)
	}
	if f.Provider != "" {
		w.add("provider = ?", f.Provider)
	}
	if f.Agent != "" {
		cond, args := agentCond(f.Agent)
		w.add(cond, args...)
	}
	if f.Status != 0 {
		w.add("status = ?", f.Status)
	}
	if f.Errors {
		w.add("failed = 1")
	}
	if !f.Since.IsZero() {
		us := f.Since.UnixMicro()
		w.add(tbl.time+" >= ?", us-us%tbl.span)
	}
	if !f.Until.IsZero() {
		w.add(tbl.time+" < ?", f.Until.UnixMicro())
	}
	keys := make([]string, len(by))
	for i, d := range by {
		switch d {
		case DimHour:
			keys[i] = "hour_us"
		case DimDay:
			keys[i] = fmt.Sprintf("%s - %s %% %d", tbl.time, tbl.time, dayUS)
		default:
			k, ok := rollupKeys[d]
			if !ok {
				return nil, fmt.Errorf("rollup by %q: unknown dimension", d)
			}
			keys[i] = k
		}
	}
	sums := `CAST(SUM(requests) AS BIGINT), CAST(SUM(failed * requests) AS BIGINT),
		CAST(SUM(input_tokens) AS BIGINT), CAST(SUM(output_tokens) AS BIGINT),
		CAST(SUM(cache_read_tokens) AS BIGINT), CAST(SUM(cache_write_tokens) AS BIGINT),
		SUM(cost_usd), CAST(SUM(unknown_cost) AS BIGINT), CAST(SUM(reasoning_tokens) AS BIGINT)`
	q := "SELECT " + sums
	if len(keys) > 0 {
		q += ", " + strings.Join(keys, ", ")
	}
	q += " FROM " + tbl.name + " WHERE " + w.String()
	if len(keys) > 0 {
		var pos []string
		for i := range keys {
			pos = append(pos, fmt.Sprint(i+10))
		}
		q += " GROUP BY " + strings.Join(pos, ", ") + " ORDER BY " + strings.Join(pos, ", ")
	}
	rows, err := s.db.QueryContext(ctx, s.d.rebind(q), w.args...)
	if err != nil {
		return nil, fmt.Errorf("usage rollup: %w", err)
	}
	defer rows.Close()
	var out []Rollup
	for rows.Next() {
		var r Rollup
		var requests sql.NullInt64
		dest := []any{&requests, nullInt{&r.Errors}, nullInt{&r.InputTokens}, nullInt{&r.OutputTokens},
			nullInt{&r.CacheReadTokens}, nullInt{&r.CacheWriteTokens}, nullFloat{&r.CostUSD},
			nullInt{&r.UnknownCost}, nullInt{&r.ReasoningTokens}}
		var hour int64
		for _, d := range by {
			switch d {
			case DimHour, DimDay:
				dest = append(dest, &hour)
			case DimUser:
				dest = append(dest, &r.Login)
			case DimModel:
				dest = append(dest, &r.Model)
			case DimProvider:
				dest = append(dest, &r.Provider)
			case DimAgent:
				dest = append(dest, &r.Agent)
			case DimStatus:
				dest = append(dest, &r.Status)
			}
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("usage rollup: %w", err)
		}
		if !requests.Valid {
			continue // no rows at all: SUM over nothing
		}
		r.Requests = requests.Int64
		r.Time = time.UnixMicro(hour).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("usage rollup: %w", err)
	}
	return out, nil
}

// nullInt and nullFloat scan a sum that is NULL over no rows as 0.
type nullInt struct{ p *int64 }

func (n nullInt) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*n.p = 0
	case int64:
		*n.p = x
	case float64:
		*n.p = int64(x)
	default:
		return fmt.Errorf("unexpected %T for a sum", v)
	}
	return nil
}

type nullFloat struct{ p *float64 }

func (n nullFloat) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*n.p = 0
	case float64:
		*n.p = x
	case int64:
		*n.p = float64(x)
	default:
		return fmt.Errorf("unexpected %T for a sum", v)
	}
	return nil
}

// AgentName is the product a User-Agent names: its first token without
// the version ("claude-cli/1.0.83 (external, cli)" is "claude-cli").
// Filter.Agent matches user agents by it.
func AgentName(ua string) string {
	name, _, _ := strings.Cut(strings.TrimSpace(ua), " ")
	name, _, _ = strings.Cut(name, "/")
	return name
}

// agentCond matches the user agents whose AgentName is name.
func agentCond(name string) (string, []any) {
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(name)
	return `(user_agent = ? OR user_agent LIKE ? ESCAPE '\' OR user_agent LIKE ? ESCAPE '\')`,
		[]any{name, esc + "/%", esc + " %"}
}
