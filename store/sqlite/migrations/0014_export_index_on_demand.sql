-- requests_export_unnumbered finds the rows an exporter has yet to number.
-- Rows stay unnumbered until an exporter numbers them, so without one the
-- index held every row under the key of requests_time: a second copy every
-- insert and every purge paid for. The first numbering creates it again
-- (store.NumberForExport), so only a database that exports keeps it.
DROP INDEX IF EXISTS requests_export_unnumbered;
