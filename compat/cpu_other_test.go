//go:build !unix

package compat

import "time"

// processCPU is not measured here; benchmarks report zero.
func processCPU() time.Duration { return 0 }
