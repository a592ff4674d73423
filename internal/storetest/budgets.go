package storetest

import (
	"strconv"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// testBudgetAlerts checks the sent-notification log: a key is recorded
// once, a second mark reports false and keeps the first SentAt, listing is
// ordered and bounded by period start, and bad keys are EINVALID. Stores
// without the optional interface skip it.
func testBudgetAlerts(t *testing.T, s usage.Store) {
	bs, ok := s.(usage.BudgetAlertStore)
	if !ok {
		t.Skip("store does not keep budget alerts")
	}
	ctx := t.Context()
	day1, day2 := t0.Truncate(24*time.Hour), t0.Truncate(24*time.Hour).Add(24*time.Hour)
	a := usage.BudgetAlert{BudgetID: "daily", PeriodStart: day1, Threshold: 50, Target: "hook", SentAt: at(time.Minute)}
	added, err := bs.MarkBudgetAlertSent(ctx, a)
	if err != nil || !added {
		t.Fatalf("first mark = %v, %v; want true, nil", added, err)
	}
	again := a
	again.SentAt = at(time.Hour)
	if added, err := bs.MarkBudgetAlertSent(ctx, again); err != nil || added {
		t.Fatalf("second mark of the same key = %v, %v; want false, nil", added, err)
	}
	// Every other field of the key makes another alert.
	for _, b := range []usage.BudgetAlert{
		{BudgetID: "daily", PeriodStart: day1, Threshold: 80, Target: "hook", SentAt: at(2 * time.Minute)},
		{BudgetID: "daily", PeriodStart: day1, Threshold: 50, Target: "slack", SentAt: at(3 * time.Minute)},
		{BudgetID: "daily", PeriodStart: day2, Threshold: 50, Target: "hook", SentAt: at(25 * time.Hour)},
		{BudgetID: "alpha", PeriodStart: day1, Threshold: 100, Target: "hook", SentAt: at(4 * time.Minute)},
	} {
		if added, err := bs.MarkBudgetAlertSent(ctx, b); err != nil || !added {
			t.Fatalf("mark %+v = %v, %v; want true, nil", b, added, err)
		}
	}
	all, err := bs.BudgetAlertsSent(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"alpha/100/hook", "daily/50/hook", "daily/50/slack", "daily/80/hook", "daily/50/hook"}
	if len(all) != len(want) {
		t.Fatalf("got %d alerts, want %d: %+v", len(all), len(want), all)
	}
	for i, g := range all {
		if key := g.BudgetID + "/" + strconv.Itoa(g.Threshold) + "/" + g.Target; key != want[i] {
			t.Errorf("alert %d = %s, want %s", i, key, want[i])
		}
	}
	if !all[1].PeriodStart.Equal(day1) || !all[1].SentAt.Equal(a.SentAt) {
		t.Errorf("first alert = %+v; want period %v and the first SentAt %v", all[1], day1, a.SentAt)
	}
	later, err := bs.BudgetAlertsSent(ctx, day2)
	if err != nil || len(later) != 1 || !later[0].PeriodStart.Equal(day2) {
		t.Errorf("alerts since %v = %+v, %v; want the one of that day", day2, later, err)
	}
	for _, bad := range []usage.BudgetAlert{
		{PeriodStart: day1, Threshold: 50, Target: "hook"},
		{BudgetID: "x", Threshold: 50, Target: "hook"},
		{BudgetID: "x", PeriodStart: day1, Threshold: 0, Target: "hook"},
		{BudgetID: "x", PeriodStart: day1, Threshold: 50},
	} {
		if _, err := bs.MarkBudgetAlertSent(ctx, bad); usage.ErrorCode(err) != usage.EINVALID {
			t.Errorf("mark %+v: err = %v, want EINVALID", bad, err)
		}
	}
}
