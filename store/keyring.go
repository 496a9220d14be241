package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Environment variables that hold blob keys.
const (
	// EnvBlobKey holds the current key, base64 of 32 random bytes.
	EnvBlobKey = "SLUICE_BLOB_KEY"
	// EnvBlobKeyFile names a file holding the current key (same encoding),
	// for secret managers that mount files. EnvBlobKey wins when both are
	// set.
	EnvBlobKeyFile = "SLUICE_BLOB_KEY_FILE"
	// EnvBlobKeysOld holds previous keys, comma-separated, accepted for
	// reading only.
	EnvBlobKeysOld = "SLUICE_BLOB_KEYS_OLD"
)

// Keyring holds the keys that seal raw bodies at rest
// (database.keep_encrypted_blobs): one current key that seals new bodies and
// any number of previous keys that still open old ones. Each stored body
// records the ID of the key that sealed it: the first 8 bytes of the key's
// SHA-256, in hex, which names the key without revealing it.
//
// Rotating the key, with no downtime and nothing made unreadable:
//
//  1. Make a new key: head -c 32 /dev/urandom | base64
//  2. On every replica, set SLUICE_BLOB_KEY to the new key and add the old
//     one to SLUICE_BLOB_KEYS_OLD (comma-separated; keep any older keys
//     whose bodies are still stored), then restart the replicas. New
//     bodies are sealed with the new key; old ones still open with the old.
//  3. Once database.retention has passed since the restart, no body sealed
//     with the old key remains: remove it from SLUICE_BLOB_KEYS_OLD.
//
// A key that is lost or withdrawn leaves its bodies unreadable: the rows
// stay, and reading their bodies reports ErrBlobKeyMissing.
type Keyring struct {
	current *blobKey
	byID    map[string]*blobKey
}

type blobKey struct {
	id   string
	aead cipher.AEAD
}

// KeySize is the length of a blob key in bytes (AES-256).
const KeySize = 32

// NewKeyring builds a keyring from raw 32-byte keys: current seals, old only
// open. current may be nil for a read-only keyring.
func NewKeyring(current []byte, old ...[]byte) (*Keyring, error) {
	k := &Keyring{byID: make(map[string]*blobKey)}
	if current != nil {
		bk, err := newBlobKey(current)
		if err != nil {
			return nil, fmt.Errorf("current blob key: %w", err)
		}
		k.current = bk
		k.byID[bk.id] = bk
	}
	for i, raw := range old {
		bk, err := newBlobKey(raw)
		if err != nil {
			return nil, fmt.Errorf("old blob key %d: %w", i+1, err)
		}
		if _, dup := k.byID[bk.id]; !dup {
			k.byID[bk.id] = bk
		}
	}
	return k, nil
}

func newBlobKey(raw []byte) (*blobKey, error) {
	if len(raw) != KeySize {
		return nil, fmt.Errorf("key is %d bytes, want %d", len(raw), KeySize)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	sum := sha256.Sum256(raw)
	return &blobKey{id: hex.EncodeToString(sum[:8]), aead: aead}, nil
}

// ParseKey decodes a base64 (standard or URL alphabet, padded or not) blob
// key and checks its length. Surrounding white space is ignored.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("blob key is %d bytes, want %d (base64 of 32 random bytes)", len(b), KeySize)
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("blob key is not base64 (want base64 of 32 random bytes)")
}

// GenerateKey returns a new random key, base64-encoded as EnvBlobKey wants.
func GenerateKey() (string, error) {
	b := make([]byte, KeySize)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate blob key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// KeyringFromEnv builds the keyring from EnvBlobKey (or the file named by
// EnvBlobKeyFile) and EnvBlobKeysOld, read with getenv (os.Getenv in
// production). It returns nil and no error when no key is set at all.
func KeyringFromEnv(getenv func(string) string) (*Keyring, error) {
	var current []byte
	switch {
	case getenv(EnvBlobKey) != "":
		k, err := ParseKey(getenv(EnvBlobKey))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvBlobKey, err)
		}
		current = k
	case getenv(EnvBlobKeyFile) != "":
		path := getenv(EnvBlobKeyFile)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvBlobKeyFile, err)
		}
		k, err := ParseKey(string(b))
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", EnvBlobKeyFile, path, err)
		}
		current = k
	}
	var old [][]byte
	for i, s := range strings.Split(getenv(EnvBlobKeysOld), ",") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		k, err := ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("%s entry %d: %w", EnvBlobKeysOld, i+1, err)
		}
		old = append(old, k)
	}
	if current == nil && len(old) == 0 {
		return nil, nil
	}
	return NewKeyring(current, old...)
}

// CurrentID is the ID of the key that seals new bodies, or "" if none.
func (k *Keyring) CurrentID() string {
	if k == nil || k.current == nil {
		return ""
	}
	return k.current.id
}

// IDs lists the IDs of every key the keyring can open with.
func (k *Keyring) IDs() []string {
	if k == nil {
		return nil
	}
	ids := make([]string, 0, len(k.byID))
	for id := range k.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
