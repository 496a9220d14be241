-- Token counts and cost become nullable: NULL is "not reported" (a stream
-- aborted before its usage arrived), which 0 could not tell apart. SQLite
-- cannot drop NOT NULL in place, so each column is replaced by a nullable
-- one that keeps its values; other columns and the indexes stay as they
-- are. Rows written before keep their numbers.

ALTER TABLE requests RENAME COLUMN input_tokens TO input_tokens_old;
ALTER TABLE requests ADD COLUMN input_tokens INTEGER;
UPDATE requests SET input_tokens = input_tokens_old;
ALTER TABLE requests DROP COLUMN input_tokens_old;

ALTER TABLE requests RENAME COLUMN output_tokens TO output_tokens_old;
ALTER TABLE requests ADD COLUMN output_tokens INTEGER;
UPDATE requests SET output_tokens = output_tokens_old;
ALTER TABLE requests DROP COLUMN output_tokens_old;

ALTER TABLE requests RENAME COLUMN cache_read_tokens TO cache_read_tokens_old;
ALTER TABLE requests ADD COLUMN cache_read_tokens INTEGER;
UPDATE requests SET cache_read_tokens = cache_read_tokens_old;
ALTER TABLE requests DROP COLUMN cache_read_tokens_old;

ALTER TABLE requests RENAME COLUMN cache_write_tokens TO cache_write_tokens_old;
ALTER TABLE requests ADD COLUMN cache_write_tokens INTEGER;
UPDATE requests SET cache_write_tokens = cache_write_tokens_old;
ALTER TABLE requests DROP COLUMN cache_write_tokens_old;

ALTER TABLE requests RENAME COLUMN reasoning_tokens TO reasoning_tokens_old;
ALTER TABLE requests ADD COLUMN reasoning_tokens INTEGER;
UPDATE requests SET reasoning_tokens = reasoning_tokens_old;
ALTER TABLE requests DROP COLUMN reasoning_tokens_old;

ALTER TABLE requests RENAME COLUMN cost_usd TO cost_usd_old;
ALTER TABLE requests ADD COLUMN cost_usd REAL;
UPDATE requests SET cost_usd = cost_usd_old;
ALTER TABLE requests DROP COLUMN cost_usd_old;
