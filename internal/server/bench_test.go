package server_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// benchmarkRoute measures one API read through the full middleware chain.
func benchmarkRoute(b *testing.B, target string) {
	h := newServer(b, nil).Handler()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Host = "localhost"
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

func BenchmarkHealth(b *testing.B) { benchmarkRoute(b, "/api/v1/health") }
func BenchmarkStats(b *testing.B)  { benchmarkRoute(b, "/api/v1/stats") }
func BenchmarkDaily(b *testing.B) {
	benchmarkRoute(b, "/api/v1/stats/daily?start_date=2026-01-01&end_date=2026-01-31")
}

func BenchmarkStatsUncached(b *testing.B) {
	h := newServer(b, func(o *options) { o.CacheTTL = -1 }).Handler()
	req := httptest.NewRequest(http.MethodGet, "/api/v1/stats", nil)
	req.Host = "localhost"
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
	}
}
