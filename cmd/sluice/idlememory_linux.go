package main

import (
	"bytes"
	"os"
	"strconv"
	"sync"
)

// statm is /proc/self/statm, opened once: the trimmer reads it every
// tick, and a read of an open file allocates nothing.
var statm = sync.OnceValue(func() *os.File {
	f, err := os.Open("/proc/self/statm")
	if err != nil {
		return nil
	}
	return f
})

// residentFileBytes is the process's resident memory backed by files
// (statm's "shared": the executable's mapped pages, libraries, the
// SQLite write-ahead log's index), 0 when it cannot be read.
func residentFileBytes() uint64 {
	f := statm()
	if f == nil {
		return 0
	}
	var buf [160]byte
	n, _ := f.ReadAt(buf[:], 0)
	fields := bytes.Fields(buf[:n])
	if len(fields) < 3 {
		return 0
	}
	pages, err := strconv.ParseUint(string(fields[2]), 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}
