package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// What SQLite keeps in memory, and how much of it can go back
//
// Each connection has its own page cache: up to 2,000 KiB of pages
// (SQLite's default cache_size of -2000), filled by the writer's inserts
// and the dashboard's reads and kept after them. The driver allocates it,
// like all of SQLite's memory, outside the Go heap, in 64 KiB regions it
// maps itself, and a 4 KiB page with its header takes an 8 KiB slot: a
// full cache holds 3–4 MB of the resident set. Neither the Go collector
// nor debug.FreeOSMemory sees it.
//
// PRAGMA shrink_memory empties the cache of the connection it runs on
// (every page no statement holds). The regions left empty go back to the
// driver's allocator, which keeps the newest 4 MB of them mapped for reuse
// and hands the rest back to the system. So one connection's cache mostly
// stays resident, while several full ones (the dashboard's concurrent
// reads leave such a pool behind) give back all but those 4 MB:
// TestReleaseMemory, four full caches, 18.5 → 7.9 MB. The next statement
// reads its pages again from the operating system's file cache or from
// the write-ahead log.
//
// The database file is not memory-mapped (mmap_size stays at SQLite's
// default of 0, TestNotMemoryMapped): pages are read with pread into the
// page cache. Only the write-ahead log's index (the -shm file) is mapped,
// shared, and counts as file-backed resident memory: a few 32 KiB
// regions, for a log that stays under WALCheckpointPages pages.

// ReleaseMemory empties the page cache of every idle connection of db, so
// a gateway that has stopped serving gives back what its request log's
// burst of inserts cached. Connections in use are left alone; with none
// idle it does nothing. It is meant for a quiet moment: a connection
// released this way reads its next pages from the file again.
func ReleaseMemory(ctx context.Context, db *sql.DB) error {
	idle := db.Stats().Idle
	// Hold every connection taken until all are done, so that each call
	// to Conn returns another idle one rather than the one just used.
	conns := make([]*sql.Conn, 0, idle)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var errs []error
	for range idle {
		c, err := db.Conn(ctx)
		if err != nil {
			errs = append(errs, err)
			break
		}
		conns = append(conns, c)
		if _, err := c.ExecContext(ctx, "PRAGMA shrink_memory"); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite shrink_memory: %w", err)
	}
	return nil
}
