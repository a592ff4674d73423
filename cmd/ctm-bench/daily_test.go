package main

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const ctmSample = `{"daily":[
 {"date":"2026-01-01","input_tokens":10,"output_tokens":20,"cache_creation_tokens":30,"cache_read_tokens":40,"total_tokens":100,"cost_usd":1.5,"models":["claude-opus-4-6"]},
 {"date":"2026-01-02","input_tokens":1,"output_tokens":2,"cache_creation_tokens":3,"cache_read_tokens":4,"total_tokens":10,"cost_usd":0.5,"models":[]}],
 "totals":{"input_tokens":11,"output_tokens":22,"cache_creation_tokens":33,"cache_read_tokens":44,"total_tokens":110,"cost_usd":2}}`

const ccusageSample = `{"daily":[
 {"cacheCreationTokens":30,"cacheReadTokens":40,"date":"2026-01-01","inputTokens":10,"modelBreakdowns":[],"modelsUsed":[],"outputTokens":20,"totalCost":1.4,"totalTokens":100},
 {"cacheCreationTokens":3,"cacheReadTokens":4,"date":"2026-01-02","inputTokens":1,"outputTokens":2,"totalCost":0.5,"totalTokens":10}],
 "totals":{"cacheCreationTokens":33,"cacheReadTokens":44,"inputTokens":11,"outputTokens":22,"totalCost":1.9,"totalTokens":110}}`

func TestParseBothShapes(t *testing.T) {
	ct, err := parseCTM([]byte(ctmSample))
	if err != nil {
		t.Fatalf("parseCTM: %v", err)
	}
	cc, err := parseCCUsage([]byte(ccusageSample))
	if err != nil {
		t.Fatalf("parseCCUsage: %v", err)
	}
	want := tokens{Input: 11, Output: 22, CacheCreation: 33, CacheRead: 44, Total: 110}
	if got := ct.Totals; got.Input != want.Input || got.Output != want.Output || got.CacheCreation != want.CacheCreation ||
		got.CacheRead != want.CacheRead || got.Total != want.Total || got.CostUSD != 2 {
		t.Errorf("ctm totals = %+v, want %+v with cost 2", got, want)
	}
	if got := cc.Totals; got.Input != want.Input || got.Total != want.Total || got.CostUSD != 1.9 {
		t.Errorf("ccusage totals = %+v, want %+v with cost 1.9", got, want)
	}
	if got := ct.Days["2026-01-02"]; got.CacheRead != 4 || got.Total != 10 {
		t.Errorf("ctm 2026-01-02 = %+v, want cache_read 4, total 10", got)
	}
	if len(cc.Days) != 2 || cc.Days["2026-01-01"].Output != 20 {
		t.Errorf("ccusage days = %+v, want 2 days with output 20 on 2026-01-01", cc.Days)
	}
	// Costs differ, tokens do not: no differences.
	if d := compareDaily("ctm", ct, "ccusage", cc); len(d) != 0 {
		t.Errorf("compareDaily = %q, want none", d)
	}
}

func TestParseRejectsBadOutput(t *testing.T) {
	for _, in := range []string{"", "not json", `{"daily":[]}`, `[1,2]`, "ccusage: error\n" + ctmSample} {
		if _, err := parseCTM([]byte(in)); err == nil {
			t.Errorf("parseCTM(%.30q) succeeded, want an error", in)
		}
		if _, err := parseCCUsage([]byte(in)); err == nil {
			t.Errorf("parseCCUsage(%.30q) succeeded, want an error", in)
		}
	}
	_, err := parseCTM([]byte(strings.Repeat("x", 500)))
	if err == nil || len(err.Error()) > 400 {
		t.Errorf("parseCTM(long junk) error = %v, want a short error", err)
	}
}

