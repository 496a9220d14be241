-- One row per MCP tool call through /v1/mcp: who called which tool of
-- which connector, how large its arguments were, how it ended (ok,
-- tool_error, denied, blocked, failed) and how long it took. Times are
-- microseconds since the Unix epoch, durations microseconds.
CREATE TABLE tool_calls (
	id         TEXT PRIMARY KEY,
	time_us    BIGINT NOT NULL,
	login      TEXT NOT NULL DEFAULT '',
	connector  TEXT NOT NULL DEFAULT '',
	tool       TEXT NOT NULL DEFAULT '',
	session    TEXT NOT NULL DEFAULT '',
	args_bytes BIGINT NOT NULL DEFAULT 0,
	outcome    TEXT NOT NULL DEFAULT '',
	error      TEXT NOT NULL DEFAULT '',
	latency_us BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX tool_calls_time ON tool_calls (time_us);
CREATE INDEX tool_calls_login_time ON tool_calls (login, time_us);
