package compat

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/compat/eventstream"
)

var update = flag.Bool("update", false, "rewrite generated fixtures (event streams) and golden files")

// upstreamDir holds the recorded upstream bodies, one folder per format.
var upstreamDir = filepath.Join("..", "testdata", "upstream")

// fixture is one recorded upstream body.
type fixture struct {
	format string
	name   string // file name, e.g. "tool_calls.sse"
	kind   string // "json", "sse", "jsonarray" or "eventstream"
	data   []byte
}

func (f fixture) key() string  { return f.format + "/" + f.name }
func (f fixture) stream() bool { return f.kind != "json" }
func (f fixture) base() string { return strings.TrimSuffix(f.name, filepath.Ext(f.name)) }
func (f fixture) golden() string {
	return filepath.Join(upstreamDir, f.format, "rebuilt", f.name+".json")
}

// loadFixtures reads every recorded body (not the event-stream sources
// nor the golden files).
func loadFixtures(t testing.TB) []fixture {
	t.Helper()
	var out []fixture
	for _, format := range Formats() {
		files, err := os.ReadDir(filepath.Join(upstreamDir, format))
		if err != nil {
			t.Fatalf("fixtures of %s: %v", format, err)
		}
		for _, e := range files {
			name := e.Name()
			if e.IsDir() || strings.HasSuffix(name, ".events.json") {
				continue
			}
			kind := strings.TrimPrefix(filepath.Ext(name), ".")
			switch kind {
			case "json", "sse", "jsonarray", "eventstream":
			default:
				continue
			}
			data, err := os.ReadFile(filepath.Join(upstreamDir, format, name))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fixture{format: format, name: name, kind: kind, data: data})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	if len(out) == 0 {
		t.Fatal("no fixtures")
	}
	return out
}

// eventSource is one frame of an *.events.json file: a Bedrock event
// ({"event": "chunk", "bytes": {...}} for InvokeModelWithResponseStream,
// {"event": "messageStart", "payload": {...}} for ConverseStream) or an
// exception ({"exception": "throttlingException", "payload": {...}}).
type eventSource struct {
	Event     string          `json:"event"`
	Exception string          `json:"exception"`
	Bytes     json.RawMessage `json:"bytes"`
	Payload   json.RawMessage `json:"payload"`
}

// buildEventStream encodes an *.events.json source the way Bedrock frames
// its streams, including the "p" padding member Bedrock adds to payloads.
func buildEventStream(t testing.TB, src []byte) []byte {
	t.Helper()
	var frames []eventSource
	if err := json.Unmarshal(src, &frames); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for i, f := range frames {
		var m eventstream.Message
		switch {
		case f.Exception != "":
			m = eventstream.Exception(f.Exception, compact(t, f.Payload))
		case f.Bytes != nil:
			payload := fmt.Sprintf(`{"bytes":%q,"p":%q}`,
				base64.StdEncoding.EncodeToString(compact(t, f.Bytes)), padding(i))
			m = eventstream.Event(f.Event, []byte(payload))
		default:
			p := compact(t, f.Payload)
			p = append(p[:len(p)-1], fmt.Sprintf(`,"p":%q}`, padding(i))...)
			m = eventstream.Event(f.Event, p)
		}
		if err := eventstream.Encode(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func compact(t testing.TB, raw json.RawMessage) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// padding mimics the variable-length "p" member of Bedrock payloads.
func padding(i int) string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123"
	return letters[:4+(i*7)%len(letters[4:])]
}

// TestEventStreamFixtures keeps the binary fixtures reproducible: each
// *.eventstream is what its *.events.json source encodes to. Run with
// -update to regenerate them.
func TestEventStreamFixtures(t *testing.T) {
	sources, err := filepath.Glob(filepath.Join(upstreamDir, "*", "*.events.json"))
	if err != nil || len(sources) == 0 {
		t.Fatalf("no event-stream sources: %v", err)
	}
	for _, src := range sources {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		got := buildEventStream(t, data)
		out := strings.TrimSuffix(src, ".events.json") + ".eventstream"
		if *update {
			if err := os.WriteFile(out, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(out)
		if err != nil {
			t.Fatalf("%v (run go test -run TestEventStreamFixtures -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: regenerate with -update", out)
		}
	}
}

// jsonEqual compares two JSON documents semantically.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func indent(b []byte) []byte {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return b
	}
	out.WriteByte('\n')
	return out.Bytes()
}
