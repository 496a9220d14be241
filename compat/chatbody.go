package compat

import (
	"encoding/json"
	"strconv"

	"github.com/sluice-gateway/sluice/internal/jsonbytes"
)

// chatBody is what the recorder needs from a non-streamed Chat
// Completions answer without tool calls or error.
type chatBody struct {
	finishes []chatFinish
	usage    chatUsage
	model    string
}

// chatFinish is one choice's index and finish reason (nil: absent or
// null).
type chatFinish struct {
	index  int
	reason *string
}

// scanChatBody reads a whole Chat Completions answer in one pass that
// also checks, as json.Valid does, that it is valid JSON. It reads what
// the general decode (json.Unmarshal into chatResponse) would: keys match
// as encoding/json matches them (unescaped, any case; the last duplicate
// wins). ok is false for anything it leaves to the general decode:
// invalid JSON, a tool_calls member or a non-null error anywhere, and
// shapes the decode would read in a way this scan does not model (a choice
// that is not an object, an index that is not a plain integer, a finish
// reason or model that is not a string, an empty finish reason).
func scanChatBody(data []byte, out *chatBody) (ok bool) {
	// Keys at any depth: refuse tool calls and errors.
	onKey := func(k jsonbytes.Key, colon int) bool {
		switch k.FoldIndex(plainNames) {
		case 0: // tool_calls
			return false
		case 1: // error
			return nullAfter(data, colon)
		}
		return true
	}
	var choices []chatFinish
	haveChoices := false
	start := jsonbytes.SkipSpace(data, 0)
	end, err := jsonbytes.ValidMembers(data, start, func(k jsonbytes.Key, colon, vs int) (int, error) {
		switch k.FoldIndex(bodyNames) {
		case 0: // choices
			if haveChoices {
				// The decode reuses the first array's elements for the
				// second's: leave that to it.
				return 0, errUnmodelled
			}
			haveChoices = true
			if vs < len(data) && data[vs] == 'n' {
				return jsonbytes.ValidValue(data, vs, onKey) // null: no choices
			}
			return jsonbytes.ValidElements(data, vs, func(es int) (int, error) {
				var ch chatFinish
				e, err := scanChoice(data, es, &ch, onKey)
				if err != nil {
					return 0, err
				}
				choices = append(choices, ch)
				return e, nil
			})
		case 1: // usage
			// The last one wins; null is none.
			out.usage = chatUsage{}
			if vs < len(data) && data[vs] == 'n' {
				return jsonbytes.ValidValue(data, vs, onKey)
			}
			return scanUsage(data, vs, &out.usage, onKey)
		case 2: // model
			switch {
			case vs < len(data) && data[vs] == '"':
				e, plain, err := jsonbytes.ValidString(data, vs)
				if err != nil {
					return 0, err
				}
				if out.model, err = stringValue(data[vs:e], plain); err != nil {
					return 0, err
				}
				return e, nil
			case vs < len(data) && data[vs] == 'n':
				return jsonbytes.ValidValue(data, vs, onKey) // null leaves it as it was
			}
			return 0, errUnmodelled
		case 3: // error
			if !onKey(k, colon) {
				return 0, jsonbytes.ErrStopped
			}
		case 4: // tool_calls
			return 0, jsonbytes.ErrStopped
		}
		return jsonbytes.ValidValue(data, vs, onKey)
	})
	if err != nil || jsonbytes.SkipSpace(data, end) != len(data) {
		return false
	}
	if haveChoices {
		out.finishes = choices
	}
	return true
}

// bodyNames are the top-level members scanChatBody reads; indexes as in
// its switch.
var bodyNames = []string{"choices", "usage", "model", "error", "tool_calls"}

// choiceNames are the members of a choice it reads.
var choiceNames = []string{"index", "finish_reason", "tool_calls", "error"}

// errUnmodelled stops the scan where the general decode must read.
var errUnmodelled = jsonbytes.ErrStopped

// scanChoice reads one element of choices.
func scanChoice(data []byte, i int, ch *chatFinish, onKey func(jsonbytes.Key, int) bool) (int, error) {
	if i >= len(data) || data[i] != '{' {
		return 0, errUnmodelled
	}
	return jsonbytes.ValidMembers(data, i, func(k jsonbytes.Key, colon, vs int) (int, error) {
		switch k.FoldIndex(choiceNames) {
		case 0: // index
			e, integer, err := jsonbytes.ValidNumber(data, vs)
			if err != nil || !integer {
				return 0, errUnmodelled
			}
			n, err := strconv.Atoi(string(data[vs:e]))
			if err != nil {
				return 0, errUnmodelled // out of int's range: the decode fails
			}
			ch.index = n
			return e, nil
		case 1: // finish_reason
			if vs < len(data) && data[vs] == 'n' {
				e, err := jsonbytes.ValidValue(data, vs, onKey)
				ch.reason = nil
				return e, err
			}
			e, plain, err := jsonbytes.ValidString(data, vs)
			if err != nil {
				return 0, errUnmodelled
			}
			s, err := finishValue(data[vs:e], plain)
			if err != nil || s == "" {
				return 0, errUnmodelled
			}
			ch.reason = &s
			return e, nil
		case 2: // tool_calls
			return 0, jsonbytes.ErrStopped
		case 3: // error
			if !onKey(k, colon) {
				return 0, jsonbytes.ErrStopped
			}
		}
		return jsonbytes.ValidValue(data, vs, onKey)
	})
}

