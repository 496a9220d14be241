package eventstream

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzAppendEvent: AppendEvent writes exactly the frame the codec's
// encoder writes for the same event, after whatever the buffer held.
func FuzzAppendEvent(f *testing.F) {
	f.Add("contentBlockDelta", []byte(`{"contentBlockIndex":0,"delta":{"text":"hi"}}`))
	f.Add("metadata", []byte(`{}`))
	f.Add("", []byte(nil))
	f.Fuzz(func(t *testing.T, typ string, payload []byte) {
		if len(typ) > 255 {
			return // header values this long are refused by the encoder and never sent
		}
		var want bytes.Buffer
		if err := Encode(&want, Event(typ, payload)); err != nil {
			t.Skip(err)
		}
		got := AppendEvent([]byte("held"), typ, payload)
		if !bytes.Equal(got, append([]byte("held"), want.Bytes()...)) {
			t.Fatalf("AppendEvent(%q, %q):\n got %x\nwant held+%x", typ, payload, got, want.Bytes())
		}
	})
}

func TestAppendEventDecodes(t *testing.T) {
	frame := AppendEvent(nil, "messageStop", []byte(`{"stopReason":"end_turn"}`))
	frame = AppendEvent(frame, strings.Repeat("x", 200), []byte(`{}`))
	var d Decoder
	var got []string
	if err := d.Feed(frame, func(m Message) { got = append(got, Header(m, HeaderEventType)+" "+string(m.Payload)) }); err != nil {
		t.Fatal(err)
	}
	if err := d.End(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != `messageStop {"stopReason":"end_turn"}` || got[1] != strings.Repeat("x", 200)+" {}" {
		t.Errorf("decoded %q", got)
	}
}
