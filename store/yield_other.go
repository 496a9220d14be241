//go:build !unix

package store

// pollWait is not available here: pipes are not read through the network
// poller, so giveWay falls back to runtime.Gosched.
func pollWait() bool { return false }