// stringValue is the value of the JSON string lit (quotes included): its
// bytes when plain, else what encoding/json decodes.
func stringValue(lit []byte, plain bool) (string, error) {
	if plain {
		return string(lit[1 : len(lit)-1]), nil
	}
	var s string
	err := json.Unmarshal(lit, &s)
	return s, err
}

// finishValue is stringValue without an allocation for the finish
// reasons providers send.
func finishValue(lit []byte, plain bool) (string, error) {
	if plain {
		switch string(lit[1 : len(lit)-1]) {
		case "stop":
			return "stop", nil
		case "length":
			return "length", nil
		case "content_filter":
			return "content_filter", nil
		}
	}
	return stringValue(lit, plain)
}

// usageNames are the members of usage the recorder reads, as chatUsage
// has them; detailNames those of prompt_tokens_details.
var (
	usageNames  = []string{"prompt_tokens", "completion_tokens", "prompt_tokens_details"}
	detailNames = []string{"cached_tokens", "cache_write_tokens"}
)

// scanUsage reads the usage object at i into u as json.Unmarshal would,
// and leaves to the general decode what it would read otherwise (a count
// that is not an integer, a repeated prompt_tokens_details, which the
// decode merges into the first).
func scanUsage(data []byte, i int, u *chatUsage, onKey func(jsonbytes.Key, int) bool) (int, error) {
	if i >= len(data) || data[i] != '{' {
		return 0, errUnmodelled
	}
	details := false
	return jsonbytes.ValidMembers(data, i, func(k jsonbytes.Key, colon, vs int) (int, error) {
		switch k.FoldIndex(usageNames) {
		case 0:
			return scanCount(data, vs, &u.PromptTokens)
		case 1:
			return scanCount(data, vs, &u.CompletionTokens)
		case 2:
			if details {
				return 0, errUnmodelled
			}
			details = true
			if vs < len(data) && data[vs] == 'n' {
				return jsonbytes.ValidValue(data, vs, onKey)
			}
			if vs >= len(data) || data[vs] != '{' {
				return 0, errUnmodelled
			}
			d := &u.PromptTokensDetails
			*d = new(struct {
				CachedTokens     *int64 `json:"cached_tokens"`
				CacheWriteTokens *int64 `json:"cache_write_tokens"`
			})
			return jsonbytes.ValidMembers(data, vs, func(k jsonbytes.Key, colon, vs int) (int, error) {
				switch k.FoldIndex(detailNames) {
				case 0:
					return scanCount(data, vs, &(*d).CachedTokens)
				case 1:
					return scanCount(data, vs, &(*d).CacheWriteTokens)
				}
				if !onKey(k, colon) {
					return 0, jsonbytes.ErrStopped
				}
				return jsonbytes.ValidValue(data, vs, onKey)
			})
		}
		if !onKey(k, colon) {
			return 0, jsonbytes.ErrStopped
		}
		return jsonbytes.ValidValue(data, vs, onKey)
	})
}

// scanCount reads a token count: an integer, or null for none.
func scanCount(data []byte, i int, p **int64) (int, error) {
	if i < len(data) && data[i] == 'n' {
		*p = nil
		return jsonbytes.ValidValue(data, i, nil)
	}
	e, integer, err := jsonbytes.ValidNumber(data, i)
	if err != nil || !integer {
		return 0, errUnmodelled
	}
	n, err := strconv.ParseInt(string(data[i:e]), 10, 64)
	if err != nil {
		return 0, errUnmodelled
	}
	*p = &n
	return e, nil
}

// applyBody records a scanned answer: what skimChunk records for it.
func (c *chatCollector) applyBody(b *chatBody) bool {
	for _, ch := range b.finishes {
		cc := c.choice(ch.index)
		if ch.reason != nil {
			cc.finish = *ch.reason
		}
	}
	c.usage = c.usage.Merge(b.usage.usage())
	if b.model != "" {
		c.model = b.model
	}
	return true
}
