//go:build !linux

package main

// residentFileBytes is 0 where the executable's pages are not dropped.
func residentFileBytes() uint64 { return 0 }
