package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// benchRecords returns n realistic records starting at index from: 90
// days of traffic in 2,000 sessions of about an hour over 20 projects and 5
// users. Each session runs one main model, and one record in five is a
// haiku subagent; a few percent of prompts exceed the long-context
// threshold.
func benchRecords(from, n int) []usage.Record {
	models := []string{"claude-opus-4-6", "claude-sonnet-4-5-20250929", "claude-opus-4-5-20251101", "claude-sonnet-4-20250514"}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rs := make([]usage.Record, n)
	for j := range rs {
		i := from + j
		// Real ids are random, so their index inserts land anywhere.
		h := mix(uint64(i))
		id := fmt.Sprintf("msg_01%020x", h)
		req := fmt.Sprintf("req_011C%018x", h>>8)
		r := usage.Record{
			Key:       usage.RecordKey(id, req, ""),
			MessageID: id,
			RequestID: req,
			// ~15 s apart: 500k records span about 90 days.
			Timestamp:   start.Add(time.Duration(i) * 15551 * time.Millisecond),
			Model:       models[(i/250)%len(models)],
			SessionID:   fmt.Sprintf("%08x-5131-4469-b014-e4f41d7ce7dc", i/250),
			Project:     fmt.Sprintf("/Users/dev/project-%02d", (i/250)%20),
			CWD:         fmt.Sprintf("/Users/dev/project-%02d/src", (i/250)%20),
			GitBranch:   "main",
			Version:     "2.1.50",
			IsSidechain: i%5 == 0,
			User:        fmt.Sprintf("user%d", (i/250)%5),
			ServiceTier: "standard",
			Tokens: usage.Tokens{
				Input:           int64(i % 50),
				Output:          int64(i%2000 + 1),
				CacheCreation5m: int64(i % 3000),
				CacheRead:       int64((i * 7919) % 210000),
			},
		}
		if r.IsSidechain {
			r.Model = "claude-haiku-4-5-20251001"
		}
		rs[j] = r
	}
	return rs
}

// mix is splitmix64's finaliser: distinct inputs give distinct,
// random-looking outputs.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// BenchmarkApply measures ingest throughput: batches of new records, each
// with a file state, as the ingester writes them.
func BenchmarkApply(b *testing.B) {
	for _, size := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			s := mustOpen(b, tempPath(b))
			ctx := context.Background()
			next := 0
			// Generate ahead of time so the benchmark times the store only.
			pool := benchRecords(0, 200_000)
			for b.Loop() {
				if next+size > len(pool) {
					b.StopTimer()
					pool = benchRecords(next, 200_000)
					next = 0
					b.StartTimer()
				}
				batch := usage.Batch{
					Records: pool[next : next+size],
					Files:   []usage.FileState{{Path: "/t/x.jsonl", Size: int64(next), Offset: int64(next)}},
				}
				if err := s.Apply(ctx, batch); err != nil {
					b.Fatal(err)
				}
				next += size
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkAggregate measures every dimension over 500k records, the
// size of months of heavy use; reports must stay well under a second.
func BenchmarkAggregate(b *testing.B) {
	const n = 500_000
	s := mustOpen(b, tempPath(b))
	ctx := context.Background()
	for i := 0; i < n; i += 50_000 {
		if err := s.Apply(ctx, usage.Batch{Records: benchRecords(i, 50_000)}); err != nil {
			b.Fatal(err)
		}
	}
	last := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(n * 15551 * time.Millisecond)
	for _, tc := range []struct {
		name string
		f    usage.Filter
		dim  usage.Dimension
	}{
		{"ByNothing", usage.Filter{}, usage.ByNothing},
		{"ByQuarterHour", usage.Filter{}, usage.ByQuarterHour},
		{"BySession", usage.Filter{}, usage.BySession},
		{"ByProject", usage.Filter{}, usage.ByProject},
		{"ByUser", usage.Filter{}, usage.ByUser},
		{"ByQuarterHourLast7Days", usage.Filter{Since: last.AddDate(0, 0, -7)}, usage.ByQuarterHour},
		{"ByQuarterHourMonth", usage.Filter{Since: last.AddDate(0, -1, 0), Until: last}, usage.ByQuarterHour},
		{"BySessionQuarterHourMonth", usage.Filter{Since: last.AddDate(0, -1, 0), Until: last}, usage.BySessionQuarterHour},
		{"BySessionOneProject", usage.Filter{Project: "/Users/dev/project-07"}, usage.BySession},
	} {
		// In memory (the default) and in SQL (rollups too large to copy).
		for _, path := range []struct {
			name     string
			noMirror bool
		}{{"", false}, {"/SQL", true}} {
			b.Run(tc.name+path.name, func(b *testing.B) {
				s.noMirror = path.noMirror
				defer func() { s.noMirror = false }()
				for b.Loop() {
					bs, err := s.Aggregate(ctx, tc.f, tc.dim)
					if err != nil || len(bs) == 0 {
						b.Fatalf("Aggregate() = %d buckets, %v", len(bs), err)
					}
				}
			})
		}
	}
	// The first aggregate after a write reloads the copy of the rollup.
	b.Run("ByNothingAfterWrite", func(b *testing.B) {
		next := n
		for b.Loop() {
			b.StopTimer()
			if err := s.Apply(ctx, usage.Batch{Records: benchRecords(next, 1)}); err != nil {
				b.Fatal(err)
			}
			next++
			b.StartTimer()
			if _, err := s.Aggregate(ctx, usage.Filter{}, usage.ByNothing); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("CountRecords", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.CountRecords(ctx, usage.Filter{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkBulk measures a first index of 200k records through a Bulk:
// Apply, the writer's work while the parser runs, and Commit, which
// builds the indexes and writes the rollup.
func BenchmarkBulk(b *testing.B) {
	const n, size = 200_000, 1000
	pool := benchRecords(0, n)
	ctx := context.Background()
	var apply, commit time.Duration
	for b.Loop() {
		b.StopTimer()
		s := mustOpen(b, tempPath(b))
		// Apply may rewrite records (the cost); give it its own copy.
		rs := append([]usage.Record(nil), pool...)
		b.StartTimer()
		t0 := time.Now()
		w, err := s.BeginBulk(ctx)
		if err != nil || w == nil {
			b.Fatal(err)
		}
		for lo := 0; lo < n; lo += size {
			if err := w.Apply(ctx, usage.Batch{Records: rs[lo : lo+size]}); err != nil {
				b.Fatal(err)
			}
		}
		t1 := time.Now()
		if err := w.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		apply += t1.Sub(t0)
		commit += time.Since(t1)
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(apply.Nanoseconds())/float64(b.N*n), "apply-ns/record")
	b.ReportMetric(float64(commit.Nanoseconds())/float64(b.N*n), "commit-ns/record")
}
