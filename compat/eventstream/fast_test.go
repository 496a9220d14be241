package eventstream

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"reflect"
	"testing"

	awses "github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// withChecksums is f with its total length and both checksums set right,
// so that a fuzzed frame reaches the headers.
func withChecksums(f []byte) []byte {
	f = bytes.Clone(f)
	binary.BigEndian.PutUint32(f, uint32(len(f)))
	binary.BigEndian.PutUint32(f[8:], crc32.ChecksumIEEE(f[:8]))
	binary.BigEndian.PutUint32(f[len(f)-4:], crc32.ChecksumIEEE(f[:len(f)-4]))
	return f
}

// splitFrames cuts a stream into its frames.
func splitFrames(s []byte) [][]byte {
	var out [][]byte
	for len(s) >= 4 {
		n := int(binary.BigEndian.Uint32(s))
		if n < minFrame || n > len(s) {
			break
		}
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}

func TestFastFrame(t *testing.T) {
	ev := encodeAll(t, Event("contentBlockDelta", []byte(`{"delta":{"text":"Hi"}}`)))
	var dup bytes.Buffer
	h := Headers{}
	h.Set(HeaderEventType, awses.StringValue("a"))
	_ = Encode(&dup, Message{Headers: h, Payload: []byte(`{}`)})
	// The same header twice: Set keeps the last, the codec's reading.
	dupFrame := bytes.Clone(dup.Bytes())
	hdr := dupFrame[12 : 12+binary.BigEndian.Uint32(dupFrame[4:])]
	twice := append(append([]byte{}, dupFrame[:12]...), hdr...)
	twice = append(twice, hdr...)
	twice = append(twice, dupFrame[12+len(hdr):]...)
	binary.BigEndian.PutUint32(twice[4:], uint32(2*len(hdr)))
	twice = withChecksums(twice)
	var ints bytes.Buffer
	hi := Headers{}
	hi.Set(":n", awses.Int32Value(7))
	_ = Encode(&ints, Message{Headers: hi, Payload: []byte(`{}`)})
	bad := bytes.Clone(ev)
	bad[len(bad)-5] ^= 1

	for _, c := range []struct {
		name  string
		frame []byte
		fast  bool
	}{
		{"event frame", ev, true},
		{"repeated header goes to the codec", twice, false},
		{"integer header goes to the codec", ints.Bytes(), false},
		{"bad checksum goes to the codec", bad, false},
		{"no headers", encodeAll(t, Message{Payload: []byte(`{}`)}), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var d Decoder
			_, ok := d.fastFrame(c.frame)
			if ok != c.fast {
				t.Fatalf("fastFrame took it: %v, want %v", ok, c.fast)
			}
			compareWithCodec(t, c.frame)
		})
	}
}

// compareWithCodec fails when fastFrame reads f otherwise than the SDK's
// codec, twice in a row (the second time from the known headers).
func compareWithCodec(t *testing.T, f []byte) {
	t.Helper()
	if len(f) < 4 || int(binary.BigEndian.Uint32(f)) != len(f) {
		return // the decoder hands fastFrame whole frames only
	}
	want, err := awses.NewDecoder().Decode(bytes.NewReader(f), nil)
	var d Decoder
	for range 2 {
		got, ok := d.fastFrame(f)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("%x: fastFrame read what the codec refuses (%v)", f, err)
		}
		if !reflect.DeepEqual(got.Headers, want.Headers) || !bytes.Equal(got.Payload, want.Payload) {
			t.Fatalf("%x: fastFrame %+v, codec %+v", f, got, want)
		}
	}
}

// FuzzFastFrame holds fastFrame to the SDK's codec, on frames as they
// come and with their checksums set right.
func FuzzFastFrame(f *testing.F) {
	for _, s := range seeds(f) {
		for _, fr := range splitFrames(s) {
			f.Add(fr)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		compareWithCodec(t, in)
		if len(in) >= minFrame {
			compareWithCodec(t, withChecksums(in))
		}
	})
}
