package compat

import (
	"encoding/json"
	"strconv"
)

// Usage is the token usage of one response. Each count tells "zero" from
// "not reported": the getters return ok=false when the provider did not
// report the count.
//
// Input counts every prompt token, including those read from or written to
// a prompt cache: CacheRead and CacheWrite are parts of Input. Formats that
// report cache tokens separately (Anthropic, Bedrock) are summed up, so one
// price table applies to every format: see UncachedInput.
type Usage struct {
	input, output, cacheRead, cacheWrite count
}

type count struct {
	n  int64
	ok bool
}

func (c count) get() (int64, bool) { return c.n, c.ok }

// Input returns the prompt tokens, cache reads and writes included.
func (u Usage) Input() (int64, bool) { return u.input.get() }

// Output returns the generated tokens, reasoning tokens included.
func (u Usage) Output() (int64, bool) { return u.output.get() }

// CacheRead returns the prompt tokens read from a cache.
func (u Usage) CacheRead() (int64, bool) { return u.cacheRead.get() }

// CacheWrite returns the prompt tokens written to a cache.
func (u Usage) CacheWrite() (int64, bool) { return u.cacheWrite.get() }

// SetInput records the prompt tokens.
func (u *Usage) SetInput(n int64) { u.input = count{n, true} }

// SetOutput records the generated tokens.
func (u *Usage) SetOutput(n int64) { u.output = count{n, true} }

// SetCacheRead records the prompt tokens read from a cache.
func (u *Usage) SetCacheRead(n int64) { u.cacheRead = count{n, true} }

// SetCacheWrite records the prompt tokens written to a cache.
func (u *Usage) SetCacheWrite(n int64) { u.cacheWrite = count{n, true} }

// Reported reports whether any count was reported.
func (u Usage) Reported() bool {
	return u.input.ok || u.output.ok || u.cacheRead.ok || u.cacheWrite.ok
}

// UncachedInput returns the prompt tokens billed at the plain input price:
// Input less CacheRead and CacheWrite, never below zero.
func (u Usage) UncachedInput() (int64, bool) {
	if !u.input.ok {
		return 0, false
	}
	n := u.input.n - u.cacheRead.n - u.cacheWrite.n
	return max(n, 0), true
}

// Merge returns u updated with the counts later reports, field by field, as
// stream events that repeat or complete an earlier report do.
func (u Usage) Merge(later Usage) Usage {
	if later.input.ok {
		u.input = later.input
	}
	if later.output.ok {
		u.output = later.output
	}
	if later.cacheRead.ok {
		u.cacheRead = later.cacheRead
	}
	if later.cacheWrite.ok {
		u.cacheWrite = later.cacheWrite
	}
	return u
}

// MarshalJSON writes the reported counts only:
// {"input_tokens","output_tokens","cache_read_tokens","cache_write_tokens"}.
func (u Usage) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	add := func(name string, c count) {
		if !c.ok {
			return
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, name)
		b = append(b, ':')
		b = strconv.AppendInt(b, c.n, 10)
	}
	add("input_tokens", u.input)
	add("output_tokens", u.output)
	add("cache_read_tokens", u.cacheRead)
	add("cache_write_tokens", u.cacheWrite)
	return append(b, '}'), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (u *Usage) UnmarshalJSON(b []byte) error {
	var v struct {
		Input      *int64 `json:"input_tokens"`
		Output     *int64 `json:"output_tokens"`
		CacheRead  *int64 `json:"cache_read_tokens"`
		CacheWrite *int64 `json:"cache_write_tokens"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*u = Usage{input: opt(v.Input), output: opt(v.Output), cacheRead: opt(v.CacheRead), cacheWrite: opt(v.CacheWrite)}
	return nil
}

// opt turns an optional JSON number into a count.
func opt(p *int64) count {
	if p == nil {
		return count{}
	}
	return count{*p, true}
}

// sum adds reported counts; the sum is reported when any part is.
func sum(cs ...count) count {
	var out count
	for _, c := range cs {
		if c.ok {
			out.n += c.n
			out.ok = true
		}
	}
	return out
}