func TestCompareDaily(t *testing.T) {
	day := func(in, out int64) tokens { return tokens{Input: in, Output: out, Total: in + out} }
	a := daily{Days: map[string]tokens{"2026-01-01": day(1, 2), "2026-01-02": day(3, 4)}, Totals: day(4, 6)}
	tests := []struct {
		name string
		b    daily
		want []string
	}{
		{"same", a, nil},
		{"output differs", daily{
			Days:   map[string]tokens{"2026-01-01": day(1, 2), "2026-01-02": day(3, 5)},
			Totals: day(4, 7),
		}, []string{
			"totals output: 6 vs 7 (+1) (x vs y)",
			"totals total: 10 vs 11 (+1) (x vs y)",
			"2026-01-02 output: 4 vs 5 (+1) (x vs y)",
			"2026-01-02 total: 7 vs 8 (+1) (x vs y)",
		}},
		{"days moved", daily{
			Days:   map[string]tokens{"2026-01-01": day(1, 2), "2026-01-03": day(3, 4)},
			Totals: day(4, 6),
		}, []string{
			"2026-01-02: only in x (7 tokens)",
			"2026-01-03: only in y (7 tokens)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := compareDaily("x", a, "y", tt.b); !slices.Equal(got, tt.want) {
				t.Errorf("compareDaily = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []int64
		want int64
	}{
		{nil, 0},
		{[]int64{5}, 5},
		{[]int64{9, 1, 5}, 5},
		{[]int64{4, 1, 3, 2}, 2},
	}
	for _, tt := range tests {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %d, want %d", tt.in, got, tt.want)
		}
	}
	if got := median([]time.Duration{3 * time.Second, time.Second, 2 * time.Second}); got != 2*time.Second {
		t.Errorf("median(durations) = %s, want 2s", got)
	}
}

func TestGoals(t *testing.T) {
	s := func(wall time.Duration, rss int64) *sample {
		var x sample
		x.add(run{Wall: wall, MaxRSS: rss})
		return &x
	}
	cc := s(10*time.Second, 400<<20)
	first := s(4*time.Second, 300<<20)       // faster, but more than half the memory
	again := s(400*time.Millisecond, 50<<20) // 0.04x
	appended := s(30*time.Millisecond, 40<<20)
	status := s(25*time.Millisecond, 20<<20)
	got := goals(cc, first, again, appended, status)
	want := []struct {
		metric string
		ratio  float64
		result string
	}{
		{"first index wall", 0.4, resultPass},
		{"first index peak RSS", 0.75, resultMiss},
		{"unchanged report wall", 0.04, resultMiss},
		{"unchanged report peak RSS", 0.125, resultInfo},
		{"report after 1 MB append", 0.003, resultPass},
		{"statusline, serve running", 0.0025, resultMiss},
	}
	if len(got) != len(want) {
		t.Fatalf("goals returned %d rows, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Metric != w.metric || g.Result != w.result || g.Ratio < w.ratio-1e-9 || g.Ratio > w.ratio+1e-9 {
			t.Errorf("goal %d = %+v, want %s ratio %.3f %s", i, g, w.metric, w.ratio, w.result)
		}
	}
	// A missing side gives n/a, never a verdict.
	failed := &sample{Error: "boom"}
	for _, g := range goals(cc, failed, &sample{}, failed, &sample{}) {
		if g.Result != resultNA || g.Ratio != 0 {
			t.Errorf("goal with failed ctm = %+v, want n/a", g)
		}
	}
}

func TestSummary(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mb int64, first time.Duration) string {
		r := &results{Generated: &dataSet{Shape: "long", Bytes: mb << 20}}
		r.CTMFirst.add(run{Wall: first, MaxRSS: 50 << 20})
		r.CCUsage.add(run{Wall: 2 * first, MaxRSS: 200 << 20})
		r.CTMAgain.add(run{Wall: 20 * time.Millisecond})
		p := filepath.Join(dir, name)
		if err := writeJSON(p, r); err != nil {
			t.Fatal(err)
		}
		return p
	}
	small := write("a.json", 100, time.Second)
	big := write("b.json", 2000, 26*time.Second) // 1.3x the cost per MB
	var out bytes.Buffer
	if err := summarize(&out, []string{big, small}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"long   100 MB", "0.50x", "0.25x", "0.010x", "per MB at 2000 MB is 1.30x that at 100 MB (goal <= 1.20x) MISS"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	if err := summarize(&out, []string{filepath.Join(dir, "missing.json")}); err == nil {
		t.Error("summarize(missing file) = nil error")
	}
}
