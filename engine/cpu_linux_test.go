package engine

import "syscall"

// threadCPU is the CPU time the calling thread has used, in nanoseconds
// (getrusage's RUSAGE_THREAD).
func threadCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
