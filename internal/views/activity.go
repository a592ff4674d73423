package views

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// weekdays are the heatmap rows, Monday first.
var weekdays = []string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

// Heatmap is a weekday × hour grid; rows follow Days, columns Hours.
type Heatmap struct {
	Days        []string  `json:"days"`
	Hours       []int     `json:"hours"`
	Entries     [][]int64 `json:"entries"`
	TotalTokens [][]int64 `json:"total_tokens"`
}

// PeakHour is one of the busiest hours of the day, over all weekdays.
type PeakHour struct {
	Hour        int   `json:"hour"`
	Entries     int64 `json:"entries"`
	TotalTokens int64 `json:"total_tokens"`
}

// ActivitySummary sums the heatmap.
type ActivitySummary struct {
	Entries        int64   `json:"entries"`
	TotalTokens    int64   `json:"total_tokens"`
	SessionCount   int     `json:"session_count"`
	MostActiveDay  *string `json:"most_active_day,omitempty"`
	MostActiveHour *int    `json:"most_active_hour,omitempty"`
}

// Activity is when usage happens: a weekday × hour heatmap of a span.
type Activity struct {
	// Period is "custom" when start_date or end_date chose the days.
	Period    string          `json:"period" enum:"7d,30d,90d,all,custom"`
	StartDate string          `json:"start_date"`
	EndDate   string          `json:"end_date"`
	Timezone  string          `json:"timezone"`
	Heatmap   Heatmap         `json:"heatmap"`
	PeakHours []PeakHour      `json:"peak_hours"`
	Summary   ActivitySummary `json:"summary"`
}

// cellKey labels a quarter-hour bucket with its local weekday (Monday 0)
// and hour; quarter hours fall wholly inside one local hour.
func (v *Views) cellKey(b *usage.Bucket) string {
	t := b.Time.In(v.loc())
	return fmt.Sprintf("%d:%d", (int(t.Weekday())+6)%7, t.Hour())
}

// Activity returns the weekday × hour heatmap of sp with its busiest
// hours; period names sp in the result ("custom" for chosen days).
func (v *Views) Activity(ctx context.Context, period string, sp Span) (Activity, error) {
	rep, err := v.rollup(ctx, sp.Filter(), usage.ByQuarterHour, v.cellKey)
	if err != nil {
		return Activity{}, err
	}
	sessions, err := v.SessionCount(ctx, sp.Filter())
	if err != nil {
		return Activity{}, err
	}
	hm := Heatmap{Days: weekdays, Hours: make([]int, 24), Entries: make([][]int64, 7), TotalTokens: make([][]int64, 7)}
	for h := range hm.Hours {
		hm.Hours[h] = h
	}
	dayEntries := make([]int64, 7)
	hours := make([]PeakHour, 24)
	for d := range 7 {
		hm.Entries[d] = make([]int64, 24)
		hm.TotalTokens[d] = make([]int64, 24)
	}
	for h := range hours {
		hours[h].Hour = h
	}
	for _, g := range rep.Groups {
		var d, h int
		if _, err := fmt.Sscanf(g.Key, "%d:%d", &d, &h); err != nil || d < 0 || d > 6 || h < 0 || h > 23 {
			continue // cannot happen: cellKey wrote the key
		}
		hm.Entries[d][h] = g.Entries
		hm.TotalTokens[d][h] = g.TotalTokens
		dayEntries[d] += g.Entries
		hours[h].Entries += g.Entries
		hours[h].TotalTokens = usage.SatAdd(hours[h].TotalTokens, g.TotalTokens)
	}
	resp := Activity{
		Period:    period,
		StartDate: sp.StartDate,
		EndDate:   sp.EndDate,
		Timezone:  v.loc().String(),
		Heatmap:   hm,
		PeakHours: []PeakHour{},
		Summary: ActivitySummary{
			Entries:      rep.Totals.Entries,
			TotalTokens:  rep.Totals.TotalTokens,
			SessionCount: sessions,
		},
	}
	if rep.Totals.Entries > 0 {
		best := 0
		for d := range dayEntries {
			if dayEntries[d] > dayEntries[best] {
				best = d
			}
		}
		resp.Summary.MostActiveDay = &weekdays[best]
		ranked := slices.Clone(hours)
		slices.SortStableFunc(ranked, func(a, b PeakHour) int { return cmp.Compare(b.Entries, a.Entries) })
		resp.Summary.MostActiveHour = &ranked[0].Hour
		for _, h := range ranked[:3] {
			if h.Entries > 0 {
				resp.PeakHours = append(resp.PeakHours, h)
			}
		}
	}
	return resp, nil
}
