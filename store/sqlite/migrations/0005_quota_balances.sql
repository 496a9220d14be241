-- quota_balances: one row per charged quota bucket (per-user buckets
-- expanded: "daily:alice@example.com"). balance is in nanodollars as of
-- updated_ms (milliseconds since the epoch); the refill since then is
-- computed in each UPDATE from the bucket's configured rate, so the row is
-- only written when a request reserves, settles or an admin refills.
-- taken is what the row's last change took, for overdraft chains, whose
-- statements take what a bucket has rather than a fixed amount.
CREATE TABLE quota_balances (
	bucket     TEXT PRIMARY KEY,
	balance    INTEGER NOT NULL,
	updated_ms INTEGER NOT NULL,
	taken      INTEGER NOT NULL DEFAULT 0
);
