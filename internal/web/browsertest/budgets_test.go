package browsertest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/budget"
	"github.com/claude-token-monitor/ctm/internal/server"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// TestBudgetsCard serves budgets and a rate-limit sample: the card shows
// each budget with the server's status and the 5-hour window with its
// source, and a budget_alert message shows its text.
func TestBudgetsCard(t *testing.T) {
	requireChromium(t)
	c, hub := startWithHub(t, copyCorpus(t), func(o *server.Options) error {
		o.Now = func() time.Time { return blockNow }
		o.Budgets = []usage.Budget{
			{ID: "month", Period: usage.BudgetMonthly, Amount: 5 * usage.MoneyPerUSD},
			{ID: "day", Period: usage.BudgetDaily, Amount: 1000 * usage.MoneyPerUSD},
		}
		return o.Store.(usage.RateLimitStore).SaveRateLimits(t.Context(), usage.RateLimitSample{
			Time:     blockNow.Add(-2 * time.Minute),
			FiveHour: &usage.RateLimitWindow{UsedPercentage: 37, ResetsAt: blockNow.Add(2 * time.Hour)},
		})
	})
	var budgets struct {
		Budgets []struct {
			ID, Status string
			Percent    float64
		}
		Status string
	}
	getAPI(t, c.url, "/budgets", &budgets)
	if len(budgets.Budgets) != 2 {
		t.Fatalf("GET /budgets = %+v", budgets)
	}
	b := newBrowser(t, 1280, 900)
	b.open(t, c.url+"/")
	b.waitFor(t, "the budgets card", `!document.querySelector('#budgets-card').hidden && document.querySelector('[data-budget="month"]') !== null`)
	if got := eval[string](t, b, `document.querySelector('#budgets-card').dataset.status`); got != budgets.Status {
		t.Errorf("card status = %q, want %q", got, budgets.Status)
	}
	for _, bs := range budgets.Budgets {
		got := eval[string](t, b, fmt.Sprintf(`document.querySelector('[data-budget=%q]').dataset.status`, bs.ID))
		text := eval[string](t, b, fmt.Sprintf(`document.querySelector('[data-budget=%q]').textContent`, bs.ID))
		if got != bs.Status || !strings.Contains(text, fmt.Sprintf("%.1f%%", bs.Percent)) {
			t.Errorf("budget %s: status %q, text %q; want %q and %.1f%%", bs.ID, got, text, bs.Status, bs.Percent)
		}
	}
	five := eval[string](t, b, `document.querySelector('[data-window="five_hour"]')?.textContent || ''`)
	if !strings.Contains(five, "Claude's figure") || !strings.Contains(five, "37.0%") {
		t.Errorf("5-hour window = %q, want Claude's 37%%", five)
	}
	b.waitFor(t, "the live feed", `document.querySelector('#live').dataset.state === 'live'`)
	b.screenshot(t, "budgets-card.png")
	if err := hub.BroadcastBudgetAlert(budget.Alert{BudgetID: "month", Threshold: 80, Message: "ctm budget month: 80% crossed"}); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "the budget_alert toast", `document.querySelector('#toast').textContent.includes('ctm budget month: 80% crossed')`)
	if errs := consoleErrors(t, b, c.url); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}
