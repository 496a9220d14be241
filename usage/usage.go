// Package usage is the token usage of one LLM response, the one type that
// compat (which reads it from provider answers), store (which keeps it in
// the request log) and proxy (which hands it to hooks) share.
//
// Every count tells "zero" from "not reported": a stream aborted before its
// usage arrived has counts that were never reported, and the request log,
// the API and the cost show them as unknown rather than as 0. The package
// imports nothing of sluice, so any package may use it.
package usage

import (
	"encoding/json"
	"strconv"
)

// Count is one token count that a provider may or may not have reported.
// The zero Count is "not reported".
type Count struct {
	n  int64
	ok bool
}

// Of returns the reported count n.
func Of(n int64) Count { return Count{n, true} }

// Optional returns the count *p, or "not reported" when p is nil (a JSON
// field that was absent).
func Optional(p *int64) Count {
	if p == nil {
		return Count{}
	}
	return Count{*p, true}
}

// Get returns the count and whether it was reported.
func (c Count) Get() (int64, bool) { return c.n, c.ok }

// Reported reports whether the count was reported.
func (c Count) Reported() bool { return c.ok }

// Value returns the count, 0 when it was not reported. Use it where the
// two mean the same (a sum over many requests).
func (c Count) Value() int64 { return c.n }

// Ptr returns the count, or nil when it was not reported: the shape of a
// nullable column or an optional JSON field.
func (c Count) Ptr() *int64 {
	if !c.ok {
		return nil
	}
	n := c.n
	return &n
}

// Sum adds the reported counts; the sum is reported when any part is.
func Sum(cs ...Count) Count {
	var out Count
	for _, c := range cs {
		if c.ok {
			out.n += c.n
			out.ok = true
		}
	}
	return out
}

// Tokens is the token usage of one response.
//
// Input counts every prompt token, including those read from or written to
// a prompt cache: CacheRead and CacheWrite are parts of Input. Formats that
// report cache tokens separately (Anthropic, Bedrock) are summed up when
// read, so one price table applies to every format: see UncachedInput.
// Reasoning is the part of Output spent on reasoning, when a provider says.
type Tokens struct {
	Input      Count
	Output     Count
	CacheRead  Count
	CacheWrite Count
	Reasoning  Count
}

// Reported reports whether any count was reported.
func (t Tokens) Reported() bool {
	return t.Input.ok || t.Output.ok || t.CacheRead.ok || t.CacheWrite.ok || t.Reasoning.ok
}

// UncachedInput returns the prompt tokens billed at the plain input price:
// Input less CacheRead and CacheWrite, never below zero, even if a
// provider's counts disagree. It is not reported when Input is not.
func (t Tokens) UncachedInput() Count {
	if !t.Input.ok {
		return Count{}
	}
	return Of(max(t.Input.n-t.CacheRead.n-t.CacheWrite.n, 0))
}

// Total returns Input plus Output, reported when either is.
func (t Tokens) Total() Count { return Sum(t.Input, t.Output) }

// Merge returns t updated with the counts a later report carries, field by
// field, as stream events that repeat or complete an earlier report do.
func (t Tokens) Merge(later Tokens) Tokens {
	pick := func(a, b Count) Count {
		if b.ok {
			return b
		}
		return a
	}
	return Tokens{
		Input:      pick(t.Input, later.Input),
		Output:     pick(t.Output, later.Output),
		CacheRead:  pick(t.CacheRead, later.CacheRead),
		CacheWrite: pick(t.CacheWrite, later.CacheWrite),
		Reasoning:  pick(t.Reasoning, later.Reasoning),
	}
}

// MarshalJSON writes the reported counts only: {"input_tokens",
// "output_tokens", "cache_read_tokens", "cache_write_tokens",
// "reasoning_tokens"}; a count not reported is absent.
func (t Tokens) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	add := func(name string, c Count) {
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
	add("input_tokens", t.Input)
	add("output_tokens", t.Output)
	add("cache_read_tokens", t.CacheRead)
	add("cache_write_tokens", t.CacheWrite)
	add("reasoning_tokens", t.Reasoning)
	return append(b, '}'), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (t *Tokens) UnmarshalJSON(b []byte) error {
	var v struct {
		Input      *int64 `json:"input_tokens"`
		Output     *int64 `json:"output_tokens"`
		CacheRead  *int64 `json:"cache_read_tokens"`
		CacheWrite *int64 `json:"cache_write_tokens"`
		Reasoning  *int64 `json:"reasoning_tokens"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*t = Tokens{Optional(v.Input), Optional(v.Output), Optional(v.CacheRead), Optional(v.CacheWrite), Optional(v.Reasoning)}
	return nil
}
