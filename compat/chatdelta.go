package compat

import (
	"strconv"

	"github.com/sluice-gateway/sluice/internal/jsonbytes"
)

// A streamed tool call arrives as a chunk per fragment of its arguments,
// each of which the skim turns away (it does not read tool calls): the
// general decode then read every member of every chunk by reflection, an
// allocation per string. scanDelta reads such a chunk in one pass that
// also checks it is valid JSON, taking from it what event's decode
// applies to a stream not rebuilt (choices' index, finish reason, role
// and tool-call fragments, and the model), and refuses what it does not
// model: usage, an error, a repeated member, a value of a type the decode
// would refuse or read in a way this scan does not (a choice or call that
// is not an object, a number that is not a plain integer), and more than a
// few choices or calls. FuzzScanDelta holds it to the general decode.

// deltaMax bounds the choices and the calls a scanned chunk holds.
const deltaMax = 4

// deltaCall is one tool-call fragment: its strings as their JSON
// literals (quotes included; nil when absent or null).
type deltaCall struct {
	index          int
	hasIndex       bool
	id, name, args []byte
	idPlain        bool
	namePlain      bool
	argsPlain      bool
}

// deltaChoice is one choice of a chunk; its calls are calls[first:end] of
// the chunk's.
type deltaChoice struct {
	index       int
	finish      []byte // the literal, nil when absent or null
	finishPlain bool
	hasDelta    bool
	role        []byte
	rolePlain   bool
	first, end  int
}

// deltaChunk is what scanDelta reads of a chunk.
type deltaChunk struct {
	model      []byte
	modelPlain bool
	choices    [deltaMax]deltaChoice
	nChoices   int
	calls      [deltaMax]deltaCall
	nCalls     int
}

// The members scanDelta reads at each level, as chatResponse, its
// choices, chatMessage, chatToolCall and its function name them.
var (
	deltaTopNames    = []string{"id", "object", "created", "model", "system_fingerprint", "service_tier", "usage", "choices", "error"}
	deltaChoiceNames = []string{"index", "message", "delta", "finish_reason"}
	deltaMsgNames    = []string{"role", "content", "refusal", "reasoning_content", "tool_calls"}
	deltaCallNames   = []string{"index", "id", "type", "function"}
	deltaFuncNames   = []string{"name", "arguments"}
)

// seenOnce marks member f of an object as read; a second one (which the
// decode would merge or let win) is left to the decode.
func seenOnce(seen *uint16, f int) bool {
	if *seen&(1<<f) != 0 {
		return false
	}
	*seen |= 1 << f
	return true
}

// deltaString reads a string or null at vs: lit is the string's literal,
// nil for null.
func deltaString(data []byte, vs int) (lit []byte, plain bool, end int, err error) {
	if vs < len(data) && data[vs] == 'n' {
		end, err = jsonbytes.ValidValue(data, vs, nil)
		return nil, false, end, err
	}
	if vs >= len(data) || data[vs] != '"' {
		return nil, false, 0, errUnmodelled
	}
	end, plain, err = jsonbytes.ValidString(data, vs)
	if err != nil {
		return nil, false, 0, err
	}
	return data[vs:end], plain, end, nil
}

// deltaInt reads an integer that fits bits, or null (isNull).
func deltaInt(data []byte, vs, bits int) (n int64, isNull bool, end int, err error) {
	if vs < len(data) && data[vs] == 'n' {
		end, err = jsonbytes.ValidValue(data, vs, nil)
		return 0, true, end, err
	}
	end, integer, err := jsonbytes.ValidNumber(data, vs)
	if err != nil || !integer {
		return 0, false, 0, errUnmodelled
	}
	n, err = strconv.ParseInt(string(data[vs:end]), 10, bits)
	if err != nil {
		return 0, false, 0, errUnmodelled
	}
	return n, false, end, nil
}

// deltaNull reads a value the scan accepts only as null.
func deltaNull(data []byte, vs int) (int, error) {
	if vs >= len(data) || data[vs] != 'n' {
		return 0, errUnmodelled
	}
	return jsonbytes.ValidValue(data, vs, nil)
}

