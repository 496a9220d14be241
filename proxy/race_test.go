//go:build race

package proxy

// raceEnabled shrinks the load of the memory-bound test, which the race
// detector slows many times over.
const raceEnabled = true
