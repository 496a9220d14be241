package jsonbytes

import (
	"encoding/json"
	"math"
	"testing"
)

// sameAsMarshal fails t unless AppendValue writes v as json.Marshal does.
func sameAsMarshal(t *testing.T, v any) {
	t.Helper()
	want, werr := json.Marshal(v)
	got, gerr := AppendValue([]byte("prefix"), v)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("%#v: error %v, Marshal's %v", v, gerr, werr)
	}
	if werr == nil && string(got) != "prefix"+string(want) {
		t.Fatalf("%#v:\n got %s\nwant prefix%s", v, got, want)
	}
}

func TestAppendValueAsMarshal(t *testing.T) {
	tests := []struct {
		name string
		v    any
	}{
		{"nil", nil},
		{"string with escapes", "a<b>&\"\\\n\u2028\xff"},
		{"ints", []any{0, -3, int64(math.MaxInt64)}},
		{"floats", []any{0.0, 1.5, -2.0, 1e-7, 1e-6, 1e20, 1e21, 123456789.125, 5e-324, math.Copysign(0, -1)}},
		{"bools", []any{true, false}},
		{"nested and sorted", map[string]any{"z": 1, "a": map[string]any{"y": []any{nil, "x"}, "b": true}, "": "empty key"}},
		{"many keys", func() map[string]any {
			m := map[string]any{}
			for i := range 40 {
				m[string(rune('a'+i%26))+string(rune('0'+i/26))] = i
			}
			return m
		}()},
		{"raw message", map[string]any{"r": json.RawMessage(`{"k":[1,2]}`)}},
		{"nil map, slice, raw", []any{map[string]any(nil), []any(nil), json.RawMessage(nil)}},
		{"other types go through Marshal", map[string]any{"s": struct {
			B string `json:"b"`
			A int    `json:"a"`
		}{"x", 1}, "ss": map[string]string{"reason": "max_output_tokens"}}},
		{"unsupported float", map[string]any{"f": math.Inf(1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { sameAsMarshal(t, tt.v) })
	}
}

// FuzzAppendValue: any JSON document, decoded as encoding/json decodes
// into any, is written back by AppendValue exactly as Marshal writes it.
func FuzzAppendValue(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":[true,null,"x<y"]}`, `1e-7`, `[1.5e300,-0,0.000001]`, `"\u2028"`, `{"":{"":{}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		if json.Unmarshal(data, &v) != nil {
			return
		}
		sameAsMarshal(t, v)
	})
}
