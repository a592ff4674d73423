package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"sync"
	"time"
)

// DefaultCacheTTL is how long a computed read response is reused when no
// ingest invalidates it first; see respCache for why it can be long.
const DefaultCacheTTL = time.Minute

// maxCacheEntries bounds the cache; query strings are client-chosen, so
// without a bound a client could grow it without end.
const maxCacheEntries = 1024

// maxCacheBytes bounds the bodies the cache holds in total, and
// maxCacheEntryBytes one body: a count of entries alone does not bound
// memory when each entry can be megabytes. A larger response is served
// but not kept, and recording it stops at the bound.
const (
	maxCacheBytes      = 64 << 20
	maxCacheEntryBytes = 4 << 20
)

// respCache keeps the 200 responses of the read routes.
//
// Policy: the figures change only when an ingest writes records, and the
// caller then calls Invalidate (cmd/ctm does after every ingest that wrote
// records). So an entry stays valid until the next Invalidate; the TTL
// (default a minute) only bounds how long the parts that depend on the
// clock alone, "today" and relative periods, can lag when nothing is
// ingested.
//
// Invalidate must not turn into a latency spike: with many clients
// polling, dropping everything would make every request after an ingest
// wait for a recomputation. Instead, entries served since they were
// computed are kept and recomputed at once in the background, and until
// the fresh copy lands requests get the previous one, which is then at
// most one recomputation (a few milliseconds) older than the ingest, no
// different from a request that arrived just before it. Entries nobody
// asked for since are dropped, so idle keys cost no work per ingest.
//
// An entry past its TTL is likewise served while one background
// computation refreshes it, up to staleFactor TTLs; concurrent misses of
// one key wait for a single computation: without that, every request
// arriving while a key is recomputed would recompute it too, and under
// load the extra work slows each computation further until the server
// collapses.
type respCache struct {
	ttl      time.Duration
	mu       sync.Mutex
	gen      uint64 // bumped by invalidate, so stale computations are not stored
	entries  map[string]*cachedResponse
	inflight map[string]*flight
	// size is the sum of the bodies in entries, at most maxBytes; an
	// entry larger than maxEntry is never stored.
	size, maxBytes, maxEntry int
}

type cachedResponse struct {
	expires     time.Time
	contentType string
	body        []byte
	// h and req computed the entry; Invalidate reruns them.
	h   http.HandlerFunc
	req *http.Request
	// used is set when the entry is served; stale when an Invalidate
	// made it out of date and a recomputation is on its way. Both are
	// guarded by respCache.mu.
	used, stale bool
}

// flight is one computation of a key in progress.
type flight struct {
	done chan struct{}
	gen  uint64
	res  *cachedResponse // nil when the response was not cacheable
}

func newRespCache(ttl time.Duration) *respCache {
	return &respCache{
		ttl: ttl, entries: map[string]*cachedResponse{}, inflight: map[string]*flight{},
		maxBytes: maxCacheBytes, maxEntry: maxCacheEntryBytes,
	}
}

// staleFactor bounds how long past its TTL an entry may still be served
// while a fresh copy is computed: 2 TTLs.
const staleFactor = 2

// lookup returns what to do with key: serve e when it is fresh; serve a
// stale e while a flight refreshes it (leader: the caller starts the
// refresh); wait for flight f; or, as leader of a new flight with no
// entry, compute the response.
func (c *respCache) lookup(key string, now time.Time) (e *cachedResponse, f *flight, leader bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e = c.entries[key]
	if e != nil && !e.stale && !now.After(e.expires) {
		e.used = true
		return e, nil, false
	}
	if e != nil && !e.stale && now.After(e.expires.Add(staleFactor*c.ttl)) {
		e = nil // too old to serve even while refreshing
	}
	if e != nil {
		e.used = true
	}
	if f := c.inflight[key]; f != nil {
		return e, f, false
	}
	f = c.startLocked(key)
	return e, f, true
}

// startLocked registers a new flight for key at the current generation.
func (c *respCache) startLocked(key string) *flight {
	f := &flight{done: make(chan struct{}), gen: c.gen}
	c.inflight[key] = f
	return f
}

// finish ends the flight and stores its result unless the cache was
// invalidated meanwhile.
func (c *respCache) finish(key string, f *flight, res *cachedResponse) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f.res = res
	// Invalidate may have replaced this flight by a newer one.
	if c.inflight[key] == f {
		delete(c.inflight, key)
	}
	close(f.done)
	if f.gen != c.gen {
		return
	}
	if res == nil || len(res.body) > c.maxEntry {
		// The recomputation failed, or its body is too large to keep: do
		// not keep serving the old copy.
		c.deleteLocked(key)
		return
	}
	c.deleteLocked(key)
	if len(c.entries) >= maxCacheEntries || c.size+len(res.body) > c.maxBytes {
		now := time.Now()
		for k, old := range c.entries {
			if now.After(old.expires) {
				c.deleteLocked(k)
			}
		}
		// Map order is random, so this evicts arbitrary entries: cheap,
		// and fair enough for a cache whose entries are recomputed in
		// milliseconds.
		for k := range c.entries {
			if len(c.entries) < maxCacheEntries && c.size+len(res.body) <= c.maxBytes {
				break
			}
			c.deleteLocked(k)
		}
	}
	c.entries[key] = res
	c.size += len(res.body)
}

