package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestCacheBoundedInBytes(t *testing.T) {
	c := newRespCache(time.Hour)
	c.maxBytes, c.maxEntry = 1000, 400
	now := time.Now()
	store := func(key string, n int) {
		_, f, leader := c.lookup(key, now.Add(2*time.Hour)) // past any stored expiry
		if !leader {
			t.Fatalf("lookup(%q) is not the leader of a new flight", key)
		}
		c.finish(key, f, &cachedResponse{expires: now.Add(time.Hour), body: make([]byte, n)})
	}
	for i := range 20 {
		store(fmt.Sprint("k", i), 300)
		sum := 0
		for _, e := range c.entries {
			sum += len(e.body)
		}
		if sum != c.size || c.size > c.maxBytes {
			t.Fatalf("after %d entries: bodies %d bytes, size %d, bound %d", i+1, sum, c.size, c.maxBytes)
		}
	}
	// Replacing a key does not count its body twice.
	store("k19", 300)
	store("k19", 300)
	if c.size > c.maxBytes || c.entries["k19"] == nil {
		t.Errorf("after replacing k19: size %d, k19 kept %v", c.size, c.entries["k19"] != nil)
	}
	store("big", 401)
	if c.entries["big"] != nil {
		t.Errorf("a body over the per-entry bound was kept")
	}
}

func TestRecordingWriterStopsAtLimit(t *testing.T) {
	rec := &recordingWriter{ResponseWriter: httptest.NewRecorder(), limit: 10}
	rec.WriteHeader(http.StatusOK)
	for range 5 {
		_, _ = rec.Write([]byte("abcdef"))
	}
	if rec.buf.Len() > 10 {
		t.Errorf("recorded %d bytes past the limit of 10", rec.buf.Len())
	}
	if res := rec.result(time.Hour, nil, nil); res != nil {
		t.Errorf("a response over the limit became a cache entry of %d bytes", len(res.body))
	}
	if got := rec.ResponseWriter.(*httptest.ResponseRecorder).Body.String(); got != strings.Repeat("abcdef", 5) {
		t.Errorf("client got %q, want the whole body", got)
	}
}
