package store

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/usage"
)

// TestSpoolKeepsEveryRecordField: a record that waits in the spool comes
// back field for field, so a replayed row says what the gateway saw. Every
// field of Record is set to a non-zero value by reflection: a field added
// to Record and forgotten in the spool's format fails here. Token counts
// not reported stay not reported.
func TestSpoolKeepsEveryRecordField(t *testing.T) {
	// Fields the store sets on records it reads back, never written.
	readSide := map[string]bool{"HasRaws": true, "RawError": true}
	var in Record
	v := reflect.ValueOf(&in).Elem()
	for i := 0; i < v.NumField(); i++ {
		f, name := v.Field(i), v.Type().Field(i).Name
		if readSide[name] {
			continue
		}
		switch f.Interface().(type) {
		case string:
			f.SetString(name + "-value")
		case bool:
			f.SetBool(true)
		case int, int64:
			f.SetInt(int64(100 + i))
		case float64:
			f.SetFloat(0.25)
		case time.Duration:
			f.SetInt(int64(time.Duration(i) * time.Millisecond))
		case time.Time:
			f.Set(reflect.ValueOf(time.UnixMicro(1_764_000_000_123_456).UTC()))
		case []byte:
			f.SetBytes([]byte(name))
		case []string:
			f.Set(reflect.ValueOf([]string{name, "second"}))
		case []Attempt:
			f.Set(reflect.ValueOf([]Attempt{{Provider: "a", Status: 503, Outcome: "server_error", Error: "down"}, {Provider: "b", Outcome: "ok"}}))
		case usage.Tokens:
			f.Set(reflect.ValueOf(usage.Tokens{Input: usage.Of(0), Output: usage.Of(7), CacheRead: usage.Of(3)}))
		case *DecisionInput:
			f.Set(reflect.ValueOf(&DecisionInput{Tags: []string{"tag:a"}, Groups: []string{"group:g"},
				Caps: []json.RawMessage{json.RawMessage(`{"x":1}`)}, Allow: true}))
		default:
			t.Fatalf("Record.%s has type %s, which this test does not fill: teach it, and the spool", name, f.Type())
		}
	}
	frame, err := appendFrame(nil, &in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decodePayload(frame[spoolFrameHead:])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("record changed in the spool:\n in: %+v\nout: %+v", in, out)
	}
	if _, ok := out.Usage.CacheWrite.Get(); ok {
		t.Error("a token count not reported came back reported")
	}
	if n, ok := out.Usage.Input.Get(); !ok || n != 0 {
		t.Errorf("input tokens reported as 0 came back as %d, %v", n, ok)
	}
}
