package usage

import (
	"context"
	"time"
)

// BudgetPeriod is the calendar period a budget's spending is summed over,
// in the configured time zone.
type BudgetPeriod string

// The periods a budget can have.
const (
	BudgetDaily   BudgetPeriod = "daily"
	BudgetWeekly  BudgetPeriod = "weekly"
	BudgetMonthly BudgetPeriod = "monthly"
)

// Period returns the calendar period of p (Day, Week or Month).
func (p BudgetPeriod) Period() Period {
	switch p {
	case BudgetWeekly:
		return Week
	case BudgetMonthly:
		return Month
	default:
		return Day
	}
}

// Valid reports whether p is one of the known periods.
func (p BudgetPeriod) Valid() bool {
	return p == BudgetDaily || p == BudgetWeekly || p == BudgetMonthly
}

// Window returns the period of p that contains now, [start, end), in loc.
func (p BudgetPeriod) Window(now time.Time, loc *time.Location) (start, end time.Time) {
	start = p.Period().Start(now.In(loc))
	return start, p.Period().Next(start)
}

// BudgetThresholds are the shares of a budget, in percent, whose crossing
// sends a notification: once per budget, period, threshold and target.
var BudgetThresholds = []int{50, 80, 100}

// BudgetNearPercent is the share of a budget (and of a block's limit) from
// which scripts are told "near the limit" (exit code 10).
const BudgetNearPercent = 80

// Budget is a cost budget over a calendar period, for all usage or the
// usage of one project or (team mode) one user.
type Budget struct {
	// ID names the budget in notifications and in the sent-notification
	// log; it must be unique and stable across restarts.
	ID     string       `json:"id"`
	Period BudgetPeriod `json:"period"`
	// Amount is the budget in USD.
	Amount Money `json:"amount_usd"`
	// Project and User narrow the usage counted; "" counts all.
	Project string `json:"project,omitempty"`
	User    string `json:"user,omitempty"`
}

// Filter returns the records b counts in [start, end).
func (b Budget) Filter(start, end time.Time) Filter {
	return Filter{Since: start, Until: end, Project: b.Project, User: b.User}
}

// BudgetAlert is one notification of a budget crossing a threshold,
// delivered to one target. Its key (BudgetID, PeriodStart, Threshold,
// Target) is stored once it was delivered, so that no restart sends it
// again.
type BudgetAlert struct {
	BudgetID    string    `json:"budget_id"`
	PeriodStart time.Time `json:"period_start"`
	Threshold   int       `json:"threshold"`
	Target      string    `json:"target"`
	// SentAt is when the target acknowledged it.
	SentAt time.Time `json:"sent_at"`
}

// BudgetAlertStore keeps the log of delivered budget notifications. It is
// optional: callers type-assert a Store for it; both built-in stores
// implement it.
type BudgetAlertStore interface {
	// MarkBudgetAlertSent records a as delivered. It reports false, and
	// changes nothing, when the same key was recorded before. Returns
	// EINVALID for an empty BudgetID or Target, a zero PeriodStart or a
	// threshold outside 1..1000.
	MarkBudgetAlertSent(ctx context.Context, a BudgetAlert) (bool, error)

	// BudgetAlertsSent returns the alerts recorded for periods that
	// start at or after since (zero for all), ordered by period start,
	// budget, threshold and target.
	BudgetAlertsSent(ctx context.Context, since time.Time) ([]BudgetAlert, error)
}

// ValidBudgetAlert returns an EINVALID error when a cannot be stored.
func ValidBudgetAlert(a BudgetAlert) error {
	switch {
	case a.BudgetID == "":
		return Errorf(EINVALID, "budget alert has no budget id")
	case a.Target == "":
		return Errorf(EINVALID, "budget alert %s has no target", a.BudgetID)
	case a.PeriodStart.IsZero():
		return Errorf(EINVALID, "budget alert %s has no period start", a.BudgetID)
	case a.Threshold < 1 || a.Threshold > 1000:
		return Errorf(EINVALID, "budget alert %s: threshold %d is not in 1..1000", a.BudgetID, a.Threshold)
	}
	return nil
}

// RateLimitHistory lists stored rate-limit samples, for estimating the
// limits behind Claude's percentages. It is optional, like RateLimitStore.
type RateLimitHistory interface {
	// RateLimitSamples returns the samples received in [since, until)
	// (zero bounds are open), oldest first, at most limit of the newest
	// when limit is positive.
	RateLimitSamples(ctx context.Context, since, until time.Time, limit int) ([]RateLimitSample, error)
}
