package eventstream

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

type frame struct {
	MessageType, EventType, ExceptionType string
	Payload                               string
}

func decodeAll(t testing.TB, d *Decoder, chunks ...[]byte) ([]frame, error) {
	t.Helper()
	var out []frame
	emit := func(m Message) {
		out = append(out, frame{
			Header(m, HeaderMessageType), Header(m, HeaderEventType),
			Header(m, HeaderExceptionType), string(m.Payload),
		})
	}
	for _, c := range chunks {
		if err := d.Feed(c, emit); err != nil {
			return out, err
		}
	}
	return out, d.End()
}

func encodeAll(t testing.TB, msgs ...Message) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, m := range msgs {
		if err := Encode(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestRoundTripSplitAnywhere(t *testing.T) {
	stream := encodeAll(t,
		Event("messageStart", []byte(`{"role":"assistant"}`)),
		Event("contentBlockDelta", []byte(`{"contentBlockIndex":0,"delta":{"text":"Hi"}}`)),
		Exception("modelStreamErrorException", []byte(`{"message":"boom"}`)),
	)
	want := []frame{
		{"event", "messageStart", "", `{"role":"assistant"}`},
		{"event", "contentBlockDelta", "", `{"contentBlockIndex":0,"delta":{"text":"Hi"}}`},
		{"exception", "", "modelStreamErrorException", `{"message":"boom"}`},
	}
	for i := 0; i <= len(stream); i++ {
		for j := i; j <= len(stream); j += 7 {
			var d Decoder
			got, err := decodeAll(t, &d, stream[:i], stream[i:j], stream[j:])
			if err != nil {
				t.Fatalf("split %d/%d: %v", i, j, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("split %d/%d: got %+v", i, j, got)
			}
		}
	}
}

func TestDecoderErrors(t *testing.T) {
	good := encodeAll(t, Event("chunk", []byte(`{"bytes":"e30="}`)))
	flipped := bytes.Clone(good)
	flipped[len(flipped)-6] ^= 0xff // payload byte: message CRC no longer matches
	badLen := bytes.Clone(good)
	badLen[3] = 3 // total length below the minimum frame

	tests := []struct {
		name    string
		input   []byte
		max     int
		wantErr error
		frames  int
	}{
		{name: "whole frame", input: good, frames: 1},
		{name: "checksum mismatch", input: flipped, wantErr: ErrCorrupt},
		{name: "impossible length", input: badLen, wantErr: ErrCorrupt},
		{name: "frame above the bound", input: good, max: 20, wantErr: ErrCorrupt},
		{name: "stream ends inside a frame", input: good[:len(good)-1], wantErr: ErrTruncated},
		{name: "stream ends inside the prelude", input: good[:5], wantErr: ErrTruncated},
		{name: "empty stream", input: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decoder{MaxMessageSize: tt.max}
			got, err := decodeAll(t, &d, tt.input)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if len(got) != tt.frames {
				t.Fatalf("%d frames, want %d", len(got), tt.frames)
			}
		})
	}
}

func TestDecoderStopsAfterCorruption(t *testing.T) {
	good := encodeAll(t, Event("chunk", []byte(`{}`)))
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 1
	var d Decoder
	n := 0
	emit := func(Message) { n++ }
	if err := d.Feed(bad, emit); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v", err)
	}
	if err := d.Feed(good, emit); !errors.Is(err, ErrCorrupt) || n != 0 {
		t.Fatalf("after corruption: err %v, %d frames", err, n)
	}
}

func seeds(tb testing.TB) [][]byte {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "upstream", "*", "*.eventstream"))
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
		t.Fatal("no event-stream fixtures")
	}
	for _, in := range fixtures {
		var whole Decoder
		want, err := decodeAll(t, &whole, in)
		if err != nil || len(want) == 0 {
			t.Fatalf("fixture: %d frames, %v", len(want), err)
		}
		for i := 0; i <= len(in); i++ {
			var d Decoder
			got, err := decodeAll(t, &d, in[:i], in[i:])
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("split %d: %v", i, err)
			}
		}
	}
}

func FuzzDecoder(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s, uint16(len(s)/3))
	}
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		at := int(cut) % (len(in) + 1)
		whole := Decoder{MaxMessageSize: 1 << 16}
		split := Decoder{MaxMessageSize: 1 << 16}
		want, werr := decodeAll(t, &whole, in)
		got, gerr := decodeAll(t, &split, in[:at], in[at:])
		if (werr == nil) != (gerr == nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("split at %d: %v/%v, %d vs %d frames", at, gerr, werr, len(got), len(want))
		}
		// Whatever decodes re-encodes to a stream that decodes the same.
		var msgs []Message
		var norm []frame
		for _, fr := range want {
			if fr.MessageType == MessageTypeException {
				msgs = append(msgs, Exception(fr.ExceptionType, []byte(fr.Payload)))
				norm = append(norm, frame{MessageTypeException, "", fr.ExceptionType, fr.Payload})
			} else {
				msgs = append(msgs, Event(fr.EventType, []byte(fr.Payload)))
				norm = append(norm, frame{MessageTypeEvent, fr.EventType, "", fr.Payload})
			}
		}
		want = norm
		var again Decoder
		back, err := decodeAll(t, &again, encodeAll(t, msgs...))
		if err != nil || len(back) != len(want) || (len(want) > 0 && !reflect.DeepEqual(back, want)) {
			t.Fatalf("re-encoded stream decodes to %+v (%v), want %+v", back, err, want)
		}
	})
}

func BenchmarkFeedFrame(b *testing.B) {
	var buf bytes.Buffer
	_ = Encode(&buf, Event("chunk", []byte(`{"bytes":"eyJ0eXBlIjoiY29udGVudF9ibG9ja19kZWx0YSIsImluZGV4IjowLCJkZWx0YSI6eyJ0eXBlIjoidGV4dF9kZWx0YSIsInRleHQiOiJIZWxsbyJ9fQ==","p":"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456"}`)))
	frameBytes := buf.Bytes()
	var d Decoder
	n := 0
	emit := func(m Message) { n += len(m.Payload) }
	b.ReportAllocs()
	b.SetBytes(int64(len(frameBytes)))
	for b.Loop() {
		if err := d.Feed(frameBytes, emit); err != nil {
			b.Fatal(err)
		}
	}
}
