-- usage_hourly and usage_daily: the request log summed per hour (and per
-- UTC day), user, model, provider, user agent and status, which the
-- dashboard's usage pages read instead of scanning every row: the daily
-- table for whole-day ranges (every page's date filter), the hourly one
-- for finer ranges. Statement triggers keep both in step with
-- requests inside the same transaction, one summed upsert per INSERT
-- statement: the transition table holds only the rows really inserted
-- (not those skipped by ON CONFLICT, so a retried batch never counts
-- twice), and a deletion (retention) takes its rows away again. Keys are
-- upserted in order, so replicas writing at once take row locks in the
-- same order.
-- failed is 1 for a request with status >= 400 or an error. Counts the
-- provider did not report add 0, as in the request log's sums;
-- unknown_cost counts rows whose cost is not known.

CREATE TABLE usage_hourly (
	hour_us            BIGINT NOT NULL,
	login              TEXT NOT NULL,
	model              TEXT NOT NULL,
	provider           TEXT NOT NULL,
	user_agent         TEXT NOT NULL,
	status             INTEGER NOT NULL,
	failed             INTEGER NOT NULL,
	requests           BIGINT NOT NULL,
	input_tokens       BIGINT NOT NULL,
	output_tokens      BIGINT NOT NULL,
	cache_read_tokens  BIGINT NOT NULL,
	cache_write_tokens BIGINT NOT NULL,
	reasoning_tokens   BIGINT NOT NULL,
	cost_usd           DOUBLE PRECISION NOT NULL,
	unknown_cost       BIGINT NOT NULL,
	PRIMARY KEY (hour_us, login, model, provider, user_agent, status, failed)
);

CREATE INDEX usage_hourly_login ON usage_hourly (login, hour_us);

CREATE TABLE usage_daily (
	day_us             BIGINT NOT NULL,
	login              TEXT NOT NULL,
	model              TEXT NOT NULL,
	provider           TEXT NOT NULL,
	user_agent         TEXT NOT NULL,
	status             INTEGER NOT NULL,
	failed             INTEGER NOT NULL,
	requests           BIGINT NOT NULL,
	input_tokens       BIGINT NOT NULL,
	output_tokens      BIGINT NOT NULL,
	cache_read_tokens  BIGINT NOT NULL,
	cache_write_tokens BIGINT NOT NULL,
	reasoning_tokens   BIGINT NOT NULL,
	cost_usd           DOUBLE PRECISION NOT NULL,
	unknown_cost       BIGINT NOT NULL,
	PRIMARY KEY (day_us, login, model, provider, user_agent, status, failed)
);

CREATE INDEX usage_daily_login ON usage_daily (login, day_us);

CREATE FUNCTION usage_rollup_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO usage_hourly
	SELECT time_us - time_us % 3600000000, login, model, provider, user_agent,
		status, CASE WHEN status >= 400 OR error <> '' THEN 1 ELSE 0 END,
		COUNT(*), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0),
		COALESCE(SUM(cache_read_tokens), 0), COALESCE(SUM(cache_write_tokens), 0), COALESCE(SUM(reasoning_tokens), 0),
		COALESCE(SUM(cost_usd), 0), SUM(CASE WHEN cost_known THEN 0 ELSE 1 END)
	FROM added
	GROUP BY 1, 2, 3, 4, 5, 6, 7
	ORDER BY 1, 2, 3, 4, 5, 6, 7
	ON CONFLICT (hour_us, login, model, provider, user_agent, status, failed) DO UPDATE SET
		requests = usage_hourly.requests + excluded.requests,
		input_tokens = usage_hourly.input_tokens + excluded.input_tokens,
		output_tokens = usage_hourly.output_tokens + excluded.output_tokens,
		cache_read_tokens = usage_hourly.cache_read_tokens + excluded.cache_read_tokens,
		cache_write_tokens = usage_hourly.cache_write_tokens + excluded.cache_write_tokens,
		reasoning_tokens = usage_hourly.reasoning_tokens + excluded.reasoning_tokens,
		cost_usd = usage_hourly.cost_usd + excluded.cost_usd,
		unknown_cost = usage_hourly.unknown_cost + excluded.unknown_cost;
	INSERT INTO usage_daily
	SELECT time_us - time_us % 86400000000, login, model, provider, user_agent,
		status, CASE WHEN status >= 400 OR error <> '' THEN 1 ELSE 0 END,
		COUNT(*), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0),
		COALESCE(SUM(cache_read_tokens), 0), COALESCE(SUM(cache_write_tokens), 0), COALESCE(SUM(reasoning_tokens), 0),
		COALESCE(SUM(cost_usd), 0), SUM(CASE WHEN cost_known THEN 0 ELSE 1 END)
	FROM added
	GROUP BY 1, 2, 3, 4, 5, 6, 7
	ORDER BY 1, 2, 3, 4, 5, 6, 7
	ON CONFLICT (day_us, login, model, provider, user_agent, status, failed) DO UPDATE SET
		requests = usage_daily.requests + excluded.requests,
		input_tokens = usage_daily.input_tokens + excluded.input_tokens,
		output_tokens = usage_daily.output_tokens + excluded.output_tokens,
		cache_read_tokens = usage_daily.cache_read_tokens + excluded.cache_read_tokens,
		cache_write_tokens = usage_daily.cache_write_tokens + excluded.cache_write_tokens,
		reasoning_tokens = usage_daily.reasoning_tokens + excluded.reasoning_tokens,
		cost_usd = usage_daily.cost_usd + excluded.cost_usd,
		unknown_cost = usage_daily.unknown_cost + excluded.unknown_cost;
	RETURN NULL;
