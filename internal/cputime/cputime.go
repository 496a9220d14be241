//go:build unix

// Package cputime reads the CPU time the kernel has charged to this
// process or thread. Benchmarks report it next to wall time: on a busy
// machine it varies far less, since wall time also counts the time other
// processes held the processor.
package cputime

import (
	"syscall"
	"time"
)

// Process is the user and system CPU time this process has used.
func Process() time.Duration {
	return usage(syscall.RUSAGE_SELF)
}

// Thread is the user and system CPU time the calling thread has used
// (Linux; zero elsewhere). Lock the goroutine to its thread around the
// measured code for it to mean anything.
func Thread() time.Duration {
	return usage(rusageThread)
}

func usage(who int) time.Duration {
	if who < 0 {
		return 0
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
