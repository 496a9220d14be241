// Package hooks calls the webhooks that hook grants select: it builds the
// JSON payload a grant asks for, delivers after-response events
// (entire_request, tool_call_entire_request) from a bounded queue with
// retries, and runs pre_request hooks synchronously, in preference order,
// turning their allow / block / modify answers into one verdict.
//
// Which grants apply and whether their CEL conditions hold is decided
// elsewhere; this package only calls hooks it is handed.
package hooks

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/policy"
)

// Headers sluice sets on every hook call.
const (
	// UserAgent identifies sluice's hook client.
	UserAgent = "sluice-hooks/1"
	// HeaderDelivery carries an ID that stays the same across the retries
	// of one delivery, so a receiver can drop duplicates.
	HeaderDelivery = "X-Sluice-Delivery"
	// HeaderAttempt numbers the attempts of one delivery from 1.
	HeaderAttempt = "X-Sluice-Attempt"
	// HeaderEvent names the event, as the payload's "event" field does.
	HeaderEvent = "X-Sluice-Event"
)

// Call is one hook to call for a request, with the payload fields its
// grants ask for.
type Call struct {
	Hook   *policy.Hook
	Fields []string
}

// Merge combines calls naming the same hook into one with the union of
// their fields, so a hook selected by several grants is called once per
// event. Order follows each hook's first appearance; nil hooks are dropped.
func Merge(calls []Call) []Call {
	out := make([]Call, 0, len(calls))
	for _, c := range calls {
		if c.Hook == nil {
			continue
		}
		i := slices.IndexFunc(out, func(o Call) bool { return o.Hook.Name == c.Hook.Name })
		if i < 0 {
			out = append(out, Call{Hook: c.Hook, Fields: slices.Clone(c.Fields)})
			continue
		}
		for _, f := range c.Fields {
			if !slices.Contains(out[i].Fields, f) {
				out[i].Fields = append(out[i].Fields, f)
			}
		}
	}
	return out
}

// StatusError reports a hook that answered with a non-2xx status.
type StatusError struct {
	Code int
}

func (e *StatusError) Error() string { return "hook answered HTTP " + strconv.Itoa(e.Code) }

// ErrAnswer reports a pre_request hook answer that is not valid JSON or
// names no known action.
var ErrAnswer = errors.New("invalid hook answer")

// setAuth sets the hook's credential the way its authorization type says,
// through the same writer as provider credentials; an empty key sets
// nothing. Validation admits only the registry's types, so the error of an
// unknown one cannot happen.
func setAuth(h http.Header, hook *policy.Hook) {
	compat.SetAuth(h, hook.Authorization, hook.APIKey)
}

// attempt is one HTTP call of a delivery.
type attempt struct {
	hook     *policy.Hook
	event    string
	delivery string
	n        int
	body     []byte
	// keep bounds how much of the answer is read and returned; zero
	// discards the answer.
	keep int64
}

// discardLimit bounds how much of an ignored answer is read so that the
// connection can be reused.
const discardLimit = 64 << 10

// post makes one call under the hook's timeout. It returns the answer
// (up to a.keep bytes) of a 2xx response. Errors never contain the hook's
// URL, which may embed a secret.
func post(ctx context.Context, client *http.Client, a attempt) ([]byte, error) {
	if a.hook.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.hook.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.hook.URL, bytes.NewReader(a.body))
	if err != nil {
		return nil, errPermanent{fmt.Errorf("hook %q: bad URL", a.hook.Name)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(HeaderDelivery, a.delivery)
	req.Header.Set(HeaderAttempt, strconv.Itoa(a.n))
	req.Header.Set(HeaderEvent, a.event)
	setAuth(req.Header, a.hook)

	resp, err := client.Do(req)
	if err != nil {
		return nil, stripURL(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, discardLimit))
		return nil, &StatusError{Code: resp.StatusCode}
	}
	if a.keep == 0 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, discardLimit))
		return nil, nil
	}
	answer, err := io.ReadAll(io.LimitReader(resp.Body, a.keep+1))
	if err != nil {
		return nil, fmt.Errorf("reading answer: %w", stripURL(err))
	}
	if int64(len(answer)) > a.keep {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrAnswer, a.keep)
	}
	return answer, nil
}

// errPermanent marks an error that a retry cannot fix.
type errPermanent struct{ err error }

func (e errPermanent) Error() string { return e.err.Error() }
func (e errPermanent) Unwrap() error { return e.err }

// stripURL drops the URL that net/http puts in its errors; the cause
// (refused, timeout, canceled) stays reachable with errors.Is.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// retryable reports whether another attempt may succeed: connection
// errors, timeouts, 5xx and 429 may; other statuses and bad URLs may not.
func retryable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code >= 500 || se.Code == http.StatusTooManyRequests
	}
	var pe errPermanent
	return !errors.As(err, &pe)
}

// newDeliveryID returns 128 random bits in hex.
func newDeliveryID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
