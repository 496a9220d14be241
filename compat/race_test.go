//go:build race

package compat

// raceEnabled thins out the exhaustive split tests, which the race
// detector slows twentyfold; without -race they cover every position.
const raceEnabled = true