// literalString is the value of a string literal from deltaString.
func literalString(lit []byte, plain bool) string {
	if plain {
		return string(lit[1 : len(lit)-1])
	}
	s, _, _ := jsonbytes.StringAt(lit, 0)
	return s
}

// scanDelta reads a chunk into out; ok is false for anything it leaves to
// the general decode.
func scanDelta(data []byte, out *deltaChunk) (ok bool) {
	start := jsonbytes.SkipSpace(data, 0)
	if start >= len(data) || data[start] != '{' {
		return false
	}
	var seen uint16
	end, err := jsonbytes.ValidMembers(data, start, func(k jsonbytes.Key, _, vs int) (int, error) {
		f := k.FoldIndex(deltaTopNames)
		if f < 0 {
			return jsonbytes.ValidValue(data, vs, nil)
		}
		if !seenOnce(&seen, f) {
			return 0, errUnmodelled
		}
		switch f {
		case 2: // created
			_, _, e, err := deltaInt(data, vs, 64)
			return e, err
		case 3: // model
			lit, plain, e, err := deltaString(data, vs)
			out.model, out.modelPlain = lit, plain
			return e, err
		case 6, 8: // usage, error
			return deltaNull(data, vs)
		case 7: // choices
			if vs < len(data) && data[vs] == 'n' {
				return jsonbytes.ValidValue(data, vs, nil)
			}
			if vs >= len(data) || data[vs] != '[' {
				return 0, errUnmodelled
			}
			return jsonbytes.ValidElements(data, vs, func(es int) (int, error) {
				return scanDeltaChoice(data, es, out)
			})
		}
		_, _, e, err := deltaString(data, vs) // id, object, system_fingerprint, service_tier
		return e, err
	})
	return err == nil && jsonbytes.SkipSpace(data, end) == len(data)
}

// scanDeltaChoice reads the choice at i.
func scanDeltaChoice(data []byte, i int, out *deltaChunk) (int, error) {
	if i >= len(data) || data[i] != '{' || out.nChoices == deltaMax {
		return 0, errUnmodelled
	}
	ch := &out.choices[out.nChoices]
	out.nChoices++
	*ch = deltaChoice{first: out.nCalls, end: out.nCalls}
	var seen uint16
	return jsonbytes.ValidMembers(data, i, func(k jsonbytes.Key, _, vs int) (int, error) {
		f := k.FoldIndex(deltaChoiceNames)
		if f < 0 {
			return jsonbytes.ValidValue(data, vs, nil)
		}
		if !seenOnce(&seen, f) {
			return 0, errUnmodelled
		}
		switch f {
		case 0: // index
			n, _, e, err := deltaInt(data, vs, strconv.IntSize)
			ch.index = int(n)
			return e, err
		case 1: // message
			return deltaNull(data, vs)
		case 2: // delta
			if vs < len(data) && data[vs] == 'n' {
				return jsonbytes.ValidValue(data, vs, nil)
			}
			if vs >= len(data) || data[vs] != '{' {
				return 0, errUnmodelled
			}
			ch.hasDelta = true
			return scanDeltaMessage(data, vs, ch, out)
		}
		lit, plain, e, err := deltaString(data, vs) // finish_reason
		ch.finish, ch.finishPlain = lit, plain
		return e, err
	})
}

// scanDeltaMessage reads a choice's delta at i.
func scanDeltaMessage(data []byte, i int, ch *deltaChoice, out *deltaChunk) (int, error) {
	var seen uint16
	return jsonbytes.ValidMembers(data, i, func(k jsonbytes.Key, _, vs int) (int, error) {
		f := k.FoldIndex(deltaMsgNames)
		if f < 0 {
			return jsonbytes.ValidValue(data, vs, nil)
		}
		if !seenOnce(&seen, f) {
			return 0, errUnmodelled
		}
		switch f {
		case 0: // role
			lit, plain, e, err := deltaString(data, vs)
			ch.role, ch.rolePlain = lit, plain
			return e, err
		case 4: // tool_calls
			if vs < len(data) && data[vs] == 'n' {
				return jsonbytes.ValidValue(data, vs, nil)
			}
			if vs >= len(data) || data[vs] != '[' {
				return 0, errUnmodelled
			}
			return jsonbytes.ValidElements(data, vs, func(es int) (int, error) {
				e, err := scanDeltaCall(data, es, out)
				ch.end = out.nCalls
				return e, err
			})
		}
		_, _, e, err := deltaString(data, vs) // content, refusal, reasoning_content
		return e, err
	})
}

