package compat

import (
	"testing"
)

// TestRecorderComplete: every recorded answer, read whole, is complete;
// the first half of a stream is not, so the gateway can tell a client that
// hung up after the end of an answer from one that left in the middle.
func TestRecorderComplete(t *testing.T) {
	for _, f := range loadFixtures(t) {
		t.Run(f.key(), func(t *testing.T) {
			if res := record(f, RecorderOptions{}, f.data); !res.Complete {
				t.Error("a whole answer is not complete")
			}
			if !f.stream() {
				return
			}
			if res := record(f, RecorderOptions{}, f.data[:len(f.data)/2]); res.Complete {
				t.Error("half a stream is complete")
			}
		})
	}
}
