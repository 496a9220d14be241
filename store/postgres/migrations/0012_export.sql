-- export_seq: the request's place in the export order, given by the
-- exporter (never by the request path) in the order rows became visible,
-- so a row committed late (a long stream, a spool replay) still gets a
-- number above every number an exporter has already passed. NULL until
-- an exporter has numbered it. Numbers are dense: 1, 2, 3 ...
ALTER TABLE requests ADD COLUMN export_seq BIGINT;
CREATE UNIQUE INDEX requests_export_seq ON requests (export_seq) WHERE export_seq IS NOT NULL;
CREATE INDEX requests_export_unnumbered ON requests (time_us, id) WHERE export_seq IS NULL;

-- export_sequence holds the last number given; its one row is also the
-- lock that makes numbering one writer at a time.
CREATE TABLE export_sequence (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	last BIGINT NOT NULL
);
INSERT INTO export_sequence (id, last) VALUES (1, 0);

-- export_cursors: one row per exporter. done is the last number stored
-- at the destination; pending, when above done, is the last number of
-- the batch being stored, cut at pending_us: a restart stores exactly
-- that batch again (under the same object key) before cutting another.
CREATE TABLE export_cursors (
	name       TEXT PRIMARY KEY,
	done       BIGINT NOT NULL DEFAULT 0,
	pending    BIGINT NOT NULL DEFAULT 0,
	pending_us BIGINT NOT NULL DEFAULT 0,
	updated_us BIGINT NOT NULL DEFAULT 0
);
