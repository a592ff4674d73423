package postgres

import (
	"fmt"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// BenchmarkApply measures ingest throughput into PostgreSQL: new records
// in batches of 1,000, as pushes and the ingest route send them. It
// reports records/s.
func BenchmarkApply(b *testing.B) {
	s := mustOpen(b)
	const batch = 1000
	n := 0
	start := time.Now()
	for b.Loop() {
		rs := make([]usage.Record, batch)
		for i := range rs {
			id := fmt.Sprintf("%09d", n)
			n++
			rs[i] = usage.Record{
				Key: usage.RecordKey("msg_"+id, "req_"+id, ""), MessageID: "msg_" + id, RequestID: "req_" + id,
				Timestamp: t0.Add(time.Duration(n) * time.Second), Model: "claude-opus-4-6",
				SessionID: "s" + id[6:], Project: "/p/bench", User: "bench", Machine: "m",
				Tokens: usage.Tokens{Input: 10, Output: 200, CacheRead: 50000, CacheCreation5m: 1000},
			}
		}
		if err := s.Apply(b.Context(), usage.Batch{Records: rs}); err != nil {
			b.Fatal(err)
		}
	}
	rate := float64(n) / time.Since(start).Seconds()
	b.ReportMetric(rate, "records/s")
	b.Logf("PostgreSQL ingest: %d records at %.0f records/s", n, rate)
}
