package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/claude-token-monitor/ctm/internal/ingest"
	"github.com/claude-token-monitor/ctm/internal/live"
	"github.com/claude-token-monitor/ctm/internal/pricing"
	"github.com/claude-token-monitor/ctm/internal/server"
	"github.com/claude-token-monitor/ctm/internal/sqlite"
	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/watch"
	"github.com/coder/websocket"
)

// results are the latencies measured.
type results struct {
	all, first, last []time.Duration
	timeouts         int
	// ingestTimes and statsTimes are the durations of the two stages
	// that run after the watcher's debounce.
	ingestTimes, statsTimes []time.Duration
	mode                    string
	seedRecords             int64
}

// arrival is one client seeing a stats_update.
type arrival struct {
	entries int64
	at      time.Time
}

// measure builds the pipeline, runs the appends and collects latencies.
func measure(ctx context.Context, cfg config, stderr io.Writer) (res results, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dir, err := os.MkdirTemp("", "ctm-livebench")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	root := filepath.Join(dir, "claude")
	proj := filepath.Join(root, "projects", "-bench-app")
	if err := os.MkdirAll(proj, 0o755); err != nil {
		return res, err
	}
	transcript := filepath.Join(proj, "bench-session.jsonl")

	prices, err := pricing.Load(pricing.Options{})
	if err != nil {
		return res, err
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "monitor.db"), prices)
	if err != nil {
		return res, err
	}
	defer st.Close()
	if err := seed(ctx, st, cfg.seed); err != nil {
		return res, fmt.Errorf("seed: %w", err)
	}
	if res.seedRecords, err = st.CountRecords(ctx, usage.Filter{}); err != nil {
		return res, err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	// The wiring of ctm serve, with the stats_update computation timed.
	var (
		srv     *server.Server
		stageMu sync.Mutex
	)
	stats := func(ctx context.Context) (any, error) {
		t0 := time.Now()
		v, err := srv.StatsSummary(ctx)
		stageMu.Lock()
		res.statsTimes = append(res.statsTimes, time.Since(t0))
		stageMu.Unlock()
		return v, err
	}
	srv, err = server.New(server.Options{Store: st, Pricer: prices, Logger: logger,
		WebSocket: &server.HubOptions{Stats: stats, MaxClients: cfg.clients}})
	if err != nil {
		return res, err
	}
	defer srv.Hub().Close()
	pipe, err := live.New(live.Options{
		Ingester: ingest.New(st, []string{root}, logger, ingest.Options{}),
		Roots:    []string{root},
		Changed: func(_ context.Context, r ingest.Result) {
			// Only ingests that stored records are timed: the others
			// send no stats_update, so they are not on the measured path.
			stageMu.Lock()
			res.ingestTimes = append(res.ingestTimes, r.Duration)
			stageMu.Unlock()
			srv.Changed()
		},
		Watch:  watch.Options{Debounce: cfg.debounce, ForcePolling: cfg.polling, PollInterval: 50 * time.Millisecond},
		Logger: logger,
	})
	if err != nil {
		return res, err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { _ = pipe.Run(ctx) })
	select {
	case <-pipe.Ready():
	case <-ctx.Done():
		return res, ctx.Err()
	}
	res.mode = pipe.Mode()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + srv.APIPrefix() + "/ws"

	// Clients report every stats_update they see.
	arrivals := make([]chan arrival, cfg.clients)
	for i := range arrivals {
		arrivals[i] = make(chan arrival, cfg.appends+16)
		c, err := connect(ctx, url)
		if err != nil {
			return res, fmt.Errorf("client %d: %w", i, err)
		}
		defer c.CloseNow()
		wg.Go(func() { readUpdates(ctx, c, arrivals[i]) })
	}

	seen := make([]int64, cfg.clients)
	for i := range cfg.appends {
		id := fmt.Sprintf("%06d", i)
		want := res.seedRecords + int64(i) + 1
		start, err := appendSynced(transcript, line(id, time.Now()))
		if err != nil {
			return res, err
		}
		var times []time.Duration
		deadline := time.NewTimer(cfg.timeout)
		for c := range arrivals {
			for seen[c] < want {
				select {
				case a := <-arrivals[c]:
					seen[c] = a.entries
					if a.entries >= want {
						times = append(times, a.at.Sub(start))
					}
				case <-deadline.C:
					res.timeouts++
					seen[c] = want // give up on this client for this append
				case <-ctx.Done():
					return res, ctx.Err()
				}
			}
		}
		deadline.Stop()
		if len(times) > 0 {
			res.all = append(res.all, times...)
			res.first = append(res.first, slices.Min(times))
			res.last = append(res.last, slices.Max(times))
		}
	}
	return res, nil
}

