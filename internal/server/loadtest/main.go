// Command loadtest drives the API at a fixed request rate and reports
// latency percentiles, throughput and errors (DESIGN §7: API reads p99 <
// 10 ms at 1,000 req/s).
//
// Without -url it ingests a Claude data directory (default: the real test
// corpus) into a temporary SQLite database and serves it on 127.0.0.1:0 in
// this process; the generator then shares the machine with the server.
//
//	go run ./internal/server/loadtest -rate 1000 -duration 30s
//	go run ./internal/server/loadtest -url http://127.0.0.1:51888
//
// The generator is open-loop: requests are sent on a fixed schedule whether
// or not earlier ones have finished, and latency is measured from the
// scheduled send time, so a slow server cannot hide its queueing delay by
// slowing the generator down (coordinated omission).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claude-token-monitor/ctm/internal/ingest"
	"github.com/claude-token-monitor/ctm/internal/pricing"
	"github.com/claude-token-monitor/ctm/internal/server"
	"github.com/claude-token-monitor/ctm/internal/sqlite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// config holds the command-line flags.
type config struct {
	url      string
	corpus   string
	rate     int
	duration time.Duration
	paths    []string
	token    string
	inflight int
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	var paths string
	fs.StringVar(&cfg.url, "url", "", "base URL of a running server; empty starts one in-process")
	fs.StringVar(&cfg.corpus, "corpus", "../shared/testdata/claude-real", "Claude data directory to ingest for the in-process server")
	fs.IntVar(&cfg.rate, "rate", 1000, "requests per second")
	fs.DurationVar(&cfg.duration, "duration", 30*time.Second, "how long to send")
	fs.StringVar(&paths, "paths", "/api/v1/stats,/api/v1/stats/daily?start_date=2026-01-01&end_date=2026-01-31", "comma list of paths, sent round-robin")
	fs.StringVar(&cfg.token, "token", "", "bearer token, when the server needs one")
	fs.IntVar(&cfg.inflight, "max-inflight", 5000, "requests in flight before the generator counts drops")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if cfg.rate <= 0 || cfg.duration <= 0 || cfg.inflight <= 0 {
		fmt.Fprintln(stderr, "loadtest: -rate, -duration and -max-inflight must be positive")
		return 2
	}
	for p := range strings.SplitSeq(paths, ",") {
		if p = strings.TrimSpace(p); p != "" {
			cfg.paths = append(cfg.paths, p)
		}
	}
	if len(cfg.paths) == 0 {
		fmt.Fprintln(stderr, "loadtest: -paths is empty")
		return 2
	}
	if cfg.url == "" {
		url, cleanup, err := startServer(ctx, cfg.corpus, stderr)
		if err != nil {
			fmt.Fprintln(stderr, "loadtest:", err)
			return 1
		}
		defer cleanup()
		cfg.url = url
	}
	res := drive(ctx, cfg)
	res.print(stdout, cfg)
	if res.total().errors > 0 {
		return 1
	}
	return 0
}

// startServer ingests corpus into a temporary database and serves it.
func startServer(ctx context.Context, corpus string, stderr io.Writer) (string, func(), error) {
	dir, err := os.MkdirTemp("", "ctm-loadtest")
	if err != nil {
		return "", nil, err
	}
	fail := func(err error) (string, func(), error) {
		_ = os.RemoveAll(dir)
		return "", nil, err
	}
	root, err := filepath.Abs(corpus)
	if err != nil {
		return fail(err)
	}
	if _, err := os.Stat(root); err != nil {
		return fail(fmt.Errorf("corpus: %w", err))
	}
	prices, err := pricing.Load(pricing.Options{})
	if err != nil {
		return fail(err)
	}
	store, err := sqlite.Open(ctx, filepath.Join(dir, "load.db"), prices)
	if err != nil {
		return fail(err)
	}
	discard := slog.New(slog.DiscardHandler)
	res, err := ingest.New(store, []string{root}, discard, ingest.Options{}).Run(ctx)
	if err != nil {
		_ = store.Close()
		return fail(fmt.Errorf("ingest %s: %w", root, err))
	}
	fmt.Fprintf(stderr, "ingested %d records from %d files of %s\n", res.Written, res.FilesScanned, root)
	srv, err := server.New(server.Options{
		Store: store, Pricer: prices, DisplayName: prices.DisplayName, Logger: discard,
		DataSources: []string{root}, Version: "loadtest",
	})
	if err != nil {
		_ = store.Close()
		return fail(err)
	}
	if err := srv.Open(); err != nil {
		_ = store.Close()
		return fail(err)
	}
	cleanup := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
		_ = store.Close()
		_ = os.RemoveAll(dir)
	}
	return srv.URL(), cleanup, nil
}

