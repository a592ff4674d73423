package gen

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/ingest"
	"github.com/claude-token-monitor/ctm/internal/sqlite"
	"github.com/claude-token-monitor/ctm/internal/storetest"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// TestIngestGivesManifestTotals indexes generated data with ctm's own
// ingester into a real SQLite store priced with the embedded table: the
// store must hold exactly the manifest's tokens per model and per day, and
// price every model the generator writes.
func TestIngestGivesManifestTotals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		corpus func(testing.TB) (string, *Manifest)
	}{{"default", mustCorpus}, {"billing", mustBillingCorpus}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir, m := tc.corpus(t)
			store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ctm.db"), storetest.Prices)
			if err != nil {
				t.Fatalf("sqlite.Open: %v", err)
			}
			defer store.Close()
			res, err := ingest.New(store, []string{dir}, nil, ingest.Options{}).Run(ctx)
			if err != nil {
				t.Fatalf("ingest: %v", err)
			}
			if res.BadLines != 0 || res.BadValues != 0 {
				t.Errorf("ingest found %d bad lines and %d bad values, want none", res.BadLines, res.BadValues)
			}

			byModel, err := store.Aggregate(ctx, usage.Filter{}, usage.ByNothing)
			if err != nil {
				t.Fatalf("Aggregate(ByNothing): %v", err)
			}
			models := map[string]ModelTotals{}
			for _, b := range byModel {
				v := models[b.Model]
				v.Entries += b.Entries
				v.Tokens = v.Tokens.Add(b.Tokens)
				models[b.Model] = v
				if !storetest.Prices.Priced(b.Model) || b.Cost <= 0 {
					t.Errorf("model %s: priced %v, cost %s; want a price", b.Model, storetest.Prices.Priced(b.Model), b.Cost)
				}
			}
			compareTotals(t, "model", models, m.Models)

			byQuarter, err := store.Aggregate(ctx, usage.Filter{}, usage.ByQuarterHour)
			if err != nil {
				t.Fatalf("Aggregate(ByQuarterHour): %v", err)
			}
			days := map[string]ModelTotals{}
			for _, b := range byQuarter {
				d := b.Time.UTC().Format(time.DateOnly)
				v := days[d]
				v.Entries += b.Entries
				v.Tokens = v.Tokens.Add(b.Tokens)
				days[d] = v
			}
			compareTotals(t, "day", days, m.Days)
		})
	}
}
