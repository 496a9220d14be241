package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	stdlog "log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// heldStreams measures what open streams cost: n streamed requests, each
// held open after its first event until all n are open, through sluice
// and through a bare reverse proxy, in this process (the mock provider
// and the clients too, the same for both, so the difference is the
// gateway's own). It prints the heap and stack growth per stream and the
// resident memory once the streams have ended and the memory was
// returned.
//
// With heapProfile set, a heap profile is written to heapProfile-TARGET.pprof
// while the streams are open.
func heldStreams(n int, heapProfile string, out io.Writer) error {
	ctx := context.Background()
	mock, err := serveLoopback(holdingProvider())
	if err != nil {
		return err
	}
	defer mock.Close()
	u, _ := url.Parse(mock.URL)
	bare, err := serveLoopback(&httputil.ReverseProxy{
		Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		Transport:     transport(),
		FlushInterval: -1,
		ErrorLog:      stdlog.New(io.Discard, "", 0),
	})
	if err != nil {
		return err
	}
	defer bare.Close()
	sl, stop, err := startSluice(ctx, mock.URL, nil)
	if err != nil {
		return err
	}
	defer stop()
	defer sl.Close()

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "target\tstreams\theap+stacks per stream\tRSS open\tRSS after, memory returned\t\n")
	for _, t := range []target{{"bare proxy", bare.URL}, {"sluice", sl.URL}} {
		release := make(chan struct{})
		holdRelease.Store(&release)
		profile := ""
		if heapProfile != "" {
			profile = heapProfile + "-" + strings.ReplaceAll(t.name, " ", "-") + ".pprof"
		}
		m, err := holdStreams(t.url, n, func() error { close(release); return nil }, selfProbe{}, profile)
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		if m.failed > 0 {
			return fmt.Errorf("%s: %d of %d streams failed, the first with: %w", t.name, m.failed, n, m.firstErr)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f KB\t%d MB\t%d MB\t\n", t.name, n, m.heapPerStream()/1024, m.rssOpen>>20, m.rssAfter>>20)
	}
	return tw.Flush()
}

// memProbe reads the memory of the process that serves the streams.
type memProbe interface {
	// sample is the heap and goroutine stacks in use after a
	// collection, and the resident memory.
	sample() (heap, rss int64, err error)
	// profile writes a heap profile to path.
	profile(path string) error
	// settle waits, once the streams ended, for the memory they used to
	// be returned as the process returns it. It returns the resident
	// memory read along the way at idle, before anything else asks the
	// process for work (0 when it reads none).
	settle() (rssIdle int64)
}

// selfProbe is this process's memory: the in-process runs.
type selfProbe struct{}

func (selfProbe) sample() (int64, int64, error) { return inUse(), selfRSS(), nil }

func (selfProbe) profile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.WriteHeapProfile(f)
}

func (selfProbe) settle() int64 {
	time.Sleep(100 * time.Millisecond)
	debug.FreeOSMemory()
	return selfRSS()
}

// heldMemory is what holdStreams measured.
type heldMemory struct {
	n, failed                       int
	firstErr                        error // of the failed streams
	heapBefore, heapOpen, heapAfter int64
	rssBefore, rssOpen, rssAfter    int64
	// rssIdle is the resident memory idleFor after the streams ended,
	// read before the sample that gives rssAfter.
	rssIdle int64
}

func (m heldMemory) heapPerStream() float64 { return float64(m.heapOpen-m.heapBefore) / float64(m.n) }
func (m heldMemory) rssPerStream() float64  { return float64(m.rssOpen-m.rssBefore) / float64(m.n) }

// holdRelease is the channel the holding provider waits on now.
var holdRelease atomic.Pointer[chan struct{}]

// holdingProvider streams a chat completion: one event, then nothing until
// release closes, then the rest and the usage.
func holdingProvider() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		release := *holdRelease.Load()
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		chunk := func(delta string) string {
			return `data: {"id":"chatcmpl-h","object":"chat.completion.chunk","created":1763000000,"model":"gpt-5","choices":[{"index":0,"delta":{"content":"` + delta + `"},"finish_reason":null}],"usage":null}` + "\n\n"
		}
		io.WriteString(w, chunk("first"))
		fl.Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		for i := range 20 {
			io.WriteString(w, chunk("tok"+strconv.Itoa(i)))
			fl.Flush()
		}
		io.WriteString(w, `data: {"id":"chatcmpl-h","object":"chat.completion.chunk","created":1763000000,"model":"gpt-5","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":21,"total_tokens":30}}`+"\n\ndata: [DONE]\n\n")
	})
}

// holdStreams opens n streams at base and holds them until all are
// open (each has had its first event), measures the serving process's
// memory with probe then (and writes a heap profile to profile, if set),
// calls release for the mock to end them, and measures again once they
// ended and probe settled.
func holdStreams(base string, n int, release func() error, probe memProbe, profile string) (heldMemory, error) {
	m := heldMemory{n: n}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: 0, IdleConnTimeout: time.Second}}
	defer client.CloseIdleConnections()
	body := []byte(`{"model":"gpt-5","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	var err error
	if m.heapBefore, m.rssBefore, err = probe.sample(); err != nil {
		return m, err
	}
	var opened, done sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		opened.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			first := false
			defer func() {
				if !first {
					opened.Done()
				}
			}()
			resp, err := client.Post(base+"/v1/chat/completions", "application/json", bytes.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				errs <- fmt.Errorf("status %d", resp.StatusCode)
				return
			}
			br := bufio.NewReader(resp.Body)
			line, err := br.ReadString('\n')
			if err != nil || !strings.Contains(line, "first") {
				errs <- fmt.Errorf("first event: %q %v", line, err)
				return
			}
			first = true
			opened.Done()
			rest, err := io.ReadAll(br)
			if err != nil || !bytes.Contains(rest, []byte("[DONE]")) {
				errs <- fmt.Errorf("stream end: %v", err)
			}
		}()
	}
	opened.Wait()
	m.heapOpen, m.rssOpen, err = probe.sample()
	if err == nil && profile != "" {
		err = probe.profile(profile)
	}
	if rerr := release(); err == nil {
		err = rerr
	}
	done.Wait()
	close(errs)
	if err != nil {
		return m, err
	}
	if m.failed = len(errs); m.failed > 0 {
		m.firstErr = <-errs
	}
	client.CloseIdleConnections()
	m.rssIdle = probe.settle()
	if m.heapAfter, m.rssAfter, err = probe.sample(); err == nil && profile != "" {
		err = probe.profile(strings.TrimSuffix(profile, ".pprof") + "-after.pprof")
	}
	return m, err
}

// inUse is the heap and goroutine stack memory in use after a collection.
func inUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

// selfRSS is this process's resident memory.
func selfRSS() int64 { return (&proc{pid: os.Getpid()}).rss() }
