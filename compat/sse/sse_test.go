package sse

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// ev is a comparable copy of an Event.
type ev struct {
	Name, Data, ID string
	HasData        bool
	Raw            string
	Oversize       bool
}

func collect(t testing.TB, p *Parser, chunks ...[]byte) ([]ev, []error) {
	t.Helper()
	var out []ev
	var errs []error
	emit := func(e Event) {
		out = append(out, ev{e.Name, string(e.Data), e.ID, e.HasData, string(e.Raw), e.Oversize})
	}
	for _, c := range chunks {
		if err := p.Feed(c, emit); err != nil {
			errs = append(errs, err)
		}
	}
	if err := p.End(emit); err != nil {
		errs = append(errs, err)
	}
	return out, errs
}

// dataEvents keeps the events that carry data, as a consumer sees them.
func dataEvents(evs []ev) []ev {
	var out []ev
	for _, e := range evs {
		if e.HasData {
			e.Raw = ""
			out = append(out, e)
		}
	}
	return out
}

func TestParser(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []ev
	}{
		{
			name:  "openai chunks with LF",
			input: "data: {\"a\":1}\n\ndata: [DONE]\n\n",
			want:  []ev{{Data: `{"a":1}`, HasData: true}, {Data: "[DONE]", HasData: true}},
		},
		{
			name:  "named events with CRLF",
			input: "event: message_start\r\ndata: {}\r\n\r\nevent: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n",
			want: []ev{
				{Name: "message_start", Data: "{}", HasData: true},
				{Name: "ping", Data: `{"type": "ping"}`, HasData: true},
			},
		},
		{
			name:  "bare CR line endings",
			input: "data: x\r\rdata: y\r\r",
			want:  []ev{{Data: "x", HasData: true}, {Data: "y", HasData: true}},
		},
		{
			name:  "multi-line data joined with LF",
			input: "data: line one\ndata:line two\ndata:  indented\n\n",
			want:  []ev{{Data: "line one\nline two\n indented", HasData: true}},
		},
		{
			name:  "comments and keep-alives are not events",
			input: ": OPENROUTER PROCESSING\n\n:ping\n\ndata: z\n\n",
			want:  []ev{{Data: "z", HasData: true}},
		},
		{
			name:  "id and unknown fields",
			input: "id: 42\nretry: 100\nfoo: bar\ndata: q\n\n",
			want:  []ev{{Data: "q", ID: "42", HasData: true}},
		},
		{
			name:  "field without colon is a field with empty value",
			input: "data\n\n",
			want:  []ev{{Data: "", HasData: true}},
		},
		{
			name:  "event field alone is not an event",
			input: "event: lonely\n\ndata: 1\n\n",
			want:  []ev{{Data: "1", HasData: true}},
		},
		{
			name:  "last event without blank line is dispatched at End",
			input: "data: a\n\ndata: b\n",
			want:  []ev{{Data: "a", HasData: true}, {Data: "b", HasData: true}},
		},
		{
			name:  "last line without terminator is dispatched at End",
			input: "data: a\n\ndata: b",
			want:  []ev{{Data: "a", HasData: true}, {Data: "b", HasData: true}},
		},
		{
			name:  "stream ending in CR",
			input: "data: a\r\r",
			want:  []ev{{Data: "a", HasData: true}},
		},
		{
			name:  "empty input",
			input: "",
			want:  nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Parser
			got, errs := collect(t, &p, []byte(tt.input))
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			if got := dataEvents(got); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events\n got %+v\nwant %+v", got, tt.want)
			}
			// Every split point gives the same events.
			for i := 0; i <= len(tt.input); i++ {
				var p Parser
				got, _ := collect(t, &p, []byte(tt.input[:i]), []byte(tt.input[i:]))
				if got := dataEvents(got); !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("split at %d: got %+v want %+v", i, got, tt.want)
				}
			}
		})
	}
}

func TestParserRawIsExact(t *testing.T) {
	inputs := []string{
		"data: {\"a\":1}\n\n: keepalive\n\ndata: [DONE]\n\n",
		"event: x\r\ndata: 1\r\n\r\n\r\n\r\ndata: 2\r\n\r\n",
		"data: a\r\rdata: b\r\r",
		"data: tail-without-blank-line\n",
	}
	for _, in := range inputs {
		for i := 0; i <= len(in); i++ {
			p := Parser{KeepRaw: true}
			evs, errs := collect(t, &p, []byte(in[:i]), []byte(in[i:]))
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			var joined strings.Builder
			for _, e := range evs {
				joined.WriteString(e.Raw)
			}
			if joined.String() != in {
				t.Fatalf("split %d of %q: raw blocks join to %q", i, in, joined.String())
			}
		}
	}
}

func TestParserRawBlocks(t *testing.T) {
	in := "data: 1\r\n\r\n: c\n\ndata: 2\n\n"
	p := Parser{KeepRaw: true}
	evs, _ := collect(t, &p, []byte(in))
	var raws []string
	for _, e := range evs {
		raws = append(raws, e.Raw)
	}
	want := []string{"data: 1\r\n\r\n", ": c\n\n", "data: 2\n\n"}
	if !reflect.DeepEqual(raws, want) {
		t.Errorf("raw blocks %q, want %q", raws, want)
	}
}

