package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// totalsSQL aggregates Totals, in the order scanTotals reads them.
const totalsSQL = `COUNT(*),
	CAST(COALESCE(SUM(CASE WHEN status >= 400 OR error <> '' THEN 1 ELSE 0 END), 0) AS BIGINT),
	CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT),
	CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT),
	CAST(COALESCE(SUM(cache_read_tokens), 0) AS BIGINT),
	CAST(COALESCE(SUM(cache_write_tokens), 0) AS BIGINT),
	COALESCE(SUM(cost_usd), 0),
	CAST(COALESCE(SUM(CASE WHEN cost_known THEN 0 ELSE 1 END), 0) AS BIGINT)`

func totalsDest(t *Totals) []any {
	return []any{&t.Requests, &t.Errors, &t.InputTokens, &t.OutputTokens,
		&t.CacheReadTokens, &t.CacheWriteTokens, &t.CostUSD, &t.UnknownCost}
}

// filterWhere turns f into SQL conditions. Login, when set, is always one
// of them: that is what keeps a user to their own rows.
func (s *sqlStore) filterWhere(ctx context.Context, f Filter) (where, error) {
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
		w.add("(status >= 400 OR error <> '')")
	}
	if !f.Since.IsZero() {
		w.add("time_us >= ?", f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		w.add("time_us < ?", f.Until.UnixMicro())
	}
	if f.Session != "" {
		cond, args, err := s.sessionCond(ctx, f.Session, f.Login)
		if err != nil {
			return where{}, err
		}
		w.add(cond, args...)
	}
	return w, nil
}

// sessionCond selects the requests of session id: rows that carried it as
// their client session ID, or else the gap-rule session that starts at the
// request with that ID and runs until the next pause longer than the gap.
func (s *sqlStore) sessionCond(ctx context.Context, id, login string) (string, []any, error) {
	var w where
	w.add("session_id = ?", id)
	if login != "" {
		w.add("login = ?", login)
	}
	var one int
	err := s.db.QueryRowContext(ctx, s.d.rebind("SELECT 1 FROM requests WHERE "+w.String()+" LIMIT 1"), w.args...).Scan(&one)
	switch {
	case err == nil:
		return "session_id = ?", []any{id}, nil
	case !errors.Is(err, sql.ErrNoRows):
		return "", nil, fmt.Errorf("session %q: %w", id, err)
	}

	w = where{}
	w.add("id = ?", id)
	w.add("session_id = ''")
	if login != "" {
		w.add("login = ?", login)
	}
	var first struct {
		login, model string
		timeUS       int64
	}
	err = s.db.QueryRowContext(ctx, s.d.rebind("SELECT login, model, time_us FROM requests WHERE "+w.String()), w.args...).
		Scan(&first.login, &first.model, &first.timeUS)
	if errors.Is(err, sql.ErrNoRows) {
		return "1=0", nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("session %q: %w", id, err)
	}
	var next sql.NullInt64
	err = s.db.QueryRowContext(ctx, s.d.rebind(`SELECT MIN(time_us) FROM (
		SELECT time_us, time_us - LAG(time_us) OVER (ORDER BY time_us, id) AS pause
		FROM requests WHERE login = ? AND model = ? AND session_id = '' AND time_us >= ?
	) g WHERE pause > ?`), first.login, first.model, first.timeUS, s.gap.Microseconds()).Scan(&next)
	if err != nil {
		return "", nil, fmt.Errorf("session %q end: %w", id, err)
	}
	cond := "(login = ? AND model = ? AND session_id = '' AND time_us >= ?"
	args := []any{first.login, first.model, first.timeUS}
	if next.Valid {
		cond += " AND time_us < ?"
		args = append(args, next.Int64)
	}
	return cond + ")", args, nil
}

func (s *sqlStore) Requests(ctx context.Context, f Filter, p Page) (RequestPage, error) {
	w, err := s.filterWhere(ctx, f)
	if err != nil {
		return RequestPage{}, err
	}
	if p.Cursor != "" {
		c, err := decodeRequestCursor(p.Cursor)
		if err != nil {
			return RequestPage{}, err
		}
		w.add("(time_us < ? OR (time_us = ? AND id < ?))", c.timeUS, c.timeUS, c.id)
	}
	limit := p.limit()
	q := "SELECT " + requestColumnList + " FROM requests WHERE " + w.String() +
		" ORDER BY time_us DESC, id DESC LIMIT ?"
	rows, err := s.db.QueryContext(ctx, s.d.rebind(q), append(w.args, limit+1)...)
	if err != nil {
		return RequestPage{}, fmt.Errorf("list requests: %w", err)
	}
	defer rows.Close()
	var page RequestPage
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return RequestPage{}, fmt.Errorf("list requests: %w", err)
		}
		page.Records = append(page.Records, r)
	}
	if err := rows.Err(); err != nil {
		return RequestPage{}, fmt.Errorf("list requests: %w", err)
	}
	if len(page.Records) > limit {
		page.Records = page.Records[:limit]
		last := page.Records[limit-1]
		page.Next = encodeRequestCursor(requestCursor{timeUS: last.Time.UnixMicro(), id: last.ID})
	}
	return page, nil
}

