-- One row per request the gateway handled. Times are microseconds since
-- the Unix epoch (UTC), durations microseconds.
CREATE TABLE requests (
	id                 TEXT PRIMARY KEY,
	time_us            INTEGER NOT NULL,
	login              TEXT NOT NULL DEFAULT '',
	node_id            TEXT NOT NULL DEFAULT '',
	node_name          TEXT NOT NULL DEFAULT '',
	tailnet            TEXT NOT NULL DEFAULT '',
	provider           TEXT NOT NULL DEFAULT '',
	model              TEXT NOT NULL DEFAULT '',
	format             TEXT NOT NULL DEFAULT '',
	method             TEXT NOT NULL DEFAULT '',
	path               TEXT NOT NULL DEFAULT '',
	stream             INTEGER NOT NULL DEFAULT 0,
	status             INTEGER NOT NULL DEFAULT 0,
	error              TEXT NOT NULL DEFAULT '',
	latency_us         INTEGER NOT NULL DEFAULT 0,
	ttfb_us            INTEGER NOT NULL DEFAULT 0,
	input_tokens       INTEGER NOT NULL DEFAULT 0,
	output_tokens      INTEGER NOT NULL DEFAULT 0,
	cache_read_tokens  INTEGER NOT NULL DEFAULT 0,
	cache_write_tokens INTEGER NOT NULL DEFAULT 0,
	reasoning_tokens   INTEGER NOT NULL DEFAULT 0,
	cost_usd           REAL NOT NULL DEFAULT 0,
	cost_known         INTEGER NOT NULL DEFAULT 0,
	tool_calls         INTEGER NOT NULL DEFAULT 0,
	request_bytes      INTEGER NOT NULL DEFAULT 0,
	response_bytes     INTEGER NOT NULL DEFAULT 0,
	user_agent         TEXT NOT NULL DEFAULT '',
	revision           TEXT NOT NULL DEFAULT '',
	session_id         TEXT NOT NULL DEFAULT '',
	instance           TEXT NOT NULL DEFAULT '',
	has_raws           INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX requests_time ON requests (time_us, id);
CREATE INDEX requests_login_time ON requests (login, time_us);
CREATE INDEX requests_model_time ON requests (model, time_us);
CREATE INDEX requests_session ON requests (session_id) WHERE session_id <> '';

-- Raw bodies (database.save_raws), compressed and maybe encrypted; key_id
-- names the blob key that sealed them ('' when stored in the clear).
CREATE TABLE request_blobs (
	request_id TEXT NOT NULL,
	kind       TEXT NOT NULL,
	time_us    INTEGER NOT NULL,
	codec      TEXT NOT NULL,
	key_id     TEXT NOT NULL DEFAULT '',
	size       INTEGER NOT NULL DEFAULT 0,
	data       BLOB NOT NULL,
	PRIMARY KEY (request_id, kind)
);

CREATE INDEX request_blobs_time ON request_blobs (time_us);