// pathStats collects the outcomes of one path.
type pathStats struct {
	latencies []time.Duration
	errors    int
	statuses  map[int]int
}

// results holds every path's outcomes and the run's timing.
type results struct {
	mu      sync.Mutex
	byPath  map[string]*pathStats
	dropped int64
	sent    int64
	elapsed time.Duration
}

func (r *results) record(path string, lat time.Duration, status int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ps := r.byPath[path]
	if ps == nil {
		ps = &pathStats{statuses: map[int]int{}}
		r.byPath[path] = ps
	}
	ps.latencies = append(ps.latencies, lat)
	if err != nil || status != http.StatusOK {
		ps.errors++
	}
	ps.statuses[status]++
}

func (r *results) total() *pathStats {
	all := &pathStats{statuses: map[int]int{}}
	for _, ps := range r.byPath {
		all.latencies = append(all.latencies, ps.latencies...)
		all.errors += ps.errors
		for k, v := range ps.statuses {
			all.statuses[k] += v
		}
	}
	all.errors += int(r.dropped)
	return all
}

// drive sends requests on a fixed schedule for cfg.duration and waits for
// the stragglers.
func drive(ctx context.Context, cfg config) *results {
	transport := &http.Transport{
		MaxIdleConns:        cfg.inflight,
		MaxIdleConnsPerHost: cfg.inflight,
		IdleConnTimeout:     30 * time.Second,
	}
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	defer transport.CloseIdleConnections()
	res := &results{byPath: map[string]*pathStats{}}
	interval := time.Second / time.Duration(cfg.rate)
	n := int(cfg.duration / interval)
	var inflight atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		if inflight.Load() >= int64(cfg.inflight) {
			res.dropped++
			continue
		}
		path := cfg.paths[i%len(cfg.paths)]
		inflight.Add(1)
		res.sent++
		wg.Go(func() {
			defer inflight.Add(-1)
			status, err := fetch(ctx, client, cfg.url+path, cfg.token)
			res.record(path, time.Since(due), status, err)
		})
	}
	res.elapsed = time.Since(start)
	wg.Wait()
	return res
}

func fetch(ctx context.Context, client *http.Client, url, token string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept-Encoding", "gzip")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, errors.New(resp.Status)
	}
	return resp.StatusCode, nil
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return sorted[i]
}

func (r *results) print(w io.Writer, cfg config) {
	fmt.Fprintf(w, "target %s, %d req/s for %s (open loop), %d sent, %d dropped\n",
		cfg.url, cfg.rate, cfg.duration, r.sent, r.dropped)
	fmt.Fprintf(w, "%-40s %8s %8s %10s %10s %10s %10s\n", "path", "requests", "errors", "p50", "p99", "max", "req/s")
	line := func(name string, ps *pathStats) {
		lat := slices.Clone(ps.latencies)
		slices.Sort(lat)
		var maxLat time.Duration
		if len(lat) > 0 {
			maxLat = lat[len(lat)-1]
		}
		fmt.Fprintf(w, "%-40s %8d %8d %10s %10s %10s %10.1f\n", name, len(lat), ps.errors,
			round(percentile(lat, 0.50)), round(percentile(lat, 0.99)), round(maxLat),
			float64(len(lat))/r.elapsed.Seconds())
	}
	names := make([]string, 0, len(r.byPath))
	for p := range r.byPath {
		names = append(names, p)
	}
	slices.Sort(names)
	for _, p := range names {
		line(p, r.byPath[p])
	}
	all := r.total()
	line("all", all)
	lat := slices.Clone(all.latencies)
	slices.Sort(lat)
	verdict := "PASS"
	if p99 := percentile(lat, 0.99); p99 >= 10*time.Millisecond || all.errors > 0 {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "target p99 < 10ms with no errors: %s\n", verdict)
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}
