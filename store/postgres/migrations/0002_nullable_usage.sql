-- Token counts and cost become nullable: NULL is "not reported" (a stream
-- aborted before its usage arrived), which 0 could not tell apart. Rows
-- written before keep their numbers.
ALTER TABLE requests
	ALTER COLUMN input_tokens DROP NOT NULL,
	ALTER COLUMN input_tokens DROP DEFAULT,
	ALTER COLUMN output_tokens DROP NOT NULL,
	ALTER COLUMN output_tokens DROP DEFAULT,
	ALTER COLUMN cache_read_tokens DROP NOT NULL,
	ALTER COLUMN cache_read_tokens DROP DEFAULT,
	ALTER COLUMN cache_write_tokens DROP NOT NULL,
	ALTER COLUMN cache_write_tokens DROP DEFAULT,
	ALTER COLUMN reasoning_tokens DROP NOT NULL,
	ALTER COLUMN reasoning_tokens DROP DEFAULT,
	ALTER COLUMN cost_usd DROP NOT NULL,
	ALTER COLUMN cost_usd DROP DEFAULT;
