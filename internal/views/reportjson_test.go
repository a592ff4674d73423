package views_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/views"
)

// reflectJSON is the report's JSON as encoding/json makes it from Rows:
// what AppendJSON must write byte for byte.
func reflectJSON(r views.Report) ([]byte, error) {
	totals := views.ReportTotals{Aggregate: r.Totals.Aggregate, Models: r.Totals.ModelNames()}
	if r.Breakdown {
		totals.ModelBreakdowns = r.Totals.Models
	}
	unpriced := r.Unpriced
	if unpriced == nil {
		unpriced = []string{}
	}
	return json.Marshal(map[string]any{
		r.Kind.ListKey:    r.Rows(),
		"totals":          totals,
		"unpriced_models": unpriced,
	})
}

func TestReportJSONIsWhatReflectionWrites(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	ranges := []struct{ since, until string }{{"", ""}, {"2099-01-01", ""}, {"2025-08-01", "2025-08-31"}}
	n := 0
	for _, loc := range []*time.Location{time.UTC, berlin} {
		v := newViews(blockNow, loc)
		for name, kind := range views.ReportKinds {
			for _, q := range []views.ReportQuery{
				{Kind: kind},
				{Kind: kind, Breakdown: true},
				{Kind: kind, AgentSplit: true, Sort: "cost", Descending: true},
				{Kind: kind, Breakdown: true, AgentSplit: true, Sort: "tokens"},
			} {
				for _, rg := range ranges {
					q.Since, q.Until = rg.since, rg.until
					rep, err := v.Report(t.Context(), q)
					if err != nil {
						t.Fatalf("%s %+v: %v", name, q, err)
					}
					want, err := reflectJSON(rep)
					if err != nil {
						t.Fatal(err)
					}
					got, err := json.Marshal(rep)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("%s %+v in %s:\n got %.400s\nwant %.400s", name, q, loc, got, want)
					}
					var indented bytes.Buffer
					if err := json.Indent(&indented, want, "", "  "); err != nil {
						t.Fatal(err)
					}
					pretty, err := rep.AppendJSON([]byte("prefix"), "  ")
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(pretty, append([]byte("prefix"), indented.Bytes()...)) {
						t.Fatalf("%s %+v in %s, indented:\n got %.400s\nwant %.400s", name, q, loc, pretty, indented.Bytes())
					}
					if len(rep.Groups) > 0 {
						n++
					}
				}
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d of the reports compared have rows; the corpus should fill most", n)
	}
}
