//go:build !race

package sse

const splitStride = 1
