package compat

import (
	"bytes"
	"encoding/binary"
	"math/bits"

	"github.com/sluice-gateway/sluice/internal/jsonbytes"
)

// The content chunks of a chat stream repeat one another but for the
// text of the delta (and, from some providers, a random "obfuscation"
// string): the same id, model, keys and nulls. plainMemo remembers the
// last chunk found plain, so the next one is compared with it, a word at
// a time, instead of having every key looked up again.

// plainMemoMax bounds the chunk a plainMemo keeps: content chunks are a
// few hundred bytes, and an open stream holds its copy while it idles.
const plainMemoMax = 768

// plainMemo is the last chunk without backslashes that keysUnescaped
// found plain.
type plainMemo struct {
	last []byte
	ok   bool
}

// stop is plainChunk with the memo, telling which key turned the chunk
// away as keysStop does: -1 for a plain chunk.
func (m *plainMemo) stop(data []byte) int {
	if bytes.IndexByte(data, '\\') >= 0 {
		return plainChunkStop(data)
	}
	if m.ok && sameButStrings(m.last, data) {
		return -1
	}
	if stop := keysStop(data, true); stop >= 0 {
		return stop
	}
	m.ok = len(data) <= plainMemoMax
	if m.ok {
		m.last = append(m.last[:0], data...)
	}
	return -1
}

// sameButStrings reports whether c is prev, both without backslashes,
// with the text between some pairs of consecutive quotes replaced, where
// that text holds no colon on either side and no colon follows the
// closing quote (the text is no key). Then keysUnescaped finds the same
// keys before the same colons in both, reading the same bytes after
// them, so c is plain when prev is: every colon lies outside the
// replaced text, its key is found from its closing quote back to the
// quote before it, both in text the two share (a key closed by a
// replaced text's closing quote would be that text, which is why no
// colon may follow one), and a value read after a colon up to a replaced
// text would take in its opening quote, and so not be null in either.
// FuzzSameButStrings holds it to keysUnescaped.
func sameButStrings(prev, c []byte) bool {
	i, j := 0, 0 // offsets in c and prev
	for {
		n := commonPrefix(c[i:], prev[j:])
		i, j = i+n, j+n
		if i == len(c) || j == len(prev) {
			return i == len(c) && j == len(prev)
		}
		open := bytes.LastIndexByte(c[:i], '"') // in the shared text
		if open < 0 {
			return false
		}
		e := bytes.IndexByte(c[i:], '"')
		f := bytes.IndexByte(prev[j:], '"')
		if e < 0 || f < 0 ||
			bytes.IndexByte(c[open+1:i+e], ':') >= 0 || bytes.IndexByte(prev[j:j+f], ':') >= 0 {
			return false
		}
		i, j = i+e, j+f // the closing quotes
		if k := jsonbytes.SkipSpace(c, i+1); k < len(c) && c[k] == ':' {
			return false
		}
	}
}

// commonPrefix returns the length of the longest common prefix of a and
// b: equal blocks of 32 bytes are skipped with the runtime's vector
// comparison, the rest compared eight bytes at a time.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	a, b = a[:n], b[:n]
	i := 0
	for i+32 <= n && string(a[i:i+32]) == string(b[i:i+32]) {
		i += 32
	}
	for ; i+8 <= n; i += 8 {
		if x := binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:]); x != 0 {
			return i + bits.TrailingZeros64(x)/8
		}
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}
