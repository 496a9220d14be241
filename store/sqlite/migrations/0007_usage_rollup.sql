-- usage_hourly and usage_daily: the request log summed per hour (and per
-- UTC day), user, model, provider, user agent and status, which the
-- dashboard's usage pages read instead of scanning every row: the daily
-- table for whole-day ranges (every page's date filter), the hourly one
-- for finer ranges. Triggers keep both in step with requests
-- inside the same transaction: an insert adds its row (an insert skipped
-- by ON CONFLICT fires nothing, so a retried batch never counts twice), a
-- deletion (retention) takes it away again.
-- failed is 1 for a request with status >= 400 or an error. Counts the
-- provider did not report add 0, as in the request log's sums;
-- unknown_cost counts rows whose cost is not known.

CREATE TABLE usage_hourly (
	hour_us            INTEGER NOT NULL,
	login              TEXT NOT NULL,
	model              TEXT NOT NULL,
	provider           TEXT NOT NULL,
	user_agent         TEXT NOT NULL,
	status             INTEGER NOT NULL,
	failed             INTEGER NOT NULL,
	requests           INTEGER NOT NULL,
	input_tokens       INTEGER NOT NULL,
	output_tokens      INTEGER NOT NULL,
	cache_read_tokens  INTEGER NOT NULL,
	cache_write_tokens INTEGER NOT NULL,
	reasoning_tokens   INTEGER NOT NULL,
	cost_usd           REAL NOT NULL,
	unknown_cost       INTEGER NOT NULL,
	PRIMARY KEY (hour_us, login, model, provider, user_agent, status, failed)
);

CREATE INDEX usage_hourly_login ON usage_hourly (login, hour_us);

CREATE TABLE usage_daily (
	day_us             INTEGER NOT NULL,
	login              TEXT NOT NULL,
	model              TEXT NOT NULL,
	provider           TEXT NOT NULL,
	user_agent         TEXT NOT NULL,
	status             INTEGER NOT NULL,
	failed             INTEGER NOT NULL,
	requests           INTEGER NOT NULL,
	input_tokens       INTEGER NOT NULL,
	output_tokens      INTEGER NOT NULL,
	cache_read_tokens  INTEGER NOT NULL,
	cache_write_tokens INTEGER NOT NULL,
	reasoning_tokens   INTEGER NOT NULL,
	cost_usd           REAL NOT NULL,
	unknown_cost       INTEGER NOT NULL,
	PRIMARY KEY (day_us, login, model, provider, user_agent, status, failed)
);

CREATE INDEX usage_daily_login ON usage_daily (login, day_us);

CREATE TRIGGER usage_rollup_add AFTER INSERT ON requests BEGIN
	INSERT INTO usage_hourly VALUES (
		NEW.time_us - NEW.time_us % 3600000000, NEW.login, NEW.model, NEW.provider, NEW.user_agent,
		NEW.status, CASE WHEN NEW.status >= 400 OR NEW.error <> '' THEN 1 ELSE 0 END,
		1, COALESCE(NEW.input_tokens, 0), COALESCE(NEW.output_tokens, 0),
		COALESCE(NEW.cache_read_tokens, 0), COALESCE(NEW.cache_write_tokens, 0), COALESCE(NEW.reasoning_tokens, 0),
		COALESCE(NEW.cost_usd, 0), CASE WHEN NEW.cost_known THEN 0 ELSE 1 END)
	ON CONFLICT (hour_us, login, model, provider, user_agent, status, failed) DO UPDATE SET
		requests = requests + 1,
		input_tokens = input_tokens + excluded.input_tokens,
		output_tokens = output_tokens + excluded.output_tokens,
		cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
		cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
		reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
		cost_usd = cost_usd + excluded.cost_usd,
		unknown_cost = unknown_cost + excluded.unknown_cost;
	INSERT INTO usage_daily VALUES (
		NEW.time_us - NEW.time_us % 86400000000, NEW.login, NEW.model, NEW.provider, NEW.user_agent,
		NEW.status, CASE WHEN NEW.status >= 400 OR NEW.error <> '' THEN 1 ELSE 0 END,
		1, COALESCE(NEW.input_tokens, 0), COALESCE(NEW.output_tokens, 0),
		COALESCE(NEW.cache_read_tokens, 0), COALESCE(NEW.cache_write_tokens, 0), COALESCE(NEW.reasoning_tokens, 0),
		COALESCE(NEW.cost_usd, 0), CASE WHEN NEW.cost_known THEN 0 ELSE 1 END)
	ON CONFLICT (day_us, login, model, provider, user_agent, status, failed) DO UPDATE SET
		requests = requests + 1,
		input_tokens = input_tokens + excluded.input_tokens,
		output_tokens = output_tokens + excluded.output_tokens,
		cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
		cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
		reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
		cost_usd = cost_usd + excluded.cost_usd,
		unknown_cost = unknown_cost + excluded.unknown_cost;
END;

CREATE TRIGGER usage_rollup_remove AFTER DELETE ON requests BEGIN
	UPDATE usage_hourly SET
		requests = requests - 1,
		input_tokens = input_tokens - COALESCE(OLD.input_tokens, 0),
		output_tokens = output_tokens - COALESCE(OLD.output_tokens, 0),
		cache_read_tokens = cache_read_tokens - COALESCE(OLD.cache_read_tokens, 0),
		cache_write_tokens = cache_write_tokens - COALESCE(OLD.cache_write_tokens, 0),
		reasoning_tokens = reasoning_tokens - COALESCE(OLD.reasoning_tokens, 0),
		cost_usd = cost_usd - COALESCE(OLD.cost_usd, 0),
		unknown_cost = unknown_cost - CASE WHEN OLD.cost_known THEN 0 ELSE 1 END
	WHERE hour_us = OLD.time_us - OLD.time_us % 3600000000 AND login = OLD.login AND model = OLD.model
		AND provider = OLD.provider AND user_agent = OLD.user_agent AND status = OLD.status
		AND failed = CASE WHEN OLD.status >= 400 OR OLD.error <> '' THEN 1 ELSE 0 END;
	DELETE FROM usage_hourly WHERE requests <= 0 AND hour_us = OLD.time_us - OLD.time_us % 3600000000
		AND login = OLD.login AND model = OLD.model;
	UPDATE usage_daily SET
		requests = requests - 1,
		input_tokens = input_tokens - COALESCE(OLD.input_tokens, 0),
		output_tokens = output_tokens - COALESCE(OLD.output_tokens, 0),
		cache_read_tokens = cache_read_tokens - COALESCE(OLD.cache_read_tokens, 0),
		cache_write_tokens = cache_write_tokens - COALESCE(OLD.cache_write_tokens, 0),
		reasoning_tokens = reasoning_tokens - COALESCE(OLD.reasoning_tokens, 0),
		cost_usd = cost_usd - COALESCE(OLD.cost_usd, 0),
		unknown_cost = unknown_cost - CASE WHEN OLD.cost_known THEN 0 ELSE 1 END
	WHERE day_us = OLD.time_us - OLD.time_us % 86400000000 AND login = OLD.login AND model = OLD.model
		AND provider = OLD.provider AND user_agent = OLD.user_agent AND status = OLD.status
		AND failed = CASE WHEN OLD.status >= 400 OR OLD.error <> '' THEN 1 ELSE 0 END;
	DELETE FROM usage_daily WHERE requests <= 0 AND day_us = OLD.time_us - OLD.time_us % 86400000000
		AND login = OLD.login AND model = OLD.model;
END;

-- The rows logged before this migration.
INSERT INTO usage_hourly
SELECT time_us - time_us % 3600000000, login, model, provider, user_agent,
	status, CASE WHEN status >= 400 OR error <> '' THEN 1 ELSE 0 END,
	COUNT(*), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0),
	COALESCE(SUM(cache_read_tokens), 0), COALESCE(SUM(cache_write_tokens), 0), COALESCE(SUM(reasoning_tokens), 0),
	COALESCE(SUM(cost_usd), 0), SUM(CASE WHEN cost_known THEN 0 ELSE 1 END)
FROM requests
GROUP BY 1, 2, 3, 4, 5, 6, 7;

INSERT INTO usage_daily
SELECT time_us - time_us % 86400000000, login, model, provider, user_agent,
	status, CASE WHEN status >= 400 OR error <> '' THEN 1 ELSE 0 END,
	COUNT(*), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0),
	COALESCE(SUM(cache_read_tokens), 0), COALESCE(SUM(cache_write_tokens), 0), COALESCE(SUM(reasoning_tokens), 0),
	COALESCE(SUM(cost_usd), 0), SUM(CASE WHEN cost_known THEN 0 ELSE 1 END)
FROM requests
GROUP BY 1, 2, 3, 4, 5, 6, 7;
