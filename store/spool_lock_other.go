//go:build !unix

package store

// lockDir is a no-op where flock is not available; do not point two
// gateways at one state directory there.
func lockDir(string) (func(), error) { return func() {}, nil }

// lockFile is a no-op where flock is not available; do not point two
// gateways at one SQLite database there.
func lockFile(string) (func(), error) { return func() {}, nil }
