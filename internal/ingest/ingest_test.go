package ingest

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// expectedFigures is one entry of claude-real.expected.json (cost_usd is
// checked by the pricing tests).
type expectedFigures struct {
	Input         int64 `json:"input"`
	Output        int64 `json:"output"`
	CacheCreation int64 `json:"cache_creation"`
	CW5           int64 `json:"cw5"`
	CW1           int64 `json:"cw1"`
	CacheRead     int64 `json:"cache_read"`
	WebSearch     int64 `json:"web_search"`
	Entries       int64 `json:"entries"`
}

func (e *expectedFigures) add(r *usage.Record) {
	e.Input += r.Input
	e.Output += r.Output
	e.CacheCreation += r.CacheCreation()
	e.CW5 += r.CacheCreation5m
	e.CW1 += r.CacheCreation1h
	e.CacheRead += r.CacheRead
	e.WebSearch += r.WebSearchRequests
	e.Entries++
}

type expectedReport struct {
	Totals   expectedFigures            `json:"totals"`
	Daily    map[string]expectedFigures `json:"daily"`
	Models   map[string]expectedFigures `json:"models"`
	Sessions map[string]expectedFigures `json:"sessions"`
}

// report cuts the sink's records the way claude-real.expected.json does.
func (s *refSink) report() expectedReport {
	r := expectedReport{Daily: map[string]expectedFigures{}, Models: map[string]expectedFigures{}, Sessions: map[string]expectedFigures{}}
	add := func(m map[string]expectedFigures, k string, rec *usage.Record) {
		e := m[k]
		e.add(rec)
		m[k] = e
	}
	for _, rec := range s.records {
		r.Totals.add(&rec)
		add(r.Daily, rec.Timestamp.UTC().Format("2006-01-02"), &rec)
		add(r.Models, rec.Model, &rec)
		add(r.Sessions, rec.SessionID, &rec)
	}
	return r
}

func loadExpected(t *testing.T) expectedReport {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sharedTestdata(t), "claude-real.expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want expectedReport
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	return want
}

func compareReports(t *testing.T, got, want expectedReport) {
	t.Helper()
	if got.Totals != want.Totals {
		t.Errorf("totals = %+v, want %+v", got.Totals, want.Totals)
	}
	for name, pair := range map[string][2]map[string]expectedFigures{
		"daily": {got.Daily, want.Daily}, "models": {got.Models, want.Models}, "sessions": {got.Sessions, want.Sessions},
	} {
		g, w := pair[0], pair[1]
		keys := slices.Sorted(maps.Keys(w))
		if gk := slices.Sorted(maps.Keys(g)); !slices.Equal(gk, keys) {
			t.Errorf("%s keys = %v, want %v", name, gk, keys)
		}
		for _, k := range keys {
			if g[k] != w[k] {
				t.Errorf("%s[%s] = %+v, want %+v", name, k, g[k], w[k])
			}
		}
	}
}

func TestRunRealCorpusMatchesExpected(t *testing.T) {
	root := filepath.Join(sharedTestdata(t), "claude-real")
	sink := newRefSink()
	var lastDone, lastTotal int64
	in := New(sink, []string{root}, nil, Options{BatchRecords: 500, Progress: func(done, total int64) { lastDone, lastTotal = done, total }})
	res, err := in.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	compareReports(t, sink.report(), loadExpected(t))
	if res.FilesScanned != 25 || res.FilesChanged != 25 || res.BadLines != 0 || res.Written < int64(len(sink.records)) {
		t.Errorf("Run = %+v, want 25 files scanned and changed, no bad lines (the torn last line is not counted)", res)
	}
	if lastDone != lastTotal || lastTotal != res.BytesRead {
		t.Errorf("progress ended at %d/%d, want %d/%d", lastDone, lastTotal, res.BytesRead, res.BytesRead)
	}

	// A second run finds nothing new, from the sink's own states too.
	again := New(sink, []string{root}, nil, Options{})
	res, err = again.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.FilesChanged != 0 || res.BytesRead != 0 || res.Records != 0 {
		t.Errorf("second Run = %+v, want nothing read", res)
	}
	compareReports(t, sink.report(), loadExpected(t))
}

// checkSink is a refSink that also checks each batch's shape: records
// in key order, at most limit of them.
type checkSink struct {
	*refSink
	t       *testing.T
	limit   int
	batches int
}

