package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/claude-token-monitor/ctm/internal/storetest"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/sqlite"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// countingStore counts aggregate queries.
type countingStore struct {
	usage.Store
	n *atomic.Int64
}

func (c countingStore) Aggregate(ctx context.Context, f usage.Filter, d usage.Dimension) ([]usage.Bucket, error) {
	c.n.Add(1)
	return c.Store.Aggregate(ctx, f, d)
}

func TestResponseCache(t *testing.T) {
	var n atomic.Int64
	s := newServer(t, func(o *options) { o.Store = countingStore{fixture.store, &n}; o.CacheTTL = time.Hour })
	h := s.Handler()
	first := get(t, h, "/api/v1/stats/models?period=all", nil)
	queries := n.Load()
	if queries == 0 {
		t.Fatal("no aggregate query on a cold cache")
	}
	// The same query, with parameters spelled differently, is a hit.
	again := get(t, h, "/api/v1/stats/models?period=all&", nil)
	if n.Load() != queries || !bytes.Equal(first.Env.Data, again.Env.Data) {
		t.Errorf("repeat: %d queries (want %d), same data %v", n.Load(), queries, bytes.Equal(first.Env.Data, again.Env.Data))
	}
	// The cached copy says when its data was computed: the first
	// response's time, which the send time of a later request may pass.
	var stamps struct {
		Timestamp  time.Time `json:"timestamp"`
		ComputedAt time.Time `json:"computed_at"`
	}
	if err := json.Unmarshal(again.Body, &stamps); err != nil {
		t.Fatal(err)
	}
	if want := first.Env.Timestamp; stamps.ComputedAt.Format(time.RFC3339) != want || stamps.Timestamp.Before(stamps.ComputedAt) {
		t.Errorf("cached envelope timestamp %v, computed_at %v; want computed_at %s, timestamp not before it", stamps.Timestamp, stamps.ComputedAt, want)
	}
	// Errors are never cached.
	do(t, h, http.MethodGet, "/api/v1/stats/models?period=bad", nil)
	do(t, h, http.MethodGet, "/api/v1/sessions/none", nil)
	before := n.Load()
	do(t, h, http.MethodGet, "/api/v1/sessions/none", nil)
	if n.Load() == before {
		t.Errorf("a 404 was served from the cache")
	}
	// The entry was served from the cache, so Invalidate recomputes it
	// in the background, without a request.
	before = n.Load()
	s.Invalidate()
	waitFor(t, "a background recompute after Invalidate", func() bool { return n.Load() > before })

	t.Run("expiry", func(t *testing.T) {
		var n atomic.Int64
		h := newServer(t, func(o *options) { o.Store = countingStore{fixture.store, &n}; o.CacheTTL = 100 * time.Millisecond }).Handler()
		first := get(t, h, "/api/v1/projects", nil)
		before := n.Load()
		time.Sleep(110 * time.Millisecond)
		// Expired but recent: served at once, refreshed in the background.
		stale := get(t, h, "/api/v1/projects", nil)
		if !bytes.Equal(stale.Env.Data, first.Env.Data) {
			t.Errorf("stale response differs from the cached one:\n%s\n%s", stale.Body, first.Body)
		}
		deadline := time.Now().Add(5 * time.Second)
		for n.Load() == before {
			if time.Now().After(deadline) {
				t.Fatal("an expired entry was never refreshed")
			}
			time.Sleep(time.Millisecond)
		}
		// Far past its TTL an entry is recomputed before answering.
		time.Sleep(400 * time.Millisecond)
		before = n.Load()
		get(t, h, "/api/v1/projects", nil)
		if n.Load() == before {
			t.Errorf("a response 5 TTLs old was served")
		}
	})
	t.Run("HEAD is not cached", func(t *testing.T) {
		var n atomic.Int64
		h := newServer(t, func(o *options) { o.Store = countingStore{fixture.store, &n}; o.CacheTTL = time.Hour }).Handler()
		if r := do(t, h, http.MethodHead, "/api/v1/projects", nil); r.Code != http.StatusOK || len(r.Body) != 0 {
			t.Errorf("HEAD = %d with %d body bytes", r.Code, len(r.Body))
		}
		if r := get(t, h, "/api/v1/projects", nil); len(r.Body) == 0 {
			t.Errorf("GET after HEAD has an empty body")
		}
	})
	t.Run("waiters share one computation", func(t *testing.T) {
		var n atomic.Int64
		h := newServer(t, func(o *options) { o.Store = countingStore{fixture.store, &n}; o.CacheTTL = time.Hour }).Handler()
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() { get(t, h, "/api/v1/stats/models?period=all", nil) })
		}
		wg.Wait()
		// /stats/models runs 2 aggregate queries per computation.
		if got := n.Load(); got > 2*8 || got == 0 {
			t.Errorf("8 concurrent requests ran %d queries", got)
		}
	})
	t.Run("off", func(t *testing.T) {
		var n atomic.Int64
		s := newServer(t, func(o *options) { o.Store = countingStore{fixture.store, &n}; o.CacheTTL = -1 })
		get(t, s.Handler(), "/api/v1/projects", nil)
		before := n.Load()
		get(t, s.Handler(), "/api/v1/projects", nil)
		if n.Load() == before {
			t.Errorf("CacheTTL < 0 still caches")
		}
		s.Invalidate() // harmless without a cache
	})
}

