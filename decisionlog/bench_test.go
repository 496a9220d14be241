package decisionlog

import (
	"context"
	"testing"
	"time"
)

// BenchmarkWrite is the cost the decision path pays per decision for
// shipping: decode, label, mask, encode and buffer one event.
func BenchmarkWrite(b *testing.B) {
	b.Run("labels only", func(b *testing.B) { benchmarkWrite(b, `[]`) })
	b.Run("masked", func(b *testing.B) { benchmarkWrite(b, `["/input/user/caps"]`) })
}

func benchmarkWrite(b *testing.B, mask string) {
	c, err := ParseConfig([]byte(`{"url": "http://127.0.0.1:1", "reporting": {"min_delay_seconds": 3600, "max_delay_seconds": 3600, "buffer_size_limit_bytes": 1048576}, "mask": ` + mask + `}`))
	if err != nil {
		b.Fatal(err)
	}
	sh := New(c, Options{ID: "ai-1", Version: "bench"})
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		sh.Close(ctx) //nolint:errcheck // nothing listens; the buffer is dropped
	}()
	line := []byte(`{"decision_id":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","revision":"af386428849d28b06a54ed38","path":"sluice/authz","input":{"user":{"login":"alice@example.com","node_id":"n123","tailnet":"example.com","tags":[],"caps":[{"models":"anthropic/**"}]},"request":{"provider":"anthropic","model":"claude-sonnet-4-5","format":"anthropic_messages","path":"/v1/messages"}},"result":{"role":"user","admin":false,"allow":true,"deny":[],"hooks":[],"read_metrics":false},"timestamp":"2026-12-05T23:00:00.123456Z","metrics":{"timer_rego_query_eval_ns":25000,"timer_sluice_decide_ns":31000}}` + "\n")
	b.ReportAllocs()
	for b.Loop() {
		sh.Write(line)
	}
}
