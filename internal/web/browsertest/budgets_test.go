package browsertest

import (
	"fmt"
	"math"
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
	c := startWithHub(t, copyCorpus(t), func(o *server.Options) error {
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
	if err := c.srv.Hub().BroadcastBudgetAlert(budget.Alert{BudgetID: "month", Threshold: 80, Message: "ctm budget month: 80% crossed"}); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "the budget_alert toast", `document.querySelector('#toast').textContent.includes('ctm budget month: 80% crossed')`)
	if errs := consoleErrors(t, b, c.url); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
}

// TestBlockCardEstimate stores three rate-limit samples that a later
// request makes stale: the block card holds the block against the limit
// estimated from them and says so.
func TestBlockCardEstimate(t *testing.T) {
	requireChromium(t)
	root := copyCorpus(t)
	appendResponse(t, root, blockNow.Add(-10*time.Minute), "after-samples")
	c := startWithHub(t, root, func(o *server.Options) error {
		o.Now = func() time.Time { return blockNow }
		// Samples of a user whose limit is $5, read off the block's
		// records as Claude would have reported them.
		rs := o.Store.(usage.RateLimitStore)
		resets := blockNow.Add(2 * time.Hour)
		for _, ago := range []time.Duration{54 * time.Minute, 50 * time.Minute, 45 * time.Minute} { // 09:06 to 09:15, during a session
			at := blockNow.Add(-ago)
			recs, err := o.Store.Records(t.Context(), usage.Filter{Since: resets.Add(-5 * time.Hour), Until: at}, usage.Page{})
			if err != nil {
				return err
			}
			var cost usage.Money
			for _, r := range recs {
				cost += r.Cost
			}
			err = rs.SaveRateLimits(t.Context(), usage.RateLimitSample{
				Time:     at,
				FiveHour: &usage.RateLimitWindow{UsedPercentage: math.Round(cost.USD() / 5 * 100), ResetsAt: resets},
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	var act struct {
		LimitStatus struct {
			Status, Source string
			Ratio          float64
			Samples        int
		} `json:"limit_status"`
	}
	getAPI(t, c.url, "/blocks/active", &act)
	if act.LimitStatus.Source != "samples" || act.LimitStatus.Samples != 3 {
		t.Fatalf("GET /blocks/active limit_status = %+v, want the estimate of 3 samples", act.LimitStatus)
	}
	b := newBrowser(t, 1280, 900)
	b.open(t, c.url+"/")
	b.waitFor(t, "the active block", `document.querySelector('#block-card').dataset.state === 'active'`)
	text := eval[string](t, b, `document.querySelector('#block-body').textContent`)
	if !strings.Contains(text, "estimated from 3 samples") || !strings.Contains(text, fmt.Sprintf("%.1f%%", 100*act.LimitStatus.Ratio)) {
		t.Errorf("block card = %q; want %.1f%% of the limit estimated from 3 samples", text, 100*act.LimitStatus.Ratio)
	}
	if limit := eval[string](t, b, `document.querySelector('[data-window="five_hour"]')?.textContent || ''`); !strings.Contains(limit, "limit ≈ $5.0") {
		t.Errorf("limits card = %q, want the estimate of the $5 limit", limit)
	}
	b.screenshot(t, "block-card-estimate.png")
}
