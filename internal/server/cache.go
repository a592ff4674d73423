package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// DefaultCacheTTL is how long a computed read response is reused.
const DefaultCacheTTL = time.Second

// maxCacheEntries bounds the cache; query strings are client-chosen, so
// without a bound a client could grow it without end.
const maxCacheEntries = 1024

// respCache keeps recent 200 responses of the read routes. A dashboard and
// many clients polling the same views then cost one aggregation per TTL
// instead of one per request; Invalidate drops everything when the data
// changes, so a response is never older than the TTL or the last ingest.
//
// Concurrent misses of one key wait for a single computation: without
// that, every request arriving while an expired entry is recomputed would
// recompute it too, and under load the extra work slows each computation
// further until the server collapses.
type respCache struct {
	ttl      time.Duration
	mu       sync.Mutex
	gen      uint64 // bumped by clear, so stale computations are not stored
	entries  map[string]*cachedResponse
	inflight map[string]*flight
}

type cachedResponse struct {
	expires     time.Time
	contentType string
	body        []byte
}

// flight is one computation of a key in progress.
type flight struct {
	done chan struct{}
	gen  uint64
	res  *cachedResponse // nil when the response was not cacheable
}

func newRespCache(ttl time.Duration) *respCache {
	return &respCache{ttl: ttl, entries: map[string]*cachedResponse{}, inflight: map[string]*flight{}}
}

// staleFactor bounds how long past its TTL an entry may still be served
// while a fresh copy is computed: 10 TTLs.
const staleFactor = 10

// lookup returns what to do with key: serve e when it is fresh; serve a
// stale e while a flight refreshes it (leader: the caller starts the
// refresh); wait for flight f; or, as leader of a new flight with no
// entry, compute the response.
func (c *respCache) lookup(key string, now time.Time) (e *cachedResponse, f *flight, leader bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e = c.entries[key]
	if e != nil && !now.After(e.expires) {
		return e, nil, false
	}
	if e != nil && now.After(e.expires.Add(staleFactor*c.ttl)) {
		e = nil // too old to serve even while refreshing
	}
	if f := c.inflight[key]; f != nil {
		return e, f, false
	}
	f = &flight{done: make(chan struct{}), gen: c.gen}
	c.inflight[key] = f
	return e, f, true
}

// finish ends the flight and stores its result unless the cache was
// cleared meanwhile.
func (c *respCache) finish(key string, f *flight, res *cachedResponse) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f.res = res
	delete(c.inflight, key)
	close(f.done)
	if res == nil || f.gen != c.gen {
		return
	}
	if len(c.entries) >= maxCacheEntries {
		now := time.Now()
		for k, old := range c.entries {
			if now.After(old.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxCacheEntries {
			clear(c.entries)
		}
	}
	c.entries[key] = res
}

func (c *respCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
}

// Invalidate drops every cached response. Call it after the store
// changes (e.g. after an ingest run that wrote records) so that the next
// read sees the new data at once.
func (s *Server) Invalidate() {
	if s.cache != nil {
		s.cache.clear()
	}
}

// cached serves repeated GETs of a read route from the cache. The key is
// the path and the normalised query, so parameter order does not matter.
// An expired entry is served while one background computation refreshes
// it, so steady traffic never waits for an aggregation.
func (s *Server) cached(h http.HandlerFunc) http.HandlerFunc {
	if s.cache == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			h(w, r)
			return
		}
		key := r.URL.Path + "?" + r.URL.Query().Encode()
		e, f, leader := s.cache.lookup(key, time.Now())
		switch {
		case e != nil && f == nil: // fresh
			serveCached(w, r, e)
		case e != nil: // stale: serve it, refresh it if nobody does
			serveCached(w, r, e)
			if leader {
				go s.refresh(h, r, key, f)
			}
		case !leader:
			select {
			case <-f.done:
			case <-r.Context().Done():
				return // the client left
			}
			if f.res != nil {
				serveCached(w, r, f.res)
				return
			}
			h(w, r) // an error response: compute this request's own
		default:
			var res *cachedResponse
			// Finish even if h panics, so that waiters are released.
			defer func() { s.cache.finish(key, f, res) }()
			rec := &recordingWriter{ResponseWriter: w}
			h(rec, r)
			res = rec.result(s.cache.ttl)
		}
	}
}

// refresh recomputes a stale entry outside any client's request.
func (s *Server) refresh(h http.HandlerFunc, r *http.Request, key string, f *flight) {
	var res *cachedResponse
	defer func() {
		if v := recover(); v != nil {
			loggerFrom(r.Context()).Error("panic refreshing cached response", slog.String("panic", fmt.Sprint(v)))
			res = nil
		}
		s.cache.finish(key, f, res)
	}()
	// The client's request is over: keep its values (logger, request id)
	// but not its cancellation, and bound the work.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
	defer cancel()
	rec := &recordingWriter{ResponseWriter: discardWriter{header: http.Header{}}}
	h(rec, r.Clone(ctx))
	res = rec.result(s.cache.ttl)
}

// discardWriter is a ResponseWriter with nowhere to write.
type discardWriter struct{ header http.Header }

func (d discardWriter) Header() http.Header         { return d.header }
func (d discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d discardWriter) WriteHeader(int)             {}

func serveCached(w http.ResponseWriter, r *http.Request, e *cachedResponse) {
	h := w.Header()
	h.Set("Content-Type", e.contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(e.body)
	}
}

// recordingWriter passes a response through while keeping a copy.
type recordingWriter struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (w *recordingWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.buf.Write(b)
	return w.ResponseWriter.Write(b)
}

// result returns the recorded response as a cache entry, or nil when it
// is not a 200.
func (w *recordingWriter) result(ttl time.Duration) *cachedResponse {
	if w.status != http.StatusOK {
		return nil
	}
	return &cachedResponse{
		expires:     time.Now().Add(ttl),
		contentType: w.Header().Get("Content-Type"),
		body:        w.buf.Bytes(),
	}
}

// Unwrap exposes the underlying writer.
func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
