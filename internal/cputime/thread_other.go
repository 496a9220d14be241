//go:build unix && !linux

package cputime

const rusageThread = -1 // not measured
