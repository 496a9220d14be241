package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestReadAnswer holds readAnswer to what it replaces, io.ReadAll of the
// first maxTranslatedBody+1 bytes: the same bytes or the same error, and
// as many bytes taken from the upstream (which the recorder sees).
func TestReadAnswer(t *testing.T) {
	body := strings.Repeat(`{"a":"b"}`, 100)
	failed := errors.New("connection reset")
	tests := []struct {
		name   string
		src    func() io.Reader
		length int64
	}{
		{"length given", func() io.Reader { return strings.NewReader(body) }, int64(len(body))},
		{"length unknown", func() io.Reader { return strings.NewReader(body) }, -1},
		{"empty", func() io.Reader { return strings.NewReader("") }, 0},
		{"a byte at a time", func() io.Reader { return iotest.OneByteReader(strings.NewReader(body)) }, int64(len(body))},
		{"longer than said", func() io.Reader { return strings.NewReader(body) }, 10},
		{"shorter than said", func() io.Reader { return strings.NewReader(body) }, 5000},
		{"data with EOF", func() io.Reader { return iotest.DataErrReader(strings.NewReader(body)) }, int64(len(body))},
		{"read fails", func() io.Reader { return io.MultiReader(strings.NewReader(body), iotest.ErrReader(failed)) }, -1},
		{"too large", func() io.Reader { return zeros{} }, -1},
		{"too large, length given", func() io.Reader { return io.LimitReader(zeros{}, maxTranslatedBody+10) }, maxTranslatedBody + 10},
		{"at the limit", func() io.Reader { return io.LimitReader(zeros{}, maxTranslatedBody) }, maxTranslatedBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref := &countingReader{r: tt.src()}
			want, wantErr := readAllLimited(ref)
			src := &countingReader{r: tt.src()}
			got, err := readAnswer(src, tt.length)
			if fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Fatalf("error %v, want %v", err, wantErr)
			}
			if err == nil && !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes, want %d", len(got), len(want))
			}
			if src.n != ref.n {
				t.Errorf("took %d bytes from the upstream, want %d", src.n, ref.n)
			}
		})
	}
}

// readAllLimited is what the translated answer was read with before
// readAnswer.
func readAllLimited(r io.Reader) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, maxTranslatedBody+1))
	if err == nil && len(body) > maxTranslatedBody {
		return body, fmt.Errorf("the answer exceeds %d bytes", maxTranslatedBody)
	}
	return body, err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
