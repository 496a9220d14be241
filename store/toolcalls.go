package store

import (
	"context"
	"fmt"
	"time"
)

// Outcomes of a ToolCall.
const (
	// ToolOK: the connector answered with a result.
	ToolOK = "ok"
	// ToolError: the connector answered with a result marked as an error.
	ToolError = "tool_error"
	// ToolDenied: policy does not grant the tool to the caller; the call
	// never left the gateway.
	ToolDenied = "denied"
	// ToolBlocked: a tool_call hook blocked the call (or failed closed).
	ToolBlocked = "blocked"
	// ToolFailed: the connector could not be reached or broke off.
	ToolFailed = "failed"
)

// ToolCall is one MCP tool call through the gateway, as the tool call log
// keeps it. Arguments themselves are not kept, only their size.
type ToolCall struct {
	ID        string        `json:"id"`
	Time      time.Time     `json:"time"`
	Login     string        `json:"login"`
	Connector string        `json:"connector"`
	Tool      string        `json:"tool"`
	Session   string        `json:"session,omitempty"`
	ArgsBytes int64         `json:"args_bytes"`
	Outcome   string        `json:"outcome"`
	Error     string        `json:"error,omitempty"`
	Latency   time.Duration `json:"latency_ns"`
}

// ToolCallLog keeps MCP tool calls. The stores Open returns implement it.
type ToolCallLog interface {
	// InsertToolCall stores c; a call without an ID gets one.
	InsertToolCall(ctx context.Context, c ToolCall) error
	// ToolCalls lists up to limit calls, newest first; login, when set,
	// restricts them to that caller's.
	ToolCalls(ctx context.Context, login string, limit int) ([]ToolCall, error)
}

var _ ToolCallLog = (*sqlStore)(nil)

// InsertToolCall implements ToolCallLog.
func (s *sqlStore) InsertToolCall(ctx context.Context, c ToolCall) error {
	if c.Time.IsZero() {
		c.Time = time.Now()
	}
	if c.ID == "" {
		c.ID = NewID(c.Time)
	}
	_, err := s.db.ExecContext(ctx, s.d.rebind(`INSERT INTO tool_calls
		(id, time_us, login, connector, tool, session, args_bytes, outcome, error, latency_us)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`),
		c.ID, c.Time.UnixMicro(), c.Login, c.Connector, c.Tool, c.Session, c.ArgsBytes, c.Outcome, c.Error, c.Latency.Microseconds())
	if err != nil {
		return fmt.Errorf("insert tool call: %w", err)
	}
	return nil
}

// ToolCalls implements ToolCallLog.
func (s *sqlStore) ToolCalls(ctx context.Context, login string, limit int) ([]ToolCall, error) {
	if limit <= 0 {
		limit = 100
	}
	q := `SELECT id, time_us, login, connector, tool, session, args_bytes, outcome, error, latency_us FROM tool_calls`
	var args []any
	if login != "" {
		q += ` WHERE login = ?`
		args = append(args, login)
	}
	q += ` ORDER BY time_us DESC, id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("list tool calls: %w", err)
	}
	defer rows.Close()
	var out []ToolCall
	for rows.Next() {
		var c ToolCall
		var ts, lat int64
		if err := rows.Scan(&c.ID, &ts, &c.Login, &c.Connector, &c.Tool, &c.Session, &c.ArgsBytes, &c.Outcome, &c.Error, &lat); err != nil {
			return nil, fmt.Errorf("list tool calls: %w", err)
		}
		c.Time, c.Latency = time.UnixMicro(ts).UTC(), time.Duration(lat)*time.Microsecond
		out = append(out, c)
	}
	return out, rows.Err()
}