// gateStore counts aggregate queries and can hold them or make them fail.
type gateStore struct {
	usage.Store
	n    atomic.Int64
	mu   sync.Mutex
	gate chan struct{} // when set, queries wait until it is closed
	fail bool
}

func (g *gateStore) Aggregate(ctx context.Context, f usage.Filter, d usage.Dimension) ([]usage.Bucket, error) {
	g.n.Add(1)
	g.mu.Lock()
	gate, fail := g.gate, g.fail
	g.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if fail {
		return nil, usage.Errorf(usage.EINTERNAL, "store unavailable")
	}
	return g.Store.Aggregate(ctx, f, d)
}

func (g *gateStore) set(gate chan struct{}, fail bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate, g.fail = gate, fail
}

// modelEntries returns the entries of /stats/models?period=all.
func modelEntries(t *testing.T, h http.Handler) int64 {
	t.Helper()
	var got struct {
		Totals struct {
			Entries int64 `json:"entries"`
		} `json:"totals"`
	}
	get(t, h, "/api/v1/stats/models?period=all", &got)
	return got.Totals.Entries
}

func TestInvalidate(t *testing.T) {
	// A store of its own, so that the test can add records.
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "c.db"), storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	add := func(key string) {
		t.Helper()
		r := fixture.records[0]
		r.Key = key
		if err := st.Apply(t.Context(), usage.Batch{Records: []usage.Record{r}}); err != nil {
			t.Fatalf("Apply() = %v", err)
		}
	}
	add("k1")
	g := &gateStore{Store: st}
	s := newServer(t, func(o *options) { o.Store = g; o.CacheTTL = time.Hour })
	h := s.Handler()

	t.Run("polled entries refresh without waiting", func(t *testing.T) {
		if got := modelEntries(t, h); got != 1 {
			t.Fatalf("entries = %d, want 1", got)
		}
		modelEntries(t, h) // served from the cache: now a polled entry
		add("k2")
		gate := make(chan struct{})
		g.set(gate, false)
		before := g.n.Load()
		s.Invalidate()
		waitFor(t, "the background recompute to start", func() bool { return g.n.Load() > before })
		// The recompute is held: requests get the previous copy at once.
		done := make(chan int64)
		go func() { done <- modelEntries(t, h) }()
		select {
		case got := <-done:
			if got != 1 {
				t.Errorf("entries during the recompute = %d, want the previous copy's 1", got)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a request waited for the background recompute")
		}
		g.set(nil, false)
		close(gate)
		waitFor(t, "the new figures", func() bool { return modelEntries(t, h) == 2 })
	})
	t.Run("idle entries are dropped", func(t *testing.T) {
		get(t, h, "/api/v1/projects", nil) // computed, never served again
		s.Invalidate()
		before := g.n.Load()
		get(t, h, "/api/v1/projects", nil)
		if g.n.Load() == before {
			t.Errorf("an idle entry survived Invalidate")
		}
	})
	t.Run("a failed recompute drops the entry", func(t *testing.T) {
		modelEntries(t, h)
		modelEntries(t, h)
		g.set(nil, true)
		defer g.set(nil, false)
		// No count of store calls here: the recompute that the previous
		// subtest's Invalidate started may be the one that fails (it
		// reads the failure flag after it is counted), and it drops the
		// entry before this Invalidate could find it.
		s.Invalidate()
		// The entry goes once the recompute has failed; then requests
		// get the error, not the old figures.
		waitFor(t, "an error response", func() bool {
			return do(t, h, http.MethodGet, "/api/v1/stats/models?period=all", nil).Code == http.StatusInternalServerError
		})
		g.set(nil, false)
		if got := modelEntries(t, h); got != 2 {
			t.Errorf("entries after recovery = %d, want 2", got)
		}
	})
	t.Run("repeated invalidations", func(t *testing.T) {
		modelEntries(t, h)
		modelEntries(t, h)
		gate := make(chan struct{})
		g.set(gate, false)
		s.Invalidate() // this recompute is held, then superseded
		add("k3")
		s.Invalidate()
		g.set(nil, false)
		close(gate)
		waitFor(t, "the figures of the last invalidation", func() bool { return modelEntries(t, h) == 3 })
	})
}
