package main

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// smapsFixture is an smaps listing shaped like sluice's own: the
// executable (device fe:00, inode 4242) mapped as code, read-only data and
// data, then the heap, a shared library and the vdso.
const smapsFixture = `00400000-024c4000 r-xp 00000000 fe:00 4242                           /usr/bin/sluice
Size:              33552 kB
Rss:               27664 kB
Anonymous:             0 kB
FilePmdMapped:      4096 kB
024c4000-04dfa000 r--p 020c4000 fe:00 4242                           /usr/bin/sluice
Size:              42200 kB
Rss:               35416 kB
Anonymous:             0 kB
04dfa000-04fc9000 rw-p 049fa000 fe:00 4242                           /usr/bin/sluice
Size:               1852 kB
Rss:                 892 kB
Anonymous:           500 kB
04fc9000-0702d000 rw-p 00000000 00:00 0
Size:              33168 kB
Anonymous:           236 kB
7f0ad5c00000-7f0ad5c28000 r--p 00000000 fe:00 777                        /usr/lib/x86_64-linux-gnu/libc.so.6
Size:                160 kB
Anonymous:             0 kB
7ffd2b5f4000-7ffd2b5f6000 r-xp 00000000 00:00 0                          [vdso]
Size:                  8 kB
Anonymous:             0 kB
`

func TestExeReadOnlyMappings(t *testing.T) {
	dev := unix.Mkdev(0xfe, 0)
	tests := []struct {
		name  string
		smaps string
		dev   uint64
		ino   uint64
		want  []exeMapping
	}{
		{
			name:  "code and read-only data of the executable, not its data, the heap or a library",
			smaps: smapsFixture,
			dev:   dev, ino: 4242,
			want: []exeMapping{{0x400000, 0x24c4000}, {0x24c4000, 0x4dfa000}},
		},
		{
			name:  "a read-only mapping holding a copied page is kept (relocations, a breakpoint)",
			smaps: strings.Replace(smapsFixture, "Rss:               35416 kB\nAnonymous:             0 kB", "Rss:               35416 kB\nAnonymous:             4 kB", 1),
			dev:   dev, ino: 4242,
			want: []exeMapping{{0x400000, 0x24c4000}},
		},
		{
			name:  "same inode on another device is another file",
			smaps: smapsFixture,
			dev:   unix.Mkdev(0xfe, 1), ino: 4242,
		},
		{
			name:  "a library is not the executable",
			smaps: smapsFixture,
			dev:   dev, ino: 1,
		},
		{
			name:  "anonymous mappings (inode 0) are never chosen",
			smaps: smapsFixture,
			dev:   0, ino: 0,
		},
		{
			name:  "a mapping without its Anonymous line yet is still taken on its permissions",
			smaps: "00400000-00500000 r-xp 00000000 fe:00 4242 /usr/bin/sluice\n",
			dev:   dev, ino: 4242,
			want: []exeMapping{{0x400000, 0x500000}},
		},
		{
			name:  "a shared mapping of the file is not ours to drop",
			smaps: "00400000-00500000 r--s 00000000 fe:00 4242 /usr/bin/sluice\nAnonymous: 0 kB\n",
			dev:   dev, ino: 4242,
		},
		{
			name:  "garbage lines are skipped",
			smaps: "zzzz-0000 r-xp 0 fe:00 4242 x\nnot a mapping\n00400000-00300000 r-xp 00000000 fe:00 4242 backwards\n",
			dev:   dev, ino: 4242,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := exeReadOnlyMappings(strings.NewReader(tt.smaps), tt.dev, tt.ino)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %x, want %x", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %x, want %x", got, tt.want)
				}
			}
		})
	}
}

// rssFileKB is this process's resident file-backed memory.
func rssFileKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

// TestReleaseExecutablePages drops this test binary's own startup pages, as
// serve does, and checks that the resident set shrinks and that the
// program keeps running: code and read-only data come back from the file.
func TestReleaseExecutablePages(t *testing.T) {
	before := rssFileKB(t)
	n, err := releaseExecutablePages()
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no mapping of the executable found")
	}
	after := rssFileKB(t)
	if after >= before {
		t.Errorf("resident file pages %d kB before, %d kB after: nothing released", before, after)
	}
	// Code and read-only data read back: a command runs as before.
	var out strings.Builder
	if code := run(t.Context(), []string{"config", "default"}, &out, &out); code != 0 || !strings.Contains(out.String(), "providers") {
		t.Fatalf("after release: config default exit %d\n%s", code, out.String())
	}
	t.Logf("released %d MB of mappings; resident file pages %d → %d kB", n>>20, before, after)
}
