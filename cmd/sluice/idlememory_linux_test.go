package main

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// countingCache is a memoryReleaser that counts its calls and fails.
type countingCache struct{ calls int }

func (c *countingCache) ReleaseMemory(context.Context) error {
	c.calls++
	return errors.New("database is locked")
}

// TestReleaseIdle: one idle trim asks the store to release its cache once
// and, even when the store fails, drops the executable's pages that
// serving mapped back in.
func TestReleaseIdle(t *testing.T) {
	// Run a command, as a burst of requests would, so that code and
	// read-only data of the executable are resident again.
	var out strings.Builder
	if code := run(t.Context(), []string{"config", "default"}, &out, &out); code != 0 {
		t.Fatalf("config default exit %d\n%s", code, out.String())
	}
	before := rssFileKB(t)
	cache := new(countingCache)
	releaseIdle(t.Context(), cache, nil)
	after := rssFileKB(t)
	if cache.calls != 1 {
		t.Errorf("the store was asked %d times to release its memory, want once", cache.calls)
	}
	if after >= before {
		t.Errorf("resident file pages %d kB before the trim, %d kB after: the executable's pages were not dropped", before, after)
	}
	t.Logf("resident file pages %d → %d kB", before, after)
}

// TestResidentFileBytes: what the trimmer reads as mapped pages follows
// the executable's pages that a trim drops and that running maps back.
func TestResidentFileBytes(t *testing.T) {
	var out strings.Builder
	if code := run(t.Context(), []string{"config", "default"}, &out, &out); code != 0 {
		t.Fatalf("config default exit %d\n%s", code, out.String())
	}
	before := residentFileBytes()
	releaseIdle(t.Context(), nil, nil)
	after := residentFileBytes()
	t.Logf("file-backed resident %d → %d kB (RssFile now %d kB)", before>>10, after>>10, rssFileKB(t))
	if before == 0 || after >= before {
		t.Errorf("file-backed resident %d bytes before a trim, %d after: want a reading that drops with the trim", before, after)
	}
	if r := uint64(rssFileKB(t)) << 10; after > 2*r+1<<20 {
		t.Errorf("read %d bytes, RssFile %d: not the same measure", after, r)
	}
}
