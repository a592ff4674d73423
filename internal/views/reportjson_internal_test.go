package views

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// FuzzReportJSONStrings checks AppendJSON against encoding/json on every
// report kind with arbitrary keys, model names and ratios (the writer's
// escapes and float formats have their own fuzz target, in jsontext).
func FuzzReportJSONStrings(f *testing.F) {
	f.Add("", "claude-x", 0.5)
	f.Add(`<a&"b">`, "\xff\u2028", 1e-7)
	f.Add("2026-01-01", "m", 1e21)
	f.Fuzz(func(t *testing.T, key, model string, ratio float64) {
		agg := usage.Aggregate{Tokens: usage.Tokens{Input: int64(len(key)), CacheRead: math.MaxInt64}, CacheHitRate: ratio,
			CostUSD: usage.Money(-len(model)), Entries: 3}
		g := usage.Group{Key: key, Aggregate: agg, Project: model,
			Models: []usage.ModelAggregate{{Model: model, Aggregate: agg}, {Model: key}}}
		for _, kind := range ReportKinds {
			for _, breakdown := range []bool{false, true} {
				r := Report{Kind: kind, Breakdown: breakdown, loc: time.UTC,
					Report: usage.Report{Groups: []usage.Group{g, {}}, Totals: g, Unpriced: []string{model, key}}}
				if kind.Dim == usage.BySession {
					r.splits = map[string]*AgentSplit{key: {CostMainUSD: 7, CostSubagentsUSD: -1}}
				}
				got, gotErr := r.AppendJSON(nil, "")
				totals := ReportTotals{Aggregate: r.Totals.Aggregate, Models: r.Totals.ModelNames()}
				if breakdown {
					totals.ModelBreakdowns = r.Totals.Models
				}
				want, wantErr := json.Marshal(map[string]any{kind.ListKey: r.Rows(), "totals": totals, "unpriced_models": r.Unpriced})
				if (gotErr != nil) != (wantErr != nil) {
					t.Fatalf("%s: error %v, encoding/json %v", kind.Name, gotErr, wantErr)
				}
				if gotErr == nil && !bytes.Equal(got, want) {
					t.Fatalf("%s:\n got %s\nwant %s", kind.Name, got, want)
				}
			}
		}
	})
}