// deleteLocked removes key's entry, keeping size in step.
func (c *respCache) deleteLocked(key string) {
	if e, ok := c.entries[key]; ok {
		c.size -= len(e.body)
		delete(c.entries, key)
	}
}

// refreshJob is one recomputation started by invalidate.
type refreshJob struct {
	key string
	f   *flight
	h   http.HandlerFunc
	req *http.Request
}

// invalidate marks every entry out of date: entries served since they
// were computed (or already waiting for a recomputation) are kept, marked
// stale, and returned as jobs to recompute; the others are dropped.
func (c *respCache) invalidate() []refreshJob {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	var jobs []refreshJob
	for k, e := range c.entries {
		if !e.used && !e.stale {
			c.deleteLocked(k)
			continue
		}
		e.stale, e.used = true, false
		// A flight started before this call computes from older data;
		// its result is discarded (its gen is old), so start another.
		jobs = append(jobs, refreshJob{key: k, f: c.startLocked(k), h: e.h, req: e.req})
	}
	return jobs
}

// Invalidate marks every cached response out of date. Call it after the
// store changes (e.g. after an ingest run that wrote records): the
// responses clients are polling are recomputed at once in the background,
// and no response computed before the call is served once that is done.
func (s *Server) Invalidate() {
	if s.cache == nil {
		return
	}
	if jobs := s.cache.invalidate(); len(jobs) > 0 {
		// One goroutine, one computation at a time: a burst of
		// recomputations would compete with the requests themselves.
		go func() {
			for _, j := range jobs {
				s.refresh(j.h, j.req, j.key, j.f)
			}
		}()
	}
}

// cached serves repeated GETs of a read route from the cache. The key is
// the path and the normalised query, so parameter order does not matter.
// An out-of-date entry is served while one background computation
// refreshes it, so steady traffic never waits for an aggregation.
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
			rec := &recordingWriter{ResponseWriter: w, limit: s.cache.maxEntry}
			h(rec, r)
			res = rec.result(s.cache.ttl, h, r)
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
	rec := &recordingWriter{ResponseWriter: discardWriter{header: http.Header{}}, limit: s.cache.maxEntry}
	h(rec, r.Clone(ctx))
	res = rec.result(s.cache.ttl, h, r)
}

// discardWriter is a ResponseWriter with nowhere to write.
type discardWriter struct{ header http.Header }

func (d discardWriter) Header() http.Header         { return d.header }
func (d discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d discardWriter) WriteHeader(int)             {}

func serveCached(w http.ResponseWriter, r *http.Request, e *cachedResponse) {
	body := restamp(e.body, time.Now())
	h := w.Header()
	h.Set("Content-Type", e.contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// stampTail matches the end of an envelope as writeEnvelope encodes it:
// the timestamp is its last field.
// It is compiled on first use: commands that serve nothing never need it.
var stampTail = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`"timestamp":("[^"]*")}\n?$`)
})

// restamp returns a cached envelope with timestamp set to now, the time
// it is sent, and the time it was computed moved to computed_at. Bodies of
// another shape are returned as they are.
func restamp(body []byte, now time.Time) []byte {
	m := stampTail().FindSubmatchIndex(body)
	if m == nil {
		return body
	}
	out := make([]byte, 0, len(body)+48)
	out = append(out, body[:m[0]]...)
	out = append(out, `"timestamp":"`...)
	out = now.UTC().AppendFormat(out, time.RFC3339)
	out = append(out, `","computed_at":`...)
	out = append(out, body[m[2]:m[3]]...)
	return append(out, "}\n"...)
}

// recordingWriter passes a response through while keeping a copy of up
// to limit bytes; a longer response is marked too big and not cached.
type recordingWriter struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
	limit  int
	tooBig bool
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
	if !w.tooBig {
		if w.buf.Len()+len(b) > w.limit {
			w.tooBig = true
			w.buf = bytes.Buffer{}
		} else {
			w.buf.Write(b)
		}
	}
	return w.ResponseWriter.Write(b)
}

// result returns the recorded response as a cache entry that h and req
// can recompute, or nil when it is not a 200.
func (w *recordingWriter) result(ttl time.Duration, h http.HandlerFunc, req *http.Request) *cachedResponse {
	if w.status != http.StatusOK || w.tooBig {
		return nil
	}
	return &cachedResponse{
		expires:     time.Now().Add(ttl),
		contentType: w.Header().Get("Content-Type"),
		body:        w.buf.Bytes(),
		h:           h,
		req:         req,
	}
}

// Unwrap exposes the underlying writer.
func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
