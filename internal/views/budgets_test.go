package views_test

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/sqlite"
	"github.com/claude-token-monitor/ctm/internal/storetest"
	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

// TestBudgets checks periods in the views' zone (a week from Monday
// midnight in Tokyo), project and user scopes, percent, crossed
// thresholds, status and projection, against hand-computed sums.
func TestBudgets(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "b.db"), storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Skip(err)
	}
	// Wednesday 2026-03-04 12:00 in Tokyo.
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, tokyo)
	rec := func(key string, at time.Time, project, user string, out int64) usage.Record {
		return usage.Record{Key: key, MessageID: key, RequestID: key, Timestamp: at, Model: "claude-opus-4-6",
			SessionID: "s", Project: project, User: user, Tokens: usage.Tokens{Output: out}}
	}
	recs := []usage.Record{
		rec("sun", time.Date(2026, 3, 1, 23, 0, 0, 0, tokyo), "/a", "alice", 1_000_000), // last week
		rec("mon", time.Date(2026, 3, 2, 0, 30, 0, 0, tokyo), "/a", "alice", 400_000),   // this week, UTC's Sunday
		rec("wed1", time.Date(2026, 3, 4, 9, 0, 0, 0, tokyo), "/a", "bob", 200_000),
		rec("wed2", time.Date(2026, 3, 4, 11, 0, 0, 0, tokyo), "/b", "alice", 100_000),
	}
	if err := st.Apply(ctx, usage.Batch{Records: recs}); err != nil {
		t.Fatal(err)
	}
	cost := func(keys ...string) usage.Money {
		var m usage.Money
		for _, r := range recs {
			if slices.Contains(keys, r.Key) {
				c, _ := storetest.Prices.Price(&r)
				m += c
			}
		}
		return m
	}
	day := cost("wed1", "wed2")
	budgets := []usage.Budget{
		{ID: "day", Period: usage.BudgetDaily, Amount: day * 2},                       // 50 %
		{ID: "week", Period: usage.BudgetWeekly, Amount: cost("mon", "wed1", "wed2")}, // 100 %
		{ID: "week-a", Period: usage.BudgetWeekly, Amount: cost("mon", "wed1") * 10 / 9, Project: "/a"},
		{ID: "month-alice", Period: usage.BudgetMonthly, Amount: cost("mon", "wed2") * 4, User: "alice"},
	}
	v := &views.Views{Store: st, Prices: storetest.Prices, Location: tokyo, Now: func() time.Time { return now }}
	got, err := v.Budgets(ctx, budgets)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		start         time.Time
		spent         usage.Money
		entries       int64
		status        string
		crossed       []int
		projectedDays float64 // period length over elapsed
	}{
		{time.Date(2026, 3, 4, 0, 0, 0, 0, tokyo), day, 2, "ok", []int{50}, 2},
		{time.Date(2026, 3, 2, 0, 0, 0, 0, tokyo), cost("mon", "wed1", "wed2"), 3, "over", []int{50, 80, 100}, 7 / 2.5},
		{time.Date(2026, 3, 2, 0, 0, 0, 0, tokyo), cost("mon", "wed1"), 2, "near", []int{50, 80}, 7 / 2.5},
		{time.Date(2026, 3, 1, 0, 0, 0, 0, tokyo), cost("sun", "mon", "wed2"), 3, "ok", []int{50}, 31 / 3.5},
	}
	for i, w := range want {
		g := got.Budgets[i]
		if !g.PeriodStart.Equal(w.start) || g.Spent != w.spent || g.Entries != w.entries || g.Status != w.status ||
			!slices.Equal(g.Crossed, w.crossed) {
			t.Errorf("%s = start %v spent %s (%d) %s %v; want %v %s (%d) %s %v", g.ID, g.PeriodStart, g.Spent, g.Entries,
				g.Status, g.Crossed, w.start, w.spent, w.entries, w.status, w.crossed)
		}
		if p := float64(g.Projected) / float64(g.Spent); p < w.projectedDays-1e-6 || p > w.projectedDays+1e-6 {
			t.Errorf("%s: projected %s is %.4f x spent, want %.4f", g.ID, g.Projected, p, w.projectedDays)
		}
	}
	if got.Status != "over" {
		t.Errorf("overall status = %s, want over", got.Status)
	}
	if empty, err := v.Budgets(ctx, nil); err != nil || len(empty.Budgets) != 0 || empty.Status != "ok" {
		t.Errorf("no budgets = %+v, %v", empty, err)
	}
}

// TestBudgetProjectionRightAfterPeriodStart: a millisecond into a month,
// the spending so far extrapolates past what Money holds; the projection
// saturates instead of wrapping to a negative amount.
func TestBudgetProjectionRightAfterPeriodStart(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "b.db"), storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	r := usage.Record{Key: "k", MessageID: "k", RequestID: "k", Timestamp: start, Model: "claude-opus-4-6",
		SessionID: "s", Project: "/a", Tokens: usage.Tokens{Output: 2_000_000}}
	if err := st.Apply(ctx, usage.Batch{Records: []usage.Record{r}}); err != nil {
		t.Fatal(err)
	}
	v := &views.Views{Store: st, Prices: storetest.Prices, Now: func() time.Time { return start.Add(time.Millisecond) }}
	b, err := v.Budgets(ctx, []usage.Budget{{ID: "m", Period: usage.BudgetMonthly, Amount: 100 * usage.MoneyPerUSD}})
	if err != nil {
		t.Fatal(err)
	}
	if st := b.Budgets[0]; st.Spent <= 0 || st.Projected < st.Spent {
		t.Errorf("spent %s, projected %s; want a projection of at least what was spent", st.Spent.Fixed(2), st.Projected.Fixed(2))
	}
}