func (s *checkSink) Apply(ctx context.Context, b usage.Batch) error {
	s.batches++
	if len(b.Records) > s.limit {
		s.t.Errorf("batch %d has %d records, want at most %d", s.batches, len(b.Records), s.limit)
	}
	if !slices.IsSortedFunc(b.Records, func(x, y usage.Record) int { return strings.Compare(x.Key, y.Key) }) {
		s.t.Errorf("batch %d records are not in key order", s.batches)
	}
	err := s.refSink.Apply(ctx, b)
	// The ingester reuses the array once Apply returns; scribbling on it
	// now shows whether anything still depended on it.
	for i := range b.Records {
		b.Records[i] = usage.Record{Key: "scribbled"}
	}
	return err
}

func TestBulkRunMatchesExpected(t *testing.T) {
	root := filepath.Join(sharedTestdata(t), "claude-real")
	sink := &checkSink{refSink: newRefSink(), t: t, limit: bulkBatchRecords + pieceRecords}
	in := New(sink, []string{root}, nil, Options{})
	in.bulkBytes = 0 // every run is a bulk one
	res, err := in.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	compareReports(t, sink.report(), loadExpected(t))
	// The real corpus holds fewer records than one bulk batch, and the
	// file limit is lifted: one Apply.
	if sink.batches != 1 || res.FilesChanged != 25 {
		t.Errorf("bulk run applied %d batches for %d files, want 1 for 25", sink.batches, res.FilesChanged)
	}
	if _, ok := sink.records["scribbled"]; ok {
		t.Error("a scribbled record reached the sink")
	}
}

func TestSmallBatchesAreSortedAndReused(t *testing.T) {
	root := filepath.Join(sharedTestdata(t), "claude-real")
	sink := &checkSink{refSink: newRefSink(), t: t, limit: 50 + pieceRecords}
	in := New(sink, []string{root}, nil, Options{BatchRecords: 50, BatchFiles: 4})
	in.bulkBytes = 0 // the options given win over the bulk defaults
	if _, err := in.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	compareReports(t, sink.report(), loadExpected(t))
	// 25 files at most 4 a batch.
	if sink.batches < 7 {
		t.Errorf("applied %d batches, want at least 7", sink.batches)
	}
}

// TestBulkLimits checks that a bulk run written through a BulkWriter
// takes the smaller batches unless the options chose a record limit, and
// that a run that is not a bulk one keeps its limits.
func TestBulkLimits(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		total int64
		want  limits
	}{
		{"small run", Options{}, bulkBytes, limits{records: 10_000, files: 500}},
		{"bulk run", Options{}, bulkBytes + 1,
			limits{records: bulkWriteRecords, files: bulkBatchFiles, capacity: bulkWriteRecords + pieceRecords}},
		{"bulk run, records chosen", Options{BatchRecords: 100}, bulkBytes + 1,
			limits{records: 100, files: bulkBatchFiles, capacity: 100 + pieceRecords}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := New(newRefSink(), nil, nil, tt.opts)
			if got := in.bulkLimits(in.batchLimits(tt.total)); got != tt.want {
				t.Errorf("bulkLimits(batchLimits(%d)) = %+v, want %+v", tt.total, got, tt.want)
			}
		})
	}
}

func TestBatchLimits(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		total int64
		want  limits
	}{
		{"small run", Options{}, bulkBytes, limits{records: 10_000, files: 500}},
		{"bulk run", Options{}, bulkBytes + 1,
			limits{records: bulkBatchRecords, files: bulkBatchFiles, capacity: bulkBatchRecords + pieceRecords}},
		{"bulk run, records chosen", Options{BatchRecords: 100}, bulkBytes + 1,
			limits{records: 100, files: bulkBatchFiles, capacity: 100 + pieceRecords}},
		{"bulk run, files chosen", Options{BatchFiles: 7}, bulkBytes + 1,
			limits{records: bulkBatchRecords, files: 7, capacity: bulkBatchRecords + pieceRecords}},
		{"small run, both chosen", Options{BatchRecords: 3, BatchFiles: 2}, 10, limits{records: 3, files: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := New(newRefSink(), nil, nil, tt.opts).batchLimits(tt.total)
			if got != tt.want {
				t.Errorf("batchLimits(%d) = %+v, want %+v", tt.total, got, tt.want)
			}
		})
	}
}