END $$;

CREATE TRIGGER usage_rollup_add AFTER INSERT ON requests
	REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION usage_rollup_add();

CREATE FUNCTION usage_rollup_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE usage_hourly u SET
		requests = u.requests - r.requests,
		input_tokens = u.input_tokens - r.input_tokens,
		output_tokens = u.output_tokens - r.output_tokens,
		cache_read_tokens = u.cache_read_tokens - r.cache_read_tokens,
		cache_write_tokens = u.cache_write_tokens - r.cache_write_tokens,
		reasoning_tokens = u.reasoning_tokens - r.reasoning_tokens,
		cost_usd = u.cost_usd - r.cost_usd,
		unknown_cost = u.unknown_cost - r.unknown_cost
	FROM (
		SELECT time_us - time_us % 3600000000 AS k, login, model, provider, user_agent,
			status, CASE WHEN status >= 400 OR error <> '' THEN 1 ELSE 0 END AS failed,
			COUNT(*) AS requests, COALESCE(SUM(input_tokens), 0) AS input_tokens, COALESCE(SUM(output_tokens), 0) AS output_tokens,
			COALESCE(SUM(cache_read_tokens), 0) AS cache_read_tokens, COALESCE(SUM(cache_write_tokens), 0) AS cache_write_tokens,
			COALESCE(SUM(reasoning_tokens), 0) AS reasoning_tokens,
			COALESCE(SUM(cost_usd), 0) AS cost_usd, SUM(CASE WHEN cost_known THEN 0 ELSE 1 END) AS unknown_cost
		FROM removed GROUP BY 1, 2, 3, 4, 5, 6, 7
	) r
	WHERE u.hour_us = r.k AND u.login = r.login AND u.model = r.model AND u.provider = r.provider
		AND u.user_agent = r.user_agent AND u.status = r.status AND u.failed = r.failed;
	DELETE FROM usage_hourly WHERE requests <= 0
		AND hour_us IN (SELECT DISTINCT time_us - time_us % 3600000000 FROM removed);
	UPDATE usage_daily u SET
		requests = u.requests - r.requests,
		input_tokens = u.input_tokens - r.input_tokens,
		output_tokens = u.output_tokens - r.output_tokens,
		cache_read_tokens = u.cache_read_tokens - r.cache_read_tokens,
		cache_write_tokens = u.cache_write_tokens - r.cache_write_tokens,
		reasoning_tokens = u.reasoning_tokens - r.reasoning_tokens,
		cost_usd = u.cost_usd - r.cost_usd,
		unknown_cost = u.unknown_cost - r.unknown_cost
	FROM (
		SELECT time_us - time_us % 86400000000 AS k, login, model, provider, user_agent,
			status, CASE WHEN status >= 400 OR error <> '' THEN 1 ELSE 0 END AS failed,
			COUNT(*) AS requests, COALESCE(SUM(input_tokens), 0) AS input_tokens, COALESCE(SUM(output_tokens), 0) AS output_tokens,
			COALESCE(SUM(cache_read_tokens), 0) AS cache_read_tokens, COALESCE(SUM(cache_write_tokens), 0) AS cache_write_tokens,
			COALESCE(SUM(reasoning_tokens), 0) AS reasoning_tokens,
			COALESCE(SUM(cost_usd), 0) AS cost_usd, SUM(CASE WHEN cost_known THEN 0 ELSE 1 END) AS unknown_cost
		FROM removed GROUP BY 1, 2, 3, 4, 5, 6, 7
	) r
	WHERE u.day_us = r.k AND u.login = r.login AND u.model = r.model AND u.provider = r.provider
		AND u.user_agent = r.user_agent AND u.status = r.status AND u.failed = r.failed;
	DELETE FROM usage_daily WHERE requests <= 0
		AND day_us IN (SELECT DISTINCT time_us - time_us % 86400000000 FROM removed);
	RETURN NULL;
END $$;

CREATE TRIGGER usage_rollup_remove AFTER DELETE ON requests
	REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION usage_rollup_remove();

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
