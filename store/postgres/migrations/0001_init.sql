-- One row per request the gateway handled. Times are microseconds since
-- the Unix epoch (UTC), durations microseconds.
CREATE TABLE requests (
	id                 TEXT PRIMARY KEY,
	time_us            BIGINT NOT NULL,
	login              TEXT NOT NULL DEFAULT '',
	node_id            TEXT NOT NULL DEFAULT '',
	node_name          TEXT NOT NULL DEFAULT '',
	tailnet            TEXT NOT NULL DEFAULT '',
	provider           TEXT NOT NULL DEFAULT '',
	model              TEXT NOT NULL DEFAULT '',
	format             TEXT NOT NULL DEFAULT '',
	method             TEXT NOT NULL DEFAULT '',
	path               TEXT NOT NULL DEFAULT '',
	stream             BOOLEAN NOT NULL DEFAULT FALSE,
	status             INTEGER NOT NULL DEFAULT 0,
	error              TEXT NOT NULL DEFAULT '',
	latency_us         BIGINT NOT NULL DEFAULT 0,
	ttfb_us            BIGINT NOT NULL DEFAULT 0,
	input_tokens       BIGINT NOT NULL DEFAULT 0,
	output_tokens      BIGINT NOT NULL DEFAULT 0,
	cache_read_tokens  BIGINT NOT NULL DEFAULT 0,
	cache_write_tokens BIGINT NOT NULL DEFAULT 0,
	reasoning_tokens   BIGINT NOT NULL DEFAULT 0,
	cost_usd           DOUBLE PRECISION NOT NULL DEFAULT 0,
	cost_known         BOOLEAN NOT NULL DEFAULT FALSE,
	tool_calls         INTEGER NOT NULL DEFAULT 0,
	request_bytes      BIGINT NOT NULL DEFAULT 0,
	response_bytes     BIGINT NOT NULL DEFAULT 0,
	user_agent         TEXT NOT NULL DEFAULT '',
	revision           TEXT NOT NULL DEFAULT '',
	session_id         TEXT NOT NULL DEFAULT '',
	instance           TEXT NOT NULL DEFAULT '',
	has_raws           BOOLEAN NOT NULL DEFAULT FALSE
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
	time_us    BIGINT NOT NULL,
	codec      TEXT NOT NULL,
	key_id     TEXT NOT NULL DEFAULT '',
	size       BIGINT NOT NULL DEFAULT 0,
	data       BYTEA NOT NULL,
	PRIMARY KEY (request_id, kind)
);

CREATE INDEX request_blobs_time ON request_blobs (time_us);
