//go:build unix

package store

import (
	"os"
	"sync"
)

// wakePipe carries giveWay's wake-up bytes; nil when it could not be made.
var wakePipe = sync.OnceValue(func() *[2]*os.File {
	r, w, err := os.Pipe()
	if err != nil {
		return nil
	}
	return &[2]*os.File{r, w}
})

var wakeByte = []byte{0}

// pollWait parks the calling goroutine until a network poll wakes it, and
// reports whether it did (false when no pipe could be made).
//
// Callers on several goroutines at once may read each other's bytes;
// every call writes one and reads one, so none waits for long.
func pollWait() bool {
	p := wakePipe()
	if p == nil {
		return false
	}
	go p[1].Write(wakeByte)
	var b [1]byte
	_, err := p[0].Read(b[:])
	return err == nil
}
