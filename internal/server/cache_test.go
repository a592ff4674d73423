package server_test

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	if n.Load() != queries || !bytes.Equal(first.Body, again.Body) {
		t.Errorf("repeat: %d queries (want %d), same body %v", n.Load(), queries, bytes.Equal(first.Body, again.Body))
	}
	// Errors are never cached.
	do(t, h, http.MethodGet, "/api/v1/stats/models?period=bad", nil)
	do(t, h, http.MethodGet, "/api/v1/sessions/none", nil)
	before := n.Load()
	do(t, h, http.MethodGet, "/api/v1/sessions/none", nil)
	if n.Load() == before {
		t.Errorf("a 404 was served from the cache")
	}
	s.Invalidate()
	before = n.Load()
	get(t, h, "/api/v1/stats/models?period=all", nil)
	if n.Load() == before {
		t.Errorf("Invalidate did not force a recompute")
	}

	t.Run("expiry", func(t *testing.T) {
		var n atomic.Int64
		h := newServer(t, func(o *options) { o.Store = countingStore{fixture.store, &n}; o.CacheTTL = 20 * time.Millisecond }).Handler()
		first := get(t, h, "/api/v1/projects", nil)
		before := n.Load()
		time.Sleep(30 * time.Millisecond)
		// Expired but recent: served at once, refreshed in the background.
		stale := get(t, h, "/api/v1/projects", nil)
		if !bytes.Equal(stale.Body, first.Body) {
			t.Errorf("stale response differs from the cached one")
		}
		deadline := time.Now().Add(5 * time.Second)
		for n.Load() == before {
			if time.Now().After(deadline) {
				t.Fatal("an expired entry was never refreshed")
			}
			time.Sleep(time.Millisecond)
		}
		// Far past its TTL an entry is recomputed before answering.
		time.Sleep(300 * time.Millisecond)
		before = n.Load()
		get(t, h, "/api/v1/projects", nil)
		if n.Load() == before {
			t.Errorf("a response 15 TTLs old was served")
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
