package export

import (
	"context"
	"testing"
	"time"
)

// BenchmarkExportBatch measures one batch of 1,000 requests end to end:
// numbering, reading, CBOR and zstd, and the upload to an in-process S3
// server.
func BenchmarkExportBatch(b *testing.B) {
	ctx := context.Background()
	f := newFakeS3(b)
	st := openStore(b)
	c := f.client(b, "")
	e := New(st, c, Options{Limit: 1000})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		insert(b, st, t0.Add(time.Duration(i)*time.Hour), 1000, "bench")
		b.StartTimer()
		if n, err := e.Export(ctx); err != nil || n != 1000 {
			b.Fatalf("Export = %d, %v", n, err)
		}
	}
}
