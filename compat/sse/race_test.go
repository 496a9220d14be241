//go:build race

package sse

// splitStride thins out the exhaustive split test, which the race detector
// slows twentyfold; without -race it covers every position.
const splitStride = 8