// sessionsSQL implements the rule documented on DefaultSessionGap with
// window functions: a header-less row starts a session when the pause since
// the previous row of the same login and model exceeds the gap; a running
// count of starts numbers the sessions; each is keyed by its first row's ID
// ('g' prefix), or by the client session ID ('h' prefix).
const sessionsSQL = `WITH base AS (
	SELECT id, time_us, login, model, provider, session_id, status, error,
		input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd, cost_known,
		CASE WHEN session_id = '' AND
			time_us - LAG(time_us) OVER (PARTITION BY login, model, session_id ORDER BY time_us, id) <= ?
		THEN 0 ELSE 1 END AS starts
	FROM requests WHERE %s
), numbered AS (
	SELECT base.*, SUM(starts) OVER (PARTITION BY login, model, session_id ORDER BY time_us, id
		ROWS UNBOUNDED PRECEDING) AS grp
	FROM base
), keyed AS (
	SELECT numbered.*, CASE WHEN session_id <> '' THEN 'h' || session_id
		ELSE 'g' || FIRST_VALUE(id) OVER (PARTITION BY login, model, session_id, grp ORDER BY time_us, id) END AS sid
	FROM numbered
)
SELECT sid, login, MIN(time_us), MAX(time_us), %s, %s, ` + totalsSQL + `
FROM keyed GROUP BY sid, login
ORDER BY MAX(time_us) DESC, sid LIMIT ? OFFSET ?`

func (s *sqlStore) Sessions(ctx context.Context, f Filter, p Page) (SessionPage, error) {
	off, err := decodeOffsetCursor(p.Cursor)
	if err != nil {
		return SessionPage{}, err
	}
	w, err := s.filterWhere(ctx, f)
	if err != nil {
		return SessionPage{}, err
	}
	limit := p.limit()
	q := fmt.Sprintf(sessionsSQL, w.String(), s.d.distinctList("model"), s.d.distinctList("provider"))
	args := append([]any{s.gap.Microseconds()}, w.args...)
	args = append(args, limit+1, off)
	rows, err := s.db.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return SessionPage{}, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	var page SessionPage
	for rows.Next() {
		var ss Session
		var sid string
		var start, end int64
		var models, providers sql.NullString
		dest := append([]any{&sid, &ss.Login, &start, &end, &models, &providers}, totalsDest(&ss.Totals)...)
		if err := rows.Scan(dest...); err != nil {
			return SessionPage{}, fmt.Errorf("list sessions: %w", err)
		}
		ss.FromHeader = strings.HasPrefix(sid, "h")
		ss.ID = sid[1:]
		ss.Start = time.UnixMicro(start).UTC()
		ss.End = time.UnixMicro(end).UTC()
		ss.Models = splitList(models.String)
		ss.Providers = splitList(providers.String)
		page.Sessions = append(page.Sessions, ss)
	}
	if err := rows.Err(); err != nil {
		return SessionPage{}, fmt.Errorf("list sessions: %w", err)
	}
	if len(page.Sessions) > limit {
		page.Sessions = page.Sessions[:limit]
		page.Next = encodeOffsetCursor(off + limit)
	}
	return page, nil
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	out := strings.Split(s, ",")
	sort.Strings(out)
	return out
}

// byCost orders people, models and providers by spend, then traffic.
const byCost = "COALESCE(SUM(cost_usd), 0) DESC, COUNT(*) DESC, k"

const dayUS = int64(24 * time.Hour / time.Microsecond)

func (s *sqlStore) Usage(ctx context.Context, by GroupBy, f Filter) ([]Aggregate, error) {
	var key, order string
	switch by {
	case ByUser:
		key, order = "login", byCost
	case ByModel:
		key, order = "model", byCost
	case ByProvider:
		key, order = "provider", byCost
	case ByDay:
		key, order = fmt.Sprintf("time_us / %d", dayUS), "k"
	default:
		return nil, fmt.Errorf("usage by %q: %w", by, errors.New("unknown dimension"))
	}
	w, err := s.filterWhere(ctx, f)
	if err != nil {
		return nil, err
	}
	q := "SELECT " + key + " AS k, " + totalsSQL + " FROM requests WHERE " + w.String() +
		" GROUP BY 1 ORDER BY " + order
	rows, err := s.db.QueryContext(ctx, s.d.rebind(q), w.args...)
	if err != nil {
		return nil, fmt.Errorf("usage by %s: %w", by, err)
	}
	defer rows.Close()
	var out []Aggregate
	for rows.Next() {
		var a Aggregate
		var k any
		if err := rows.Scan(append([]any{&k}, totalsDest(&a.Totals)...)...); err != nil {
			return nil, fmt.Errorf("usage by %s: %w", by, err)
		}
		a.Key = keyString(by, k)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("usage by %s: %w", by, err)
	}
	return out, nil
}

func keyString(by GroupBy, k any) string {
	switch v := k.(type) {
	case int64:
		if by == ByDay {
			return time.UnixMicro(v * dayUS).UTC().Format(time.DateOnly)
		}
		return fmt.Sprint(v)
	case []byte:
		return string(v)
	case string:
		return v
	case nil:
		return ""
	}
	return fmt.Sprint(k)
}
