// Package sse splits a server-sent-events byte stream into events
// incrementally, as the bytes pass through the gateway.
//
// The Parser follows the WHATWG event-stream grammar (LF, CRLF or CR line
// endings, comments, the event, data and id fields) and keeps a partial
// event across calls, so it can be fed whatever chunks the network delivers.
// It never holds more than one event, and never more than MaxEventSize bytes
// of it.
package sse

import (
	"bytes"
	"errors"
)

// DefaultMaxEventSize bounds one event when Parser.MaxEventSize is zero.
const DefaultMaxEventSize = 8 << 20

// ErrEventTooLarge reports an event longer than the parser's bound. The
// parser skips the rest of that event and goes on with the next one.
var ErrEventTooLarge = errors.New("sse: event exceeds size limit")

// Event is one block of the stream, ended by a blank line.
//
// Data and Raw alias the parser's buffers or the bytes given to Feed: they
// are valid only during the callback that receives the event.
type Event struct {
	// Name is the event field ("" when absent; the spec's default is
	// "message").
	Name string
	// Data holds the data lines joined by "\n".
	Data []byte
	// ID is the id field, when one was sent.
	ID string
	// HasData reports whether the block had at least one data field. Blocks
	// without one (comments, keep-alives, stray blank lines) are not events
	// in the spec's sense; consumers usually skip them.
	HasData bool
	// Raw holds the exact bytes of the block, including its terminating
	// blank line, when the parser keeps raw bytes.
	Raw []byte
	// Oversize marks a fragment of a block that exceeded the size bound:
	// only Raw is set (when raw bytes are kept), fields are not parsed.
	Oversize bool
}

// Parser is an incremental server-sent-events parser. The zero value is
// ready to use. A Parser is not safe for concurrent use.
type Parser struct {
	// MaxEventSize bounds the bytes of one block; zero means
	// DefaultMaxEventSize.
	MaxEventSize int
	// KeepRaw makes every emitted Event carry its exact bytes, so that a
	// consumer can pass blocks through unchanged. Oversize blocks are then
	// emitted in fragments as their bytes arrive.
	KeepRaw bool

	line    []byte // current line, without terminator
	data    []byte // data buffer of the current block
	raw     []byte // raw bytes of the current block (KeepRaw)
	name    string
	id      string
	hasData bool
	size    int  // bytes of the current block so far
	over    bool // the current block exceeded the bound
	cr      bool // a line ended in CR at the end of the last Feed
	started bool // the current block has at least one byte

	lastName string // the last event name whole read, kept for the next
}

// Buffered reports the memory the parser holds for the partial block: its
// buffers' capacity, which never exceeds a few times MaxEventSize.
func (p *Parser) Buffered() int { return cap(p.line) + cap(p.data) + cap(p.raw) }

func (p *Parser) max() int {
	if p.MaxEventSize > 0 {
		return p.MaxEventSize
	}
	return DefaultMaxEventSize
}

// Feed consumes b and calls emit for every block that b completes. It
// consumes all of b even when it returns an error; ErrEventTooLarge is
// returned once for every oversize block that ends (or, with KeepRaw,
// starts being skipped) within b.
func (p *Parser) Feed(b []byte, emit func(Event)) error {
	var err error
	note := func(e error) {
		if e != nil && err == nil {
			err = e
		}
	}
	if p.cr && len(b) > 0 {
		// The previous Feed ended in CR: a LF now belongs to that line
		// ending, which is only complete now.
		p.cr = false
		if b[0] == '\n' {
			p.addRaw(b[:1], emit)
			b = b[1:]
		}
		note(p.endLine(emit))
	}
	for len(b) > 0 {
		if !p.started {
			if n := p.whole(b, emit); n > 0 {
				b = b[n:]
				continue
			}
		}
		i := lineEnd(b)
		if i < 0 {
			p.addLine(b)
			note(p.addRaw(b, emit))
			return err
		}
		p.addLine(b[:i])
		end := i + 1
		if b[i] == '\r' {
			if end == len(b) {
				// Cannot tell CR from CRLF yet.
				note(p.addRaw(b[:end], emit))
				p.cr = true
				return err
			}
			if b[end] == '\n' {
				end++
			}
		}
		note(p.addRaw(b[:end], emit))
		b = b[end:]
		note(p.endLine(emit))
	}
	return err
}

