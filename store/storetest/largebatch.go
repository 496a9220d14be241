package storetest

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/usage"
)

// testLargeBatchRetried: batches larger than one statement (PostgreSQL
// copies them), stored again in part as a retry or a spool replay does,
// one of them holding an ID twice: every record is one row with every
// field and its bodies, and the rollups count each row once.
func testLargeBatchRetried(t *testing.T, dsn string) {
	ctx := context.Background()
	st := Open(t, dsn, store.Options{})
	recs := make([]store.Record, 900)
	for i := range recs {
		r := rec(fmt.Sprintf("big%04d", i), []string{"alice", "bob"}[i%2], "gpt-5", T0.Add(time.Duration(i)*time.Second))
		r.NodeID, r.NodeName, r.Tailnet, r.UserAgent = "n1", "laptop", "example.com", "codex_cli_rs/0.2"
		r.Stream, r.Latency, r.TTFB, r.ToolCalls = i%3 == 0, time.Duration(i)*time.Millisecond, time.Millisecond, i%4
		r.RequestBytes, r.ResponseBytes, r.Revision, r.SessionID = int64(i), int64(2*i), "rev1", fmt.Sprintf("s%d", i/50)
		r.Grants, r.RequestedModel = []string{"g1"}, "gpt"
		r.Attempts = []store.Attempt{{Provider: "openai", Status: 200, Outcome: "ok"}}
		if i%5 == 0 {
			r.Usage = usage.Tokens{Input: usage.Of(int64(i))} // output not reported
			r.CostUSD, r.CostKnown = 0, false
		}
		if i%9 == 0 {
			r.RawRequest, r.RawResponse = fmt.Appendf(nil, `{"q":%d}`, i), fmt.Appendf(nil, `{"a":%d}`, i)
		}
		recs[i] = r
	}
	insert(t, st, recs[:500]...)
	retry := append([]store.Record{}, recs[300:]...) // 200 rows stored already
	retry = append(retry, recs[700])                 // and one ID twice
	insert(t, st, retry...)
	insert(t, st, recs[:500]...) // everything stored already

	ids := make([]string, len(recs))
	for i := range recs {
		ids[i] = recs[i].ID
	}
	AssertOneRowEach(t, st, ids)
	for _, i := range []int{0, 9, 450, 700, 899} {
		got, err := st.Request(ctx, recs[i].ID, store.Lookup{Raws: true})
		if err != nil {
			t.Fatal(err)
		}
		want := recs[i]
		want.Time = want.Time.UTC()
		want.HasRaws = want.RawRequest != nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("row %s:\n got %+v\nwant %+v", want.ID, got, want)
		}
	}
	roll, err := st.Rollup(ctx, store.Filter{}, store.DimUser)
	if err != nil {
		t.Fatal(err)
	}
	var requests int64
	for _, r := range roll {
		requests += r.Requests
	}
	if requests != int64(len(recs)) {
		t.Errorf("rollups count %d requests, want %d", requests, len(recs))
	}
}
