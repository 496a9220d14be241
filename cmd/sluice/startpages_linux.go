package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Why sluice unmaps its executable after start
//
// The executable is about 110 MB, 33 MB of it code and 41 MB read-only
// data (type descriptors, strings, the pclntab the runtime reads to walk
// stacks). Starting runs some 480 package initialisers spread across all of
// it, and the kernel maps more than each page touched: fault-around maps
// the neighbouring pages already in the page cache (64 KB, or the whole
// large folio since Linux 6.18), and a binary just written to disk sits in
// the page cache as 2 MB folios that are mapped whole (FilePmdMapped in
// /proc/PID/smaps). So most of the file ended up resident (about 45–65 MB
// of a 60–80 MB resident set) for code that ran once.
//
// releaseExecutablePages drops those mappings once serving is ready. The
// pages stay in the page cache, so what the request path uses maps back in
// on first touch (a minor fault, no disk read), and only that is resident
// afterwards. Serving still maps back more than it runs, by the same
// fault-around: about 21 MB after a burst of 20,000 requests, 9–15 MB
// after 200 (31–37 MB either way for a binary the linker has just
// written). So the idle trimmer (idlememory.go) drops the
// mappings again once traffic stops. The executable's private writable
// mapping (Go's data and bss) is never touched, nor a read-only one
// holding a copied page (relocations of a position-independent build, a
// debugger's breakpoint): those copies exist only in memory.

// exeMapping is one mapping of the executable that may be dropped.
type exeMapping struct {
	start, end uint64
}

// releaseExecutablePages unmaps the resident pages of the executable's
// read-only mappings, and asks the kernel not to map them back as huge
// pages (which would bring back 2 MB for each page touched). It returns
// how many bytes of address space it dropped.
func releaseExecutablePages() (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		return 0, fmt.Errorf("executable: %w", err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	maps, err := exeReadOnlyMappings(f, uint64(st.Dev), st.Ino)
	f.Close()
	if err != nil {
		return 0, fmt.Errorf("/proc/self/smaps: %w", err)
	}
	var dropped uint64
	for _, m := range maps {
		n := uintptr(m.end - m.start)
		// Without this, a fault in a 2 MB folio of the page cache maps all
		// of it again. Refused only by kernels without transparent huge
		// pages, where there is nothing to undo.
		unix.Syscall(unix.SYS_MADVISE, uintptr(m.start), n, unix.MADV_NOHUGEPAGE)
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, uintptr(m.start), n, unix.MADV_DONTNEED); e != 0 {
			return dropped, fmt.Errorf("madvise %#x-%#x: %w", m.start, m.end, e)
		}
		dropped += m.end - m.start
	}
	return dropped, nil
}

// exeReadOnlyMappings reads an smaps listing and returns the private,
// read-only mappings of the file on device dev with inode ino that hold no
// anonymous (copied-on-write) page: the ones whose pages can be dropped and
// read back from the file unchanged.
func exeReadOnlyMappings(r io.Reader, dev, ino uint64) ([]exeMapping, error) {
	var out []exeMapping
	candidate := false // the mapping being read so far qualifies
	var cur exeMapping
	flush := func() {
		if candidate {
			out = append(out, cur)
		}
		candidate = false
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if m, perms, mdev, mino, ok := parseMapsHeader(line); ok {
			flush()
			cur = m
			candidate = (perms == "r-xp" || perms == "r--p") && mdev == dev && mino == ino && mino != 0
			continue
		}
		if !candidate {
			continue
		}
		if v, ok := bytes.CutPrefix(line, []byte("Anonymous:")); ok {
			if kb := bytes.Fields(v); len(kb) == 0 || string(kb[0]) != "0" {
				candidate = false
			}
		}
	}
	flush()
	return out, sc.Err()
}

// parseMapsHeader parses a mapping's first line in /proc/PID/smaps
// ("start-end perms offset major:minor inode path"); ok is false for the
// "Key: value" lines that follow it.
func parseMapsHeader(line []byte) (m exeMapping, perms string, dev, ino uint64, ok bool) {
	f := bytes.Fields(line)
	if len(f) < 5 || bytes.HasSuffix(f[0], []byte(":")) {
		return m, "", 0, 0, false
	}
	lo, hi, found := bytes.Cut(f[0], []byte("-"))
	if !found {
		return m, "", 0, 0, false
	}
	var err error
	if m.start, err = strconv.ParseUint(string(lo), 16, 64); err != nil {
		return m, "", 0, 0, false
	}
	if m.end, err = strconv.ParseUint(string(hi), 16, 64); err != nil || m.end <= m.start {
		return m, "", 0, 0, false
	}
	major, minor, found := bytes.Cut(f[3], []byte(":"))
	if !found {
		return m, "", 0, 0, false
	}
	maj, err1 := strconv.ParseUint(string(major), 16, 32)
	min, err2 := strconv.ParseUint(string(minor), 16, 32)
	ino, err3 := strconv.ParseUint(string(f[4]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return m, "", 0, 0, false
	}
	return m, string(f[1]), unix.Mkdev(uint32(maj), uint32(min)), ino, true
}
