package ingest

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
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