// scanDeltaCall reads the tool-call fragment at i.
func scanDeltaCall(data []byte, i int, out *deltaChunk) (int, error) {
	if i >= len(data) || data[i] != '{' || out.nCalls == deltaMax {
		return 0, errUnmodelled
	}
	tc := &out.calls[out.nCalls]
	out.nCalls++
	*tc = deltaCall{}
	var seen uint16
	return jsonbytes.ValidMembers(data, i, func(k jsonbytes.Key, _, vs int) (int, error) {
		f := k.FoldIndex(deltaCallNames)
		if f < 0 {
			return jsonbytes.ValidValue(data, vs, nil)
		}
		if !seenOnce(&seen, f) {
			return 0, errUnmodelled
		}
		switch f {
		case 0: // index
			n, isNull, e, err := deltaInt(data, vs, strconv.IntSize)
			tc.index, tc.hasIndex = int(n), !isNull
			return e, err
		case 1: // id
			lit, plain, e, err := deltaString(data, vs)
			tc.id, tc.idPlain = lit, plain
			return e, err
		case 2: // type
			_, _, e, err := deltaString(data, vs)
			return e, err
		}
		// function
		if vs < len(data) && data[vs] == 'n' {
			return jsonbytes.ValidValue(data, vs, nil)
		}
		if vs >= len(data) || data[vs] != '{' {
			return 0, errUnmodelled
		}
		var fseen uint16
		return jsonbytes.ValidMembers(data, vs, func(k jsonbytes.Key, _, vs int) (int, error) {
			f := k.FoldIndex(deltaFuncNames)
			if f < 0 {
				return jsonbytes.ValidValue(data, vs, nil)
			}
			if !seenOnce(&fseen, f) {
				return 0, errUnmodelled
			}
			lit, plain, e, err := deltaString(data, vs)
			if f == 0 {
				tc.name, tc.namePlain = lit, plain
			} else {
				tc.args, tc.argsPlain = lit, plain
			}
			return e, err
		})
	})
}

// applyDelta records a scanned chunk as event's decode does for a stream
// not rebuilt.
func (c *chatCollector) applyDelta(d *deltaChunk) {
	if len(d.model) > 2 { // not null, not ""
		if !d.modelPlain || string(d.model[1:len(d.model)-1]) != c.model {
			if m := literalString(d.model, d.modelPlain); m != "" {
				c.model = m
			}
		}
	}
	for i := range d.choices[:d.nChoices] {
		ch := &d.choices[i]
		cc := c.choice(ch.index)
		if ch.finish != nil {
			if s := literalString(ch.finish, ch.finishPlain); s != "" {
				cc.finish = s
			}
		}
		if !ch.hasDelta {
			continue
		}
		if ch.role != nil {
			if !ch.rolePlain || string(ch.role[1:len(ch.role)-1]) != cc.role {
				if r := literalString(ch.role, ch.rolePlain); r != "" {
					cc.role = r
				}
			}
		}
		for j := ch.first; j < ch.end; j++ {
			c.toolFragment(cc, &d.calls[j])
		}
	}
}

// toolFragment is toolDelta for a scanned fragment.
func (c *chatCollector) toolFragment(cc *chatChoice, f *deltaCall) {
	var id, name string
	if f.id != nil {
		id = literalString(f.id, f.idPlain)
	}
	if f.name != nil {
		name = literalString(f.name, f.namePlain)
	}
	t := c.toolFor(cc, f.index, f.hasIndex, id, name)
	if t == nil || f.args == nil {
		return
	}
	if f.argsPlain {
		if args := f.args[1 : len(f.args)-1]; c.st.grow(len(args)) {
			t.args.Write(args)
		}
		return
	}
	if args := literalString(f.args, false); c.st.grow(len(args)) {
		t.args.WriteString(args)
	}
}
