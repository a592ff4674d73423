package views

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// Budget statuses, by increasing severity. Near is BudgetNearPercent (80 %)
// of the amount or more, over is 100 % or more.
const (
	BudgetOK   = "ok"
	BudgetNear = "near"
	BudgetOver = "over"
)

// BudgetStatus is where one budget stands in its current period.
type BudgetStatus struct {
	usage.Budget
	// PeriodStart and PeriodEnd bound the current period, [start, end),
	// in the views' zone.
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
	// Spent is the cost of the period's records so far.
	Spent   usage.Money `json:"spent_usd"`
	Entries int64       `json:"entries"`
	// Percent is Spent as a percentage of Amount.
	Percent float64 `json:"percent"`
	Status  string  `json:"status"`
	// Crossed lists the thresholds (usage.BudgetThresholds) reached.
	Crossed []int `json:"crossed"`
	// Projected extrapolates the period's spending rate so far to its end.
	Projected usage.Money `json:"projected_usd"`
	// UnpricedModels had no price; their cost counts as 0.
	UnpricedModels []string `json:"unpriced_models,omitempty"`
}

// Budgets is the budgets view: each budget's current period.
type Budgets struct {
	Budgets []BudgetStatus `json:"budgets"`
	// Status is the most severe status of any budget, ok when none.
	Status string `json:"status"`
}

// Budgets returns the status of each budget at the current time. It reads
// one aggregate per budget.
func (v *Views) Budgets(ctx context.Context, budgets []usage.Budget) (Budgets, error) {
	now := v.now()
	res := Budgets{Budgets: make([]BudgetStatus, 0, len(budgets)), Status: BudgetOK}
	for _, b := range budgets {
		start, end := b.Period.Window(now, v.loc())
		rep, err := v.rollup(ctx, b.Filter(start, end), usage.ByNothing, byNothing)
		if err != nil {
			return res, fmt.Errorf("budget %s: %w", b.ID, err)
		}
		st := BudgetStatus{Budget: b, PeriodStart: start, PeriodEnd: end, Spent: rep.Totals.CostUSD,
			Entries: rep.Totals.Entries, Crossed: []int{}, UnpricedModels: rep.Unpriced}
		if b.Amount > 0 {
			st.Percent = float64(st.Spent) / float64(b.Amount) * 100
		}
		for _, th := range usage.BudgetThresholds {
			if st.Percent >= float64(th) {
				st.Crossed = append(st.Crossed, th)
			}
		}
		st.Status = budgetStatusOf(st.Percent)
		if elapsed := now.Sub(start); elapsed > 0 {
			// Early in a period the rate extrapolates past what Money
			// holds; converting such a float to an integer would wrap.
			p := float64(st.Spent) * float64(end.Sub(start)) / float64(elapsed)
			st.Projected = usage.Money(math.MaxInt64)
			if p < math.MaxInt64 {
				st.Projected = usage.Money(p)
			}
		}
		if severity(st.Status) > severity(res.Status) {
			res.Status = st.Status
		}
		res.Budgets = append(res.Budgets, st)
	}
	return res, nil
}

func budgetStatusOf(percent float64) string {
	switch {
	case percent >= 100:
		return BudgetOver
	case percent >= usage.BudgetNearPercent:
		return BudgetNear
	default:
		return BudgetOK
	}
}

func severity(status string) int {
	return slices.Index([]string{BudgetOK, BudgetNear, BudgetOver}, status)
}

// BudgetReport is the budgets view with the limits view, as ctm budget
// --json prints it and the MCP budgets tool answers.
type BudgetReport struct {
	Budgets []BudgetStatus `json:"budgets"`
	// Status is the most severe status of any budget, ok when none.
	Status string `json:"status"`
	Limits Limits `json:"limits"`
}

// BudgetReport returns the budgets and the estimated limits.
func (v *Views) BudgetReport(ctx context.Context, budgets []usage.Budget) (BudgetReport, error) {
	b, err := v.Budgets(ctx, budgets)
	if err != nil {
		return BudgetReport{}, err
	}
	r := BudgetReport{Budgets: b.Budgets, Status: b.Status}
	r.Limits, err = v.Limits(ctx)
	return r, err
}
