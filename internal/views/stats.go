package views

import (
	"context"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// Span is a half-open range of instants [From, To) with its inclusive
// calendar dates in the views' zone. A zero From or To is open.
type Span struct {
	From, To           time.Time
	StartDate, EndDate string
}

// Filter returns the usage filter that selects the span.
func (sp Span) Filter() usage.Filter { return usage.Filter{Since: sp.From, Until: sp.To} }

// SummaryStats is the all-time summary of the stats view.
type SummaryStats struct {
	usage.Aggregate
	SessionCount  int        `json:"session_count"`
	FirstActivity *time.Time `json:"first_activity,omitempty"`
	LastActivity  *time.Time `json:"last_activity,omitempty"`
}

// DayStats is one calendar day's figures.
type DayStats struct {
	Date string `json:"date"`
	usage.Aggregate
	SessionCount int `json:"session_count"`
}

// Change holds fractional changes, e.g. 0.12 for +12%. A change whose base
// is 0 is left out: it has no meaningful value.
type Change struct {
	TokensChange   *float64 `json:"tokens_change,omitempty"`
	CostChange     *float64 `json:"cost_change,omitempty"`
	CacheHitChange *float64 `json:"cache_hit_change,omitempty"`
}

// Comparison compares today with yesterday and with the daily average of
// the seven days before today.
type Comparison struct {
	VsYesterday   Change `json:"vs_yesterday"`
	VsLastWeekAvg Change `json:"vs_last_week_avg"`
}

// Stats is the summary view: all time, today, yesterday and how today
// compares. It is the body of GET /stats and of stats_update messages.
type Stats struct {
	Summary        SummaryStats `json:"summary"`
	Today          DayStats     `json:"today"`
	Yesterday      DayStats     `json:"yesterday"`
	Comparison     Comparison   `json:"comparison"`
	Timezone       string       `json:"timezone"`
	UnpricedModels []string     `json:"unpriced_models"`
}

// Stats returns the summary view at the current time.
func (v *Views) Stats(ctx context.Context) (Stats, error) {
	all, err := v.rollup(ctx, usage.Filter{}, usage.ByNothing, byNothing)
	if err != nil {
		return Stats{}, err
	}
	sessions, err := v.SessionCount(ctx, usage.Filter{})
	if err != nil {
		return Stats{}, err
	}
	today := v.Today()
	weekAgo := today.AddDate(0, 0, -7)
	tomorrow := today.AddDate(0, 0, 1)
	recent, err := v.rollup(ctx, usage.Filter{Since: weekAgo, Until: tomorrow}, usage.ByQuarterHour, usage.Day.KeyFunc(v.loc()))
	if err != nil {
		return Stats{}, err
	}
	days := groupMap(recent)
	dayAgg := func(d time.Time) usage.Aggregate {
		if g := days[d.Format(time.DateOnly)]; g != nil {
			return g.Aggregate
		}
		return usage.Aggregate{}
	}
	todaySessions, err := v.SessionCount(ctx, usage.Filter{Since: today, Until: tomorrow})
	if err != nil {
		return Stats{}, err
	}
	yesterday := today.AddDate(0, 0, -1)
	yesterdaySessions, err := v.SessionCount(ctx, usage.Filter{Since: yesterday, Until: today})
	if err != nil {
		return Stats{}, err
	}
	var week usage.Tokens
	var weekCost usage.Money
	for d := weekAgo; d.Before(today); d = d.AddDate(0, 0, 1) {
		a := dayAgg(d)
		week = week.Add(a.Tokens)
		weekCost = weekCost.Add(a.CostUSD)
	}
	t := dayAgg(today)
	y := dayAgg(yesterday)
	return Stats{
		Summary: SummaryStats{
			Aggregate:     all.Totals.Aggregate,
			SessionCount:  sessions,
			FirstActivity: v.timeOrNil(all.Totals.First),
			LastActivity:  v.timeOrNil(all.Totals.Last),
		},
		Today:     DayStats{Date: today.Format(time.DateOnly), Aggregate: t, SessionCount: todaySessions},
		Yesterday: DayStats{Date: yesterday.Format(time.DateOnly), Aggregate: y, SessionCount: yesterdaySessions},
		Comparison: Comparison{
			VsYesterday: Change{
				TokensChange:   fractionalChange(float64(t.TotalTokens), float64(y.TotalTokens)),
				CostChange:     fractionalChange(t.CostUSD.USD(), y.CostUSD.USD()),
				CacheHitChange: fractionalChange(t.CacheHitRate, y.CacheHitRate),
			},
			VsLastWeekAvg: Change{
				TokensChange:   fractionalChange(float64(t.TotalTokens), float64(week.Total())/7),
				CostChange:     fractionalChange(t.CostUSD.USD(), weekCost.USD()/7),
				CacheHitChange: fractionalChange(t.CacheHitRate, week.CacheHitRate()),
			},
		},
		Timezone:       v.loc().String(),
		UnpricedModels: nonNil(all.Unpriced),
	}, nil
}

// fractionalChange returns (cur - base) / base, or nil when base is 0.
func fractionalChange(cur, base float64) *float64 {
	if base == 0 {
		return nil
	}
	c := (cur - base) / base
	return &c
}

// DailySummary sums the days of a Daily view.
type DailySummary struct {
	TotalDays  int `json:"total_days"`
	ActiveDays int `json:"active_days"`
	usage.Aggregate
	SessionCount     int     `json:"session_count"`
	AvgDailyTokens   float64 `json:"avg_daily_tokens"`
	AvgDailyCostUSD  float64 `json:"avg_daily_cost_usd"`
	AvgDailyEntries  float64 `json:"avg_daily_entries"`
	AvgActiveDayCost float64 `json:"avg_active_day_cost_usd"`
}

// Daily is every calendar day of a span, days without usage included.
type Daily struct {
	StartDate      string       `json:"start_date"`
	EndDate        string       `json:"end_date"`
	Timezone       string       `json:"timezone"`
	Days           []DayStats   `json:"days"`
	Summary        DailySummary `json:"summary"`
	UnpricedModels []string     `json:"unpriced_models"`
}

// Daily returns the days of sp, which must be bounded by local midnights.
func (v *Views) Daily(ctx context.Context, sp Span) (Daily, error) {
	rep, err := v.rollup(ctx, sp.Filter(), usage.ByQuarterHour, usage.Day.KeyFunc(v.loc()))
	if err != nil {
		return Daily{}, err
	}
	counts, sessions, err := v.SessionCounts(ctx, sp.Filter(), usage.Day)
	if err != nil {
		return Daily{}, err
	}
	groups := groupMap(rep)
	resp := Daily{
		StartDate:      sp.StartDate,
		EndDate:        sp.EndDate,
		Timezone:       v.loc().String(),
		Days:           []DayStats{},
		UnpricedModels: nonNil(rep.Unpriced),
	}
	for d := sp.From; d.Before(sp.To); d = d.AddDate(0, 0, 1) {
		label := d.Format(time.DateOnly)
		day := DayStats{Date: label, SessionCount: counts[label]}
		if g := groups[label]; g != nil {
			day.Aggregate = g.Aggregate
			resp.Summary.ActiveDays++
		}
		resp.Days = append(resp.Days, day)
	}
	sum := &resp.Summary
	sum.TotalDays = len(resp.Days)
	sum.Aggregate = rep.Totals.Aggregate
	sum.SessionCount = sessions
	if n := float64(sum.TotalDays); n > 0 {
		sum.AvgDailyTokens = float64(sum.TotalTokens) / n
		sum.AvgDailyCostUSD = sum.CostUSD.USD() / n
		sum.AvgDailyEntries = float64(sum.Entries) / n
	}
	if sum.ActiveDays > 0 {
		sum.AvgActiveDayCost = sum.CostUSD.USD() / float64(sum.ActiveDays)
	}
	return resp, nil
}