func TestParserOversize(t *testing.T) {
	big := "data: " + strings.Repeat("x", 100) + "\n\n"
	in := "data: small\n\n" + big + "data: after\n\n"

	t.Run("skipped and reported", func(t *testing.T) {
		p := Parser{MaxEventSize: 50}
		evs, errs := collect(t, &p, []byte(in))
		want := []ev{{Data: "small", HasData: true}, {Data: "after", HasData: true}}
		if got := dataEvents(evs); !reflect.DeepEqual(got, want) {
			t.Errorf("events %+v, want %+v", got, want)
		}
		if len(errs) != 1 || !errors.Is(errs[0], ErrEventTooLarge) {
			t.Errorf("errors %v, want one ErrEventTooLarge", errs)
		}
	})
	t.Run("raw passed through in fragments", func(t *testing.T) {
		for i := 0; i <= len(in); i++ {
			p := Parser{MaxEventSize: 50, KeepRaw: true}
			evs, errs := collect(t, &p, []byte(in[:i]), []byte(in[i:]))
			var joined, over strings.Builder
			for _, e := range evs {
				joined.WriteString(e.Raw)
				if e.Oversize {
					over.WriteString(e.Raw)
				}
			}
			if joined.String() != in {
				t.Fatalf("split %d: raw joins to %q", i, joined.String())
			}
			if over.String() != big {
				t.Fatalf("split %d: oversize fragments %q, want the big block", i, over.String())
			}
			if len(errs) == 0 || !errors.Is(errs[0], ErrEventTooLarge) {
				t.Fatalf("split %d: errors %v", i, errs)
			}
		}
	})
}

// seeds returns the recorded SSE fixtures of every format.
func seeds(tb testing.TB) [][]byte {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "upstream", "*", "*.sse"))
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func TestFixturesSplitAnywhere(t *testing.T) {
	fixtures := seeds(t)
	if len(fixtures) == 0 {
		t.Fatal("no SSE fixtures found")
	}
	for n, in := range fixtures {
		var whole Parser
		want, errs := collect(t, &whole, in)
		if len(errs) > 0 || len(dataEvents(want)) == 0 {
			t.Fatalf("fixture parses to %d events, errors %v", len(want), errs)
		}
		for i := n % splitStride; i <= len(in); i += splitStride {
			var p Parser
			got, _ := collect(t, &p, in[:i], in[i:])
			if !reflect.DeepEqual(dataEvents(got), dataEvents(want)) {
				t.Fatalf("split at %d differs", i)
			}
		}
	}
}

func FuzzParser(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s, uint16(len(s)/2))
	}
	f.Add([]byte("data: a\r\n\r\n"), uint16(9))
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		at := int(cut) % (len(in) + 1)
		var whole, split Parser
		whole.MaxEventSize, split.MaxEventSize = 1<<12, 1<<12
		want, _ := collect(t, &whole, in)
		got, _ := collect(t, &split, in[:at], in[at:])
		if !reflect.DeepEqual(dataEvents(got), dataEvents(want)) {
			t.Fatalf("split at %d: %+v vs %+v", at, got, want)
		}
		// Fed a byte at a time, the parser never sees a whole block in
		// one call: its line-by-line path must agree with the zero-copy
		// path, raw bytes included.
		var bytewise Parser
		bytewise.MaxEventSize = 1 << 12
		if got, _ := collect(t, &bytewise, splitBytes(in)...); !reflect.DeepEqual(dataEvents(got), dataEvents(want)) {
			t.Fatalf("byte at a time: %+v vs %+v", got, want)
		}
		if len(in) < 1<<12 {
			rawWhole, rawBytewise := Parser{KeepRaw: true}, Parser{KeepRaw: true}
			want, _ := collect(t, &rawWhole, in)
			got, _ := collect(t, &rawBytewise, splitBytes(in)...)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("raw events, byte at a time: %+v vs %+v", got, want)
			}
		}
		raw := Parser{KeepRaw: true, MaxEventSize: 1 << 12}
		evs, _ := collect(t, &raw, in[:at], in[at:])
		var joined bytes.Buffer
		for _, e := range evs {
			joined.WriteString(e.Raw)
		}
		if !bytes.Equal(joined.Bytes(), in) {
			t.Fatalf("raw blocks do not join to the input")
		}
	})
}

func splitBytes(in []byte) [][]byte {
	out := make([][]byte, len(in))
	for i := range in {
		out[i] = in[i : i+1]
	}
	return out
}

func BenchmarkFeedChunk(b *testing.B) {
	chunk := []byte(`data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4.1-2025-04-14","service_tier":"default","system_fingerprint":"fp_ee1d74bde0","choices":[{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":null}]}` + "\n\n")
	var p Parser
	n := 0
	emit := func(e Event) { n += len(e.Data) }
	b.ReportAllocs()
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		_ = p.Feed(chunk, emit)
	}
	if n == 0 {
		b.Fatal("no events")
	}
}

// FuzzBlankLine holds blankLine to bytes.Index.
func FuzzBlankLine(f *testing.F) {
	for _, s := range []string{"", "\n", "\n\n", "a\nb\n\nc", "data: x\n\n", "a\n", "\n\na"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := blankLine(b), bytes.Index(b, []byte("\n\n")); got != want {
			t.Fatalf("blankLine(%q) = %d, bytes.Index %d", b, got, want)
		}
	})
}
