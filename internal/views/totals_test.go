package views_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/sqlite"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// TestAllTimeSnapshotsAndHistory checks the sums behind snapshots and the
// metrics: the all-time totals are the expected ones, their models add up
// to them, and a snapshot stored in a real SQLite file reads back with
// the same figures.
func TestAllTimeSnapshotsAndHistory(t *testing.T) {
	ctx := t.Context()
	loc, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	v := newViews(blockNow, loc)
	all, err := v.AllTime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkFigures(t, "all time", all.Aggregate, fixture.expected.Totals)
	var sum usage.Aggregate
	for _, m := range all.Models {
		sum.Tokens = sum.Tokens.Add(m.Tokens)
		sum.CostUSD = sum.CostUSD.Add(m.CostUSD)
		sum.Entries += m.Entries
	}
	if sum.Tokens != all.Tokens || sum.CostUSD != all.CostUSD || sum.Entries != all.Entries {
		t.Errorf("models add up to %+v, totals are %+v", sum, all.Aggregate)
	}
	if all.Unpriced == nil || all.Last.IsZero() {
		t.Errorf("unpriced %v, last %v: want a list and the newest record", all.Unpriced, all.Last)
	}

	snap := all.Snapshot(blockNow)
	if !snap.Time.Equal(blockNow) || snap.Time.Location() != time.UTC || len(snap.Models) != len(all.Models) {
		t.Errorf("snapshot at %v with %d models, want %v UTC with %d", snap.Time, len(snap.Models), blockNow, len(all.Models))
	}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "snap.db"), fixture.prices)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.SaveSnapshot(ctx, snap); err != nil {
		t.Fatal(err)
	}
	h, err := v.History(ctx, st, time.Time{}, time.Time{}, usage.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if h.Total != 1 || len(h.Snapshots) != 1 {
		t.Fatalf("history = %d of %d, want the one snapshot", len(h.Snapshots), h.Total)
	}
	got := h.Snapshots[0]
	if got.CapturedAt.Location() != loc || !got.CapturedAt.Equal(blockNow) {
		t.Errorf("captured at %v, want %v in %v", got.CapturedAt, blockNow, loc)
	}
	checkFigures(t, "stored snapshot", got.Aggregate, fixture.expected.Totals)
	if got.TotalTokens != all.TotalTokens || got.CacheHitRate != all.CacheHitRate || len(got.Models) != len(all.Models) {
		t.Errorf("stored snapshot derives %d tokens, hit rate %v, %d models; all time has %d, %v, %d",
			got.TotalTokens, got.CacheHitRate, len(got.Models), all.TotalTokens, all.CacheHitRate, len(all.Models))
	}
	for i, m := range got.Models {
		if m.Model != all.Models[i].Model || m.TotalTokens != all.Models[i].TotalTokens || m.CostUSD != all.Models[i].CostUSD {
			t.Errorf("stored model %d = %s %d %s, want %s %d %s", i, m.Model, m.TotalTokens, m.CostUSD,
				all.Models[i].Model, all.Models[i].TotalTokens, all.Models[i].CostUSD)
		}
	}
}

// team is a TeamDirectory of fixed users.
type team []usage.UserTotals

func (d team) Users(context.Context) ([]usage.UserTotals, error) { return d, nil }

// TestUsersAddUp checks the users view over the corpus (one user, "",
// a local install) and what a team directory adds: machines and token
// counts, and users who hold a token but have no records yet.
func TestUsersAddUp(t *testing.T) {
	v := newViews(blockNow, time.UTC)
	u, err := v.Users(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkFigures(t, "users totals", u.Totals, fixture.expected.Totals)
	if len(u.Users) != 1 || u.Users[0].User != "" || u.Users[0].Machines != nil || u.Users[0].TokenCount != nil {
		t.Fatalf("users = %+v, want the one local user without team fields", u.Users)
	}
	checkFigures(t, "the local user", u.Users[0].Aggregate, fixture.expected.Totals)
	if u.Users[0].FirstActivity == nil || u.Users[0].LastActivity == nil || len(u.Users[0].Models) == 0 {
		t.Errorf("local user = %+v, want activity times and models", u.Users[0])
	}
	u, err = v.Users(t.Context(), team{{User: "", Machines: []string{"laptop"}, TokenCount: 0}, {User: "zoe", TokenCount: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Users) != 2 || u.Users[0].User != "" || u.Users[1].User != "zoe" {
		t.Fatalf("users = %+v, want \"\" and zoe in name order", u.Users)
	}
	zoe := u.Users[1]
	if zoe.Entries != 0 || zoe.Machines == nil || len(zoe.Machines) != 0 || zoe.TokenCount == nil || *zoe.TokenCount != 2 || zoe.Models == nil {
		t.Errorf("zoe = %+v, want no records, an empty machine list and 2 tokens", zoe)
	}
	if m := u.Users[0].Machines; len(m) != 1 || m[0] != "laptop" {
		t.Errorf("local user's machines = %v, want laptop", m)
	}
	checkFigures(t, "users totals with a team", u.Totals, fixture.expected.Totals)
}
