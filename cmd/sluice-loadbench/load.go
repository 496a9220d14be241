package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/sluice-gateway/sluice/internal/cputime"
)

// result is what one load run measured.
type result struct {
	requests int
	errors   int
	elapsed  time.Duration
	lat      []time.Duration // sorted
	// cpu is the CPU time the whole process (load generator, mock
	// provider and proxy) used during the run. Per request it is steadier
	// than throughput on a machine whose cores are shared with others.
	cpu time.Duration
	// firstErr is the first failed request's error (open loop only).
	firstErr error
}

func (r result) cpuPerRequest() time.Duration {
	if r.requests == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.requests)
}

func (r result) throughput() float64 { return float64(r.requests) / r.elapsed.Seconds() }

func (r result) percentile(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(float64(len(r.lat)-1) * p)
	return r.lat[i]
}

// load sends POSTs of body to url from `workers` goroutines until d has
// passed or max requests were sent, reading every response to the end (a
// streamed answer counts when its last byte arrives).
func load(ctx context.Context, client *http.Client, url string, body []byte, workers int, d time.Duration, max int) result {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu    sync.Mutex
		res   result
		sent  int
		wg    sync.WaitGroup
		start = time.Now()
		cpu0  = cputime.Process()
	)
	next := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if sent >= max || ctx.Err() != nil {
			return false
		}
		sent++
		return true
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			errs := 0
			for next() {
				t0 := time.Now()
				if err := once(ctx, client, url, body); err != nil {
					if ctx.Err() != nil {
						break
					}
					errs++
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.errors += errs
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.cpu = cputime.Process() - cpu0
	res.requests = len(res.lat)
	sortDurations(res.lat)
	return res
}

func once(ctx context.Context, client *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func sortDurations(d []time.Duration) { slices.Sort(d) }
