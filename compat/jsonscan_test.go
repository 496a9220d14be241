package compat

import "testing"

func TestTopString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"id":"c","model":"gpt-5","choices":[]}`, "gpt-5"},
		{`{"choices":[{"model":"inner"}],"model":"outer"}`, "outer"},
		{`{"model":"gpt\u002d5"}`, "gpt-5"},
		{`{"m\u006fdel":"escaped-key"}`, "escaped-key"},
		{`{"model":null}`, ""},
		{`{"model":5}`, ""},
		{`{"id":"no model"}`, ""},
		{`{"model":"cut`, ""},
		{`not json`, ""},
	} {
		if got := topString([]byte(tc.in), "model"); got != tc.want {
			t.Errorf("topString(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
