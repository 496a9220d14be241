package export

import (
	"testing"
	"time"
)

// FuzzDecode feeds arbitrary bytes to the object reader a verifier runs
// on whatever a bucket holds: it must return records or an error, never
// panic, and what it returns must encode and decode to the same records.
func FuzzDecode(f *testing.F) {
	in := int64(12)
	obj, _, err := Encode([]Record{
		{V: 1, Seq: 1, ID: "a", TimeUS: 1, Login: "u", Usage: Usage{Input: &in}},
		{V: 1, Seq: 2, ID: "b", Raws: []Raw{{Kind: "request", Codec: "zstd", Size: 3, Data: []byte{1, 2, 3}}}},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(obj)
	f.Add([]byte{})
	f.Add([]byte("not zstd"))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := Decode(data)
		if err != nil {
			return
		}
		again, _, err := Encode(recs)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		back, err := Decode(again)
		if err != nil || len(back) != len(recs) {
			t.Fatalf("decode of re-encoded = %d records, %v; want %d", len(back), err, len(recs))
		}
	})
}

// FuzzParseManifestKey checks that whatever key the parser accepts, the
// key ManifestKey writes for the same range and hour parses back alike.
func FuzzParseManifestKey(f *testing.F) {
	f.Add("p", ManifestKey("p", 1, 10, time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)))
	f.Add("", ManifestKey("", 11, 20, time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)))
	f.Add("p", "p/v1/2026/12/01/09/1-2.manifest.json")
	f.Fuzz(func(t *testing.T, prefix, key string) {
		pk, ok := parseManifestKey(prefix, key)
		if !ok {
			return
		}
		if pk.first < 1 || pk.last < pk.first {
			t.Fatalf("%q: range %d-%d", key, pk.first, pk.last)
		}
		canonical := ManifestKey(prefix, pk.first, pk.last, pk.hour)
		if back, ok := parseManifestKey(prefix, canonical); !ok || back != pk {
			t.Fatalf("%q parses to %+v; its canonical key %q parses to %+v, %v", key, pk, canonical, back, ok)
		}
	})
}
