package store

import (
	"context"
	"net"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// socketPair returns the two ends of a Unix-domain stream connection:
// bytes written to one are readable from the other as soon as Write
// returns, and a goroutine reading the other waits in the network poller,
// as a request's does.
func socketPair(t *testing.T) (a, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Skipf("no Unix sockets: %v", err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err = net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b = <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// readerWoken starts a goroutine that waits in the network poller for a
// byte on conn, and returns a channel closed once it has read it.
func readerWoken(conn net.Conn) <-chan struct{} {
	got := make(chan struct{})
	go func() {
		var b [1]byte
		conn.Read(b[:])
		close(got)
	}()
	// With one processor, let it start and park in the poller.
	runtime.Gosched()
	return got
}

// TestGiveWayRunsNetworkWaiters: on one processor, a goroutine whose
// network read became ready while another ran without blocking runs when
// that one gives way, before it continues. runtime.Gosched alone would
// not run it: the scheduler takes the yielding goroutine back from the
// global run queue before polling the network.
func TestGiveWayRunsNetworkWaiters(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	client, server := socketPair(t)
	got := readerWoken(server)
	if _, err := client.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	// The scheduler takes from the global queue first once every 61
	// rounds, which can put the caller ahead once; never twice in a row.
	for range 3 {
		giveWay()
		select {
		case <-got:
			return
		default:
		}
	}
	t.Fatal("the reader did not run while the caller gave way three times")
}

// TestInsertServesNetworkMeanwhile: a request that arrives while a large
// batch is being inserted is served before the insert ends, on one
// processor, rather than after it: the insert gives way between
// statements.
func TestInsertServesNetworkMeanwhile(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "s.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Thousands of rows: many times sliceBudget of CPU however fast the
	// machine.
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	recs := make([]Record, 4000)
	for i := range recs {
		recs[i] = Record{Time: t0.Add(time.Duration(i) * time.Millisecond), Login: "alice@example.com", Model: "gpt-5",
			Provider: "openai", Format: "openai_chat", Method: "POST", Path: "/v1/chat/completions", Status: 200}
		recs[i].ID = NewID(recs[i].Time)
	}

	gaveWay := 0
	defer func(f func()) { giveWayFunc = f }(giveWayFunc)
	giveWayFunc = func() {
		gaveWay++
		giveWay()
	}

	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	client, server := socketPair(t)
	got := readerWoken(server)
	if _, err := client.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	if err := st.Insert(ctx, recs); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	default:
		t.Fatal("the reader waited for the whole insert")
	}
	// Each time it gave way it let the reader run (see
	// TestGiveWayRunsNetworkWaiters); a scheduler that preempted the
	// insert would have too, so check that it did give way.
	if gaveWay == 0 {
		t.Error("the insert of 4,000 rows never gave way")
	}
}

func BenchmarkGiveWay(b *testing.B) {
	for b.Loop() {
		giveWay()
	}
}
