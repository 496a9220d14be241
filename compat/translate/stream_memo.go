package translate

import (
	"cmp"
	"slices"

	"github.com/sluice-gateway/sluice/internal/jsonbytes"
)

// The content chunks of a chat stream repeat one another but for the
// delta's text and, from OpenAI, a random "obfuscation" string: the same
// id, model, keys, indexes and nulls. Skimming every chunk from its first
// byte was most of what a translated stream cost, so a chunk is first
// compared with the last one the fast reader read: where the two differ
// only inside the strings the reader took as text or passed over at the
// top level, the new chunk reads as the last one did but for those
// texts, which are taken at their new places.
//
// Why that holds: the reader is a function of the bytes it has read so
// far. Up to the first such string the two chunks are the same bytes, so
// the reader stands at the same place in the same state; there it calls
// the same function (ValidString for a text, SkimValue for a skipped
// member) that the replay calls to find where the new string ends, and
// past it the bytes are again the same as those that followed in the
// last chunk. Only the text read differs. FuzzChunkMemo holds the replay
// to the reader.

// chunkMemoMax bounds the chunk a memo keeps: content chunks are a few
// hundred bytes, and an open stream holds its copy while it idles.
const chunkMemoMax = 1024

// chunkMemo is the last chunk the fast reader read, with the strings in
// it that may differ in the next.
type chunkMemo struct {
	last  []byte
	spans []memoSpan // in last, in order
	ok    bool
	// Where the reader is, for the texts it records: the choice, and the
	// tool call within it.
	choice, tool int
}

// memoSpan is a string in the memo's chunk: from its opening quote to
// just past its closing one.
type memoSpan struct {
	start, end int
	// field is the text the reader took the string as (fieldContent …
	// fieldArguments of choice and tool), or skipped for a top-level
	// member passed over.
	field, choice, tool int
}

const (
	skipped = iota - 1
	fieldContent
	fieldRefusal
	fieldReasoning
	fieldArguments
)

// reset starts the record of a chunk being read.
func (m *chunkMemo) reset() {
	m.ok, m.spans = false, m.spans[:0]
}

// text is fastText, noting where a string read as text lies.
func (m *chunkMemo) text(data []byte, vs int, t *streamText, field int) (int, error) {
	end, err := fastText(data, vs, t)
	if err == nil && t.raw != nil {
		m.spans = append(m.spans, memoSpan{start: vs, end: end, field: field, choice: m.choice, tool: m.tool})
	}
	return end, err
}

// keep completes the record of the chunk the fast reader just read into
// c: the strings of the top-level members it passed over join the texts,
// and the chunk is copied. A chunk without text is not kept, nor one too
// large to hold while the stream idles.
func (m *chunkMemo) keep(data []byte) {
	if len(m.spans) == 0 || len(data) > chunkMemoMax {
		return
	}
	_, err := jsonbytes.SkimMembers(data, jsonbytes.SkipSpace(data, 0), func(k jsonbytes.Key, _ bool, vs int) (int, error) {
		end, err := jsonbytes.SkimValue(data, vs)
		if err == nil && data[vs] == '"' && plainNameIndex(k, chatChunkFields) < 0 {
			m.spans = append(m.spans, memoSpan{start: vs, end: end, field: skipped})
		}
		return end, err
	})
	if err != nil {
		return
	}
	slices.SortFunc(m.spans, func(a, b memoSpan) int { return cmp.Compare(a.start, b.start) })
	m.last = append(m.last[:0], data...)
	m.ok = true
}

// replay reads data into c, which holds the memo's chunk as read, when
// data differs from that chunk only inside the memo's strings, and
// reports whether it did. Texts may be changed when it did not; the
// caller then reads data afresh.
func (m *chunkMemo) replay(data []byte, c *chatChunk) bool {
	if !m.ok {
		return false
	}
	i, j := 0, 0 // offsets in data and last
	for _, s := range m.spans {
		n := s.start - j
		if len(data)-i <= n || string(data[i:i+n]) != string(m.last[j:s.start]) || data[i+n] != '"' {
			return false
		}
		i += n
		if s.field == skipped {
			end, err := jsonbytes.SkimValue(data, i)
			if err != nil {
				return false
			}
			i, j = end, s.end
			continue
		}
		end, _, err := jsonbytes.ValidString(data, i)
		if err != nil {
			return false
		}
		*s.text(c) = streamText{raw: data[i:end:end]}
		i, j = end, s.end
	}
	return string(data[i:]) == string(m.last[j:])
}

// text is the text of c that s was read as.
func (s memoSpan) text(c *chatChunk) *streamText {
	d := &c.Choices[s.choice].Delta
	switch s.field {
	case fieldContent:
		return &d.Content
	case fieldRefusal:
		return &d.Refusal
	case fieldReasoning:
		return &d.ReasoningContent
	}
	return &d.ToolCalls[s.tool].Function.Arguments
}
