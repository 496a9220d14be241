-- config_revisions: the configuration of replicas started with
-- --config-source db, one row per saved revision (numbered from 1, never
-- reused), the newest being the one every replica serves. text is the
-- HuJSON as saved (${VAR} macros unexpanded: each replica expands them
-- from its own environment); hash is its hex SHA-256, which PUT
-- /api/config must send back to replace it.
CREATE TABLE config_revisions (
	revision    BIGINT PRIMARY KEY,
	hash        TEXT NOT NULL,
	text        TEXT NOT NULL,
	saved_by    TEXT NOT NULL DEFAULT '',
	saved_us    BIGINT NOT NULL
);

-- replica_heartbeats: what each running replica last reported (every few
-- seconds), so GET /api/status shows drift between replicas: the
-- configuration revision it serves, one it failed to apply, its policy
-- revision. Rows of replicas not seen for a while are stale, and removed
-- after a day.
CREATE TABLE replica_heartbeats (
	replica          TEXT PRIMARY KEY,
	config_revision  BIGINT NOT NULL DEFAULT 0,
	config_hash      TEXT NOT NULL DEFAULT '',
	policy_revision  TEXT NOT NULL DEFAULT '',
	failed_revision  BIGINT NOT NULL DEFAULT 0,
	failed_error     TEXT NOT NULL DEFAULT '',
	started_us       BIGINT NOT NULL,
	seen_us          BIGINT NOT NULL
);
