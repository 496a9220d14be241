//go:build !linux

package engine

// threadCPU is not measured here: benchmarks then report 0 cpu-ns/op.
func threadCPU() int64 { return 0 }
