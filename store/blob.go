package store

import (
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/klauspost/compress/zstd"
)

// Blob kinds: which body of a request a stored blob holds.
const (
	blobRequest  = "request"
	blobResponse = "response"
)

// codecZstd names the compression of stored blobs; kept per blob so the
// format can change without rewriting old rows.
const codecZstd = "zstd"

// maxBlobSize bounds a decompressed blob, so a corrupt or hostile row
// cannot exhaust memory.
const maxBlobSize = 256 << 20

// blobCodec turns raw bodies into stored blobs and back: zstd-compressed,
// then, with encryption on, sealed with AES-256-GCM. The nonce is prepended
// to the ciphertext, and the request ID and blob kind are authenticated with
// it, so a blob moved to another row or swapped between request and
// response no longer opens.
type blobCodec struct {
	enc     *zstd.Encoder
	dec     *zstd.Decoder
	keys    *Keyring
	encrypt bool
}

// blob is one stored body.
type blob struct {
	kind  string
	codec string
	keyID string // "" when stored in the clear
	size  int    // decompressed length
	data  []byte
}

func newBlobCodec(keys *Keyring, encrypt bool) (*blobCodec, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxBlobSize))
	if err != nil {
		enc.Close()
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	return &blobCodec{enc: enc, dec: dec, keys: keys, encrypt: encrypt}, nil
}

func (c *blobCodec) close() {
	c.enc.Close()
	c.dec.Close()
}

func blobAAD(requestID, kind string) []byte {
	return []byte("sluice blob v1\x00" + requestID + "\x00" + kind)
}

// seal compresses (and maybe encrypts) one body.
func (c *blobCodec) seal(requestID, kind string, body []byte) (blob, error) {
	b := blob{kind: kind, codec: codecZstd, size: len(body)}
	b.data = c.enc.EncodeAll(body, nil)
	if !c.encrypt {
		return b, nil
	}
	k := c.keys.current
	if k == nil {
		return blob{}, ErrNoBlobKey
	}
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(b.data)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return blob{}, fmt.Errorf("blob nonce: %w", err)
	}
	b.data = k.aead.Seal(nonce, nonce, b.data, blobAAD(requestID, kind))
	b.keyID = k.id
	return b, nil
}

// open reverses seal. A blob sealed with a key the keyring lacks fails with
// ErrBlobKeyMissing.
func (c *blobCodec) open(requestID string, b blob) ([]byte, error) {
	data := b.data
	if b.keyID != "" {
		var k *blobKey
		if c.keys != nil {
			k = c.keys.byID[b.keyID]
		}
		if k == nil {
			return nil, fmt.Errorf("%w (key id %s; set it in %s or %s)", ErrBlobKeyMissing, b.keyID, EnvBlobKey, EnvBlobKeysOld)
		}
		ns := k.aead.NonceSize()
		if len(data) < ns+k.aead.Overhead() {
			return nil, errors.New("encrypted blob is truncated")
		}
		plain, err := k.aead.Open(nil, data[:ns], data[ns:], blobAAD(requestID, b.kind))
		if err != nil {
			return nil, fmt.Errorf("encrypted blob does not authenticate under key %s: %w", b.keyID, err)
		}
		data = plain
	}
	switch b.codec {
	case codecZstd:
		out, err := c.dec.DecodeAll(data, make([]byte, 0, max(0, min(b.size, maxBlobSize))))
		if err != nil {
			return nil, fmt.Errorf("decompress blob: %w", err)
		}
		return out, nil
	case "":
		return data, nil
	}
	return nil, fmt.Errorf("blob codec %q is unknown to this version", b.codec)
}