// connect dials the feed and reads the connected message.
func connect(ctx context.Context, url string) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, url, nil)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(1 << 20)
	if _, _, err := c.Read(dctx); err != nil {
		c.CloseNow()
		return nil, fmt.Errorf("read connected message: %w", err)
	}
	return c, nil
}

// readUpdates sends the entry count of every stats_update to out, stamped
// with its arrival time.
func readUpdates(ctx context.Context, c *websocket.Conn, out chan<- arrival) {
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return
		}
		at := time.Now()
		var m struct {
			Type string `json:"type"`
			Data struct {
				Summary struct {
					Entries int64 `json:"entries"`
				} `json:"summary"`
			} `json:"data"`
		}
		if json.Unmarshal(b, &m) != nil || m.Type != server.MsgStatsUpdate {
			continue
		}
		select {
		case out <- arrival{entries: m.Data.Summary.Entries, at: at}:
		case <-ctx.Done():
			return
		}
	}
}

// appendSynced appends s to path and fsyncs it, as Claude Code's write
// reaches the disk; it returns when the data is durable.
func appendSynced(path, s string) (time.Time, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return time.Time{}, err
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		return time.Time{}, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return time.Time{}, err
	}
	at := time.Now()
	return at, f.Close()
}

// line is one assistant transcript line for a distinct API response.
func line(id string, ts time.Time) string {
	l := map[string]any{
		"parentUuid": nil, "isSidechain": false, "userType": "external", "cwd": "/bench/app",
		"sessionId": "bench-session", "version": "2.1.50", "gitBranch": "main", "type": "assistant",
		"uuid": "u-" + id, "requestId": "req_" + id, "timestamp": ts.UTC().Format(time.RFC3339Nano),
		"message": map[string]any{
			"model": "claude-sonnet-4-5", "id": "msg_" + id, "type": "message", "role": "assistant",
			"content": []any{map[string]any{"type": "text", "text": "done"}},
			"usage": map[string]any{"input_tokens": 12, "output_tokens": 345, "cache_creation_input_tokens": 1200,
				"cache_read_input_tokens": 45000},
		},
	}
	b, _ := json.Marshal(l) // a map of plain values always encodes
	return string(b) + "\n"
}

// seed stores n records spread over the last 90 days, several models,
// projects and sessions, so that /stats aggregates a realistic history.
func seed(ctx context.Context, st *sqlite.Store, n int) error {
	models := []string{"claude-opus-4-6", "claude-sonnet-4-5", "claude-haiku-4-5"}
	now := time.Now().UTC()
	const batch = 5000
	for start := 0; start < n; start += batch {
		recs := make([]usage.Record, 0, batch)
		for i := start; i < min(n, start+batch); i++ {
			id := fmt.Sprintf("seed%07d", i)
			recs = append(recs, usage.Record{
				Key: usage.RecordKey("msg_"+id, "req_"+id, ""), MessageID: "msg_" + id, RequestID: "req_" + id,
				Timestamp: now.Add(-time.Duration(i%(90*24*60)) * time.Minute),
				Model:     models[i%len(models)], SessionID: fmt.Sprintf("s%d", i/50),
				Project: fmt.Sprintf("/work/p%d", i%20),
				Tokens:  usage.Tokens{Input: int64(i % 100), Output: int64(200 + i%500), CacheCreation5m: 1000, CacheRead: 30000},
			})
		}
		if err := st.Apply(ctx, usage.Batch{Records: recs}); err != nil {
			return err
		}
	}
	return nil
}
