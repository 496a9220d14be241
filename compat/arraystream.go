package compat

import (
	"errors"
	"fmt"
)

// errArrayTruncated reports a JSON array stream that stopped early.
var errArrayTruncated = errors.New("JSON array stream ends before its closing bracket")

// arraySplitter splits a streamed JSON array ("[{...},\r\n{...}]", as
// Gemini's streamGenerateContent sends without alt=sse) into its elements
// as the bytes arrive. It holds one element at most.
type arraySplitter struct {
	state int // 0 before '[', 1 between elements, 2 in an element, 3 after ']'
	depth int
	inStr bool
	esc   bool
	over  bool
	elem  []byte
}

func (a *arraySplitter) feed(p []byte, max int, emit func([]byte)) error {
	var err error
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch a.state {
		case 0:
			if c == '[' {
				a.state = 1
			}
		case 1:
			switch c {
			case ' ', '\t', '\r', '\n', ',':
			case ']':
				a.state = 3
			default:
				a.state, a.depth, a.inStr, a.esc, a.over = 2, 0, false, false, false
				a.elem = a.elem[:0]
				i-- // the byte starts the element
			}
		case 2:
			if a.depth == 0 && !a.inStr && (c == ',' || c == ']' || c == ' ' || c == '\r' || c == '\n' || c == '\t') && len(a.elem) > 0 {
				// End of a scalar element.
				a.done(emit)
				i--
				continue
			}
			if !a.over {
				if len(a.elem) >= max {
					a.over, a.elem = true, a.elem[:0]
					if err == nil {
						err = fmt.Errorf("%w: stream element over %d bytes", ErrRecordTooLarge, max)
					}
				} else {
					a.elem = append(a.elem, c)
				}
			}
			switch {
			case a.inStr:
				switch {
				case a.esc:
					a.esc = false
				case c == '\\':
					a.esc = true
				case c == '"':
					a.inStr = false
				}
			case c == '"':
				a.inStr = true
			case c == '{' || c == '[':
				a.depth++
			case c == '}' || c == ']':
				a.depth--
				if a.depth == 0 {
					a.done(emit)
				}
			}
		}
	}
	return err
}

func (a *arraySplitter) done(emit func([]byte)) {
	if !a.over {
		emit(a.elem)
	}
	a.state, a.over = 1, false
	if cap(a.elem) > 64<<10 {
		a.elem = nil
	} else {
		a.elem = a.elem[:0]
	}
}

func (a *arraySplitter) end() error {
	if a.state == 3 {
		return nil
	}
	return errArrayTruncated
}
