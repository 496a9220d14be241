package storetest

import (
	"bytes"
	"os/exec"
	"testing"
)

// Tmpfs mounts a tmpfs of the given size ("2m") in a temporary directory
// and unmounts it when the test ends: a filesystem a test can fill. It
// skips the test where mounting is not possible (not root, no mount).
func Tmpfs(t testing.TB, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// GrowTmpfs resizes a tmpfs Tmpfs mounted, as an operator freeing disk
// space would.
func GrowTmpfs(t testing.TB, dir, size string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,size="+size, dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s: %v: %s", dir, err, out)
	}
}
