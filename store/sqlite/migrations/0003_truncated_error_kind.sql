-- truncated: the raw bodies or the recorded response were cut at the
-- gateway's memory bounds. error_kind: who failed, as the error kinds of
-- the API error shapes name it ('upstream_error' when the provider did).
ALTER TABLE requests ADD COLUMN truncated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN error_kind TEXT NOT NULL DEFAULT '';