// whole emits the block at the start of b without copying it, when b holds
// all of it and it is of the common shape: LF line endings, at most one
// data line, within the size bound. It returns the bytes it consumed, or
// zero to leave b to the line-by-line path, which handles everything.
// Only called at a block boundary (nothing of the current block seen).
func (p *Parser) whole(b []byte, emit func(Event)) int {
	if b[0] == '\n' {
		return 0 // a blank line alone is a block of its own
	}
	end := blankLine(b)
	if end < 0 || end+2 > p.max() {
		return 0
	}
	block := b[:end+2]
	if bytes.IndexByte(block, '\r') >= 0 {
		return 0
	}
	var ev Event
	for rest := block[:end+1]; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		line := rest[:i]
		rest = rest[i+1:]
		if line[0] == ':' {
			continue // comment
		}
		name, value := splitField(line)
		switch string(name) {
		case "data":
			if ev.HasData {
				return 0 // several data lines are joined by the slow path
			}
			ev.Data, ev.HasData = value, true
		case "event":
			// Streams repeat a few event names: the last one is kept
			// rather than copied again.
			if string(value) != p.lastName {
				p.lastName = string(value)
			}
			ev.Name = p.lastName
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				ev.ID = string(value)
			}
		}
	}
	if p.KeepRaw {
		ev.Raw = block
	}
	emit(ev)
	return len(block)
}

// blankLine is bytes.Index(b, []byte("\n\n")), a search for each line's
// end: an event's lines are long, so this takes one or two searches where
// bytes.Index steps through candidates of its own.
func blankLine(b []byte) int {
	for i := 0; ; i++ {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j
		if i+1 < len(b) && b[i+1] == '\n' {
			return i
		}
	}
}

// End completes the stream: a line ended by a lone CR is processed and a
// block that has data but lacks its final blank line is dispatched. (The
// spec discards such a block; a recorder would rather not lose the last
// usage report of an upstream that omits the final blank line.) Other
// pending bytes are emitted as a data-less block when raw bytes are kept.
func (p *Parser) End(emit func(Event)) error {
	var err error
	if p.cr {
		p.cr = false
		err = p.endLine(emit)
	}
	if len(p.line) > 0 && !p.over {
		p.field()
	}
	if p.over && !p.KeepRaw && err == nil {
		err = ErrEventTooLarge
	}
	if p.started {
		p.dispatch(emit)
	}
	return err
}

func (p *Parser) addLine(b []byte) {
	if !p.over {
		p.line = append(p.line, b...)
	}
}

// addRaw accounts for bytes of the current block and enforces the bound.
func (p *Parser) addRaw(b []byte, emit func(Event)) error {
	p.started = true
	p.size += len(b)
	if p.over {
		if p.KeepRaw {
			emit(Event{Raw: b, Oversize: true})
		}
		return nil
	}
	if p.KeepRaw {
		p.raw = append(p.raw, b...)
	}
	if p.size <= p.max() {
		return nil
	}
	p.over = true
	if p.KeepRaw {
		emit(Event{Raw: p.raw, Oversize: true})
		return ErrEventTooLarge
	}
	p.line, p.data = p.line[:0], p.data[:0]
	return nil
}

// endLine processes the complete current line.
func (p *Parser) endLine(emit func(Event)) error {
	if len(p.line) == 0 {
		over := p.over
		p.dispatch(emit)
		if over && !p.KeepRaw {
			return ErrEventTooLarge
		}
		return nil
	}
	if !p.over {
		p.field()
	}
	p.line = p.line[:0]
	return nil
}

// splitField splits a field line at its first colon, dropping one space
// after it; a line without a colon is a field name with an empty value.
func splitField(line []byte) (name, value []byte) {
	i := bytes.IndexByte(line, ':')
	if i < 0 {
		return line, nil
	}
	value = line[i+1:]
	if len(value) > 0 && value[0] == ' ' {
		value = value[1:]
	}
	return line[:i], value
}

// field interprets p.line as a field of the current block.
func (p *Parser) field() {
	line := p.line
	if line[0] == ':' {
		return // comment
	}
	name, value := splitField(line)
	switch string(name) {
	case "data":
		p.data = append(p.data, value...)
		p.data = append(p.data, '\n')
		p.hasData = true
	case "event":
		p.name = string(value)
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			p.id = string(value)
		}
	}
}

// dispatch emits the current block and resets the state for the next one.
func (p *Parser) dispatch(emit func(Event)) {
	// An oversize block's bytes were emitted as fragments as they came.
	if !p.over {
		ev := Event{Name: p.name, ID: p.id, HasData: p.hasData}
		if p.hasData {
			ev.Data = p.data[:len(p.data)-1]
		}
		if p.KeepRaw {
			ev.Raw = p.raw
		}
		emit(ev)
	}
	p.reset()
}

func (p *Parser) reset() {
	const keep = 64 << 10 // do not pin one huge event's buffers forever
	p.line = shrink(p.line, keep)
	p.data = shrink(p.data, keep)
	p.raw = shrink(p.raw, keep)
	p.name, p.id = "", ""
	p.hasData, p.over, p.started = false, false, false
	p.size = 0
}

func shrink(b []byte, keep int) []byte {
	if cap(b) > keep {
		return nil
	}
	return b[:0]
}

// lineEnd returns the index of the first CR or LF in b, or -1. Two
// vectorised IndexByte scans beat IndexAny, which matters because every
// byte of every stream passes here.
func lineEnd(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	limit := b
	if i >= 0 {
		limit = b[:i]
	}
	if j := bytes.IndexByte(limit, '\r'); j >= 0 {
		return j
	}
	return i
}
