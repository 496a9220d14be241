package store

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func codec(t testing.TB, keys *Keyring, encrypt bool) *blobCodec {
	t.Helper()
	c, err := newBlobCodec(keys, encrypt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	return c
}

func TestBlobSealOpen(t *testing.T) {
	body := []byte(strings.Repeat(`{"role":"user","content":"compress me"}`, 100))
	k1, _ := NewKeyring(testKey(1))
	k2old1, _ := NewKeyring(testKey(2), testKey(1))
	only2, _ := NewKeyring(testKey(2))
	plain := codec(t, nil, false)
	enc1 := codec(t, k1, true)

	sealedPlain, err := plain.seal("req", blobRequest, body)
	if err != nil {
		t.Fatal(err)
	}
	if sealedPlain.keyID != "" || len(sealedPlain.data) >= len(body)/4 {
		t.Errorf("plain blob: key %q, %d bytes for %d; want no key and compressed", sealedPlain.keyID, len(sealedPlain.data), len(body))
	}
	sealed1, err := enc1.seal("req", blobRequest, body)
	if err != nil {
		t.Fatal(err)
	}
	if sealed1.keyID != k1.CurrentID() || bytes.Contains(sealed1.data, []byte("compress")) {
		t.Errorf("encrypted blob: key %q (want %q)", sealed1.keyID, k1.CurrentID())
	}
	tampered := sealed1
	tampered.data = bytes.Clone(sealed1.data)
	tampered.data[len(tampered.data)-1] ^= 1
	swapped := sealed1
	swapped.kind = blobResponse

	tests := []struct {
		name    string
		c       *blobCodec
		id      string
		b       blob
		wantErr error
		anyErr  bool
	}{
		{"plain with plain codec", plain, "req", sealedPlain, nil, false},
		{"plain with encrypting codec", enc1, "req", sealedPlain, nil, false},
		{"sealed under current key", enc1, "req", sealed1, nil, false},
		{"sealed under old key after rotation", codec(t, k2old1, true), "req", sealed1, nil, false},
		{"key withdrawn", codec(t, only2, true), "req", sealed1, ErrBlobKeyMissing, true},
		{"no keys at all", plain, "req", sealed1, ErrBlobKeyMissing, true},
		{"tampered", enc1, "req", tampered, nil, true},
		{"moved to another request", enc1, "other", sealed1, nil, true},
		{"swapped request and response", enc1, "req", swapped, nil, true},
		{"unknown codec", plain, "req", blob{codec: "lz77", data: []byte("x")}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.c.open(tt.id, tt.b)
			if (err != nil) != tt.anyErr {
				t.Fatalf("open: %v, want error %v", err, tt.anyErr)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
			if err == nil && !bytes.Equal(got, body) {
				t.Errorf("opened %d bytes, want the %d-byte body", len(got), len(body))
			}
		})
	}
}

func TestSealWithoutKeyFails(t *testing.T) {
	c := codec(t, nil, true)
	c.keys = &Keyring{}
	if _, err := c.seal("req", blobRequest, []byte("x")); !errors.Is(err, ErrNoBlobKey) {
		t.Errorf("seal without key: %v, want ErrNoBlobKey", err)
	}
}

func TestKeyringFromEnv(t *testing.T) {
	k1 := base64.StdEncoding.EncodeToString(testKey(1))
	k2 := base64.RawURLEncoding.EncodeToString(testKey(2))
	keyFile := filepath.Join(t.TempDir(), "blob.key")
	if err := os.WriteFile(keyFile, []byte(k2+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	id := func(b byte) string { k, _ := NewKeyring(testKey(b)); return k.CurrentID() }
	tests := []struct {
		name    string
		env     map[string]string
		current string
		ids     int
		nilRing bool
		err     bool
	}{
		{"nothing set", nil, "", 0, true, false},
		{"current only", map[string]string{EnvBlobKey: k1}, id(1), 1, false, false},
		{"file", map[string]string{EnvBlobKeyFile: keyFile}, id(2), 1, false, false},
		{"env wins over file", map[string]string{EnvBlobKey: k1, EnvBlobKeyFile: keyFile}, id(1), 1, false, false},
		{"rotation", map[string]string{EnvBlobKey: k2, EnvBlobKeysOld: k1 + ", " + k1}, id(2), 2, false, false},
		{"old only reads", map[string]string{EnvBlobKeysOld: k1}, "", 1, false, false},
		{"short key", map[string]string{EnvBlobKey: base64.StdEncoding.EncodeToString([]byte("short"))}, "", 0, false, true},
		{"not base64", map[string]string{EnvBlobKey: "!!!"}, "", 0, false, true},
		{"bad old key", map[string]string{EnvBlobKey: k1, EnvBlobKeysOld: "nope"}, "", 0, false, true},
		{"missing file", map[string]string{EnvBlobKeyFile: filepath.Join(t.TempDir(), "none")}, "", 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := KeyringFromEnv(func(name string) string { return tt.env[name] })
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if (k == nil) != tt.nilRing {
				t.Fatalf("keyring = %v, want nil %v", k, tt.nilRing)
			}
			if k.CurrentID() != tt.current || len(k.IDs()) != tt.ids {
				t.Errorf("current %q ids %v; want %q and %d ids", k.CurrentID(), k.IDs(), tt.current, tt.ids)
			}
		})
	}
}

func TestKeyIDDoesNotRevealKey(t *testing.T) {
	k, _ := NewKeyring(testKey(7))
	if id := k.CurrentID(); len(id) != 16 || strings.Contains(id, "0707") {
		t.Errorf("key id %q: want 16 hex digits of a hash, not key bytes", id)
	}
}

// FuzzBlobOpen feeds arbitrary stored bytes to open: it must fail cleanly,
// never panic or allocate without bound.
func FuzzBlobOpen(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "blobs", "*"))
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
		f.Add(b, true)
	}
	keys, _ := NewKeyring(testKey(1))
	c := codec(f, keys, true)
	f.Fuzz(func(t *testing.T, data []byte, encrypted bool) {
		b := blob{kind: blobRequest, codec: codecZstd, size: len(data), data: data}
		if encrypted {
			b.keyID = keys.CurrentID()
		}
		_, _ = c.open("req", b)
	})
}
