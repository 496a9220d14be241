// Package export moves the request log out of the gateway, complete and
// checkable: to an S3 bucket as zstd-compressed CBOR objects with a
// manifest each ([S3]), and to a SIEM's HTTP collector as NDJSON
// ([HTTP]).
//
// Every exporter reads the log in the store's export order and keeps its
// own cursor there (see [store.ExportLog]): a batch is recorded as pending
// before it is sent and the cursor moves only after the destination has
// it, so a crash or an outage resumes at the same batch, with no record
// lost and none stored twice across objects. On PostgreSQL several
// gateways may run exporters; a lock in the database lets one export at a
// time and another take over when it dies.
//
// [Verify] checks an archive against the store: every manifest's object
// is there with its hash, the number ranges follow each other with no
// gap, and every record the store numbered in a time range is in some
// object.
package export
