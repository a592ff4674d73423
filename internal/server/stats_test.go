package server_test

import (
	"math"
	"net/http"
	"slices"
	"testing"
	"time"
)

type dayJSON struct {
	Date string `json:"date"`
	agg
	SessionCount int `json:"session_count"`
}

type changeJSON struct {
	TokensChange   *float64 `json:"tokens_change"`
	CostChange     *float64 `json:"cost_change"`
	CacheHitChange *float64 `json:"cache_hit_change"`
}

// sessionsPerDay counts distinct sessions per UTC day straight from the
// parsed corpus.
func sessionsPerDay() map[string]int {
	seen := map[[2]string]bool{}
	out := map[string]int{}
	for _, r := range fixture.records {
		d := r.Timestamp.UTC().Format(time.DateOnly)
		if k := [2]string{d, r.SessionID}; !seen[k] {
			seen[k] = true
			out[d]++
		}
	}
	return out
}

func TestStats(t *testing.T) {
	h := newServer(t, nil).Handler()
	var got struct {
		Summary struct {
			agg
			SessionCount  int       `json:"session_count"`
			FirstActivity time.Time `json:"first_activity"`
			LastActivity  time.Time `json:"last_activity"`
		} `json:"summary"`
		Today      dayJSON `json:"today"`
		Yesterday  dayJSON `json:"yesterday"`
		Comparison struct {
			VsYesterday   changeJSON `json:"vs_yesterday"`
			VsLastWeekAvg changeJSON `json:"vs_last_week_avg"`
		} `json:"comparison"`
		UnpricedModels []string `json:"unpriced_models"`
	}
	get(t, h, "/api/v1/stats", &got)
	exp := fixture.expected
	checkFigures(t, "summary", got.Summary.agg, exp.Totals)
	if got.Summary.SessionCount != len(exp.Sessions) {
		t.Errorf("summary.session_count = %d, want %d", got.Summary.SessionCount, len(exp.Sessions))
	}
	if d := got.Summary.FirstActivity.UTC().Format(time.DateOnly); d != "2025-08-14" {
		t.Errorf("first_activity day = %s, want 2025-08-14", d)
	}
	if got.Today.Date != "2026-03-01" {
		t.Errorf("today.date = %s, want 2026-03-01", got.Today.Date)
	}
	checkFigures(t, "today", got.Today.agg, exp.Daily["2026-03-01"])
	if want := sessionsPerDay()["2026-03-01"]; got.Today.SessionCount != want {
		t.Errorf("today.session_count = %d, want %d", got.Today.SessionCount, want)
	}
	// Yesterday (2026-02-28) is empty: no change against a zero base.
	if c := got.Comparison.VsYesterday; c.TokensChange != nil || c.CostChange != nil || c.CacheHitChange != nil {
		t.Errorf("vs_yesterday = %+v, want every change omitted", c)
	}
	// The week before today holds only 2026-02-26.
	base := exp.Daily["2026-02-26"]
	today := exp.Daily["2026-03-01"]
	wantCost := (today.CostUSD - base.CostUSD/7) / (base.CostUSD / 7)
	wantTokens := (float64(today.total()) - float64(base.total())/7) / (float64(base.total()) / 7)
	c := got.Comparison.VsLastWeekAvg
	if c.CostChange == nil || !near(*c.CostChange, wantCost) {
		t.Errorf("vs_last_week_avg.cost_change = %v, want %v", deref(c.CostChange), wantCost)
	}
	if c.TokensChange == nil || !near(*c.TokensChange, wantTokens) {
		t.Errorf("vs_last_week_avg.tokens_change = %v, want %v", deref(c.TokensChange), wantTokens)
	}
	if c.CacheHitChange == nil {
		t.Errorf("vs_last_week_avg.cache_hit_change missing")
	}
	if got.UnpricedModels == nil || len(got.UnpricedModels) != 0 {
		t.Errorf("unpriced_models = %v, want []", got.UnpricedModels)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestStatsDaily(t *testing.T) {
	h := newServer(t, nil).Handler()
	var got struct {
		StartDate string    `json:"start_date"`
		EndDate   string    `json:"end_date"`
		Days      []dayJSON `json:"days"`
		Summary   struct {
			TotalDays  int `json:"total_days"`
			ActiveDays int `json:"active_days"`
			agg
			AvgDailyCostUSD float64 `json:"avg_daily_cost_usd"`
			SessionCount    int     `json:"session_count"`
		} `json:"summary"`
	}
	get(t, h, "/api/v1/stats/daily?start_date=2026-01-01&end_date=2026-01-10", &got)
	if len(got.Days) != 10 {
		t.Fatalf("days = %d, want 10", len(got.Days))
	}
	sessions := sessionsPerDay()
	var sum figures
	active := 0
	for i, d := range got.Days {
		want := time.Date(2026, 1, 1+i, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
		if d.Date != want {
			t.Errorf("days[%d].date = %s, want %s", i, d.Date, want)
		}
		exp := fixture.expected.Daily[d.Date]
		checkFigures(t, d.Date, d.agg, exp)
		if d.SessionCount != sessions[d.Date] {
			t.Errorf("%s session_count = %d, want %d", d.Date, d.SessionCount, sessions[d.Date])
		}
		sum = sum.add(exp)
		if exp.Entries > 0 {
			active++
		}
	}
	checkFigures(t, "summary", got.Summary.agg, sum)
	if got.Summary.TotalDays != 10 || got.Summary.ActiveDays != active {
		t.Errorf("summary days = %d/%d, want 10/%d", got.Summary.TotalDays, got.Summary.ActiveDays, active)
	}
	if !near(got.Summary.AvgDailyCostUSD, sum.CostUSD/10) {
		t.Errorf("avg_daily_cost_usd = %v, want %v", got.Summary.AvgDailyCostUSD, sum.CostUSD/10)
	}

	t.Run("default is the last 7 days", func(t *testing.T) {
		get(t, h, "/api/v1/stats/daily", &got)
		if len(got.Days) != 7 || got.StartDate != "2026-02-23" || got.EndDate != "2026-03-01" {
			t.Errorf("default range = %s..%s (%d days), want 2026-02-23..2026-03-01 (7)", got.StartDate, got.EndDate, len(got.Days))
		}
	})
	t.Run("start only runs to today", func(t *testing.T) {
		get(t, h, "/api/v1/stats/daily?start_date=2026-02-26", &got)
		if len(got.Days) != 4 || got.EndDate != "2026-03-01" {
			t.Errorf("range = %s..%s (%d days), want ..2026-03-01 (4)", got.StartDate, got.EndDate, len(got.Days))
		}
	})
	t.Run("end only covers 7 days", func(t *testing.T) {
		get(t, h, "/api/v1/stats/daily?end_date=2026-01-07", &got)
		if got.StartDate != "2026-01-01" || len(got.Days) != 7 {
			t.Errorf("range = %s..%s, want 2026-01-01..2026-01-07", got.StartDate, got.EndDate)
		}
	})
	t.Run("years 1 and 9999 are real bounds", func(t *testing.T) {
		// 0001-01-01 in UTC is Go's zero time; it must still be a bound,
		// never "no start" (which made 0001..9999 a 3.65M-day answer).
		get(t, h, "/api/v1/stats/daily?start_date=0001-01-01&end_date=0001-01-03", &got)
		if got.StartDate != "0001-01-01" || got.EndDate != "0001-01-03" || len(got.Days) != 3 {
			t.Errorf("range = %q..%q (%d days), want 0001-01-01..0001-01-03 (3)", got.StartDate, got.EndDate, len(got.Days))
		}
		get(t, h, "/api/v1/stats/daily?start_date=9999-12-29&end_date=9999-12-31", &got)
		if got.StartDate != "9999-12-29" || got.EndDate != "9999-12-31" || len(got.Days) != 3 {
			t.Errorf("range = %q..%q (%d days), want 9999-12-29..9999-12-31 (3)", got.StartDate, got.EndDate, len(got.Days))
		}
		for _, target := range []string{
			"/api/v1/stats/daily?start_date=0001-01-01&end_date=9999-12-31",
			"/api/v1/stats/daily?start_date=0001-01-01",
			"/api/v1/stats/daily?start_date=0001-01-01&end_date=2026-01-01",
		} {
			r := do(t, h, http.MethodGet, target, nil)
			wantError(t, r, http.StatusBadRequest, "INVALID_PARAMS", "start_date", "3660 days")
		}
	})
	t.Run("time zone moves records across days", func(t *testing.T) {
		tokyo, err := time.LoadLocation("Asia/Tokyo")
		if err != nil {
			t.Skip("no tzdata:", err)
		}
		h := newServer(t, func(o *options) { o.Location = tokyo }).Handler()
		get(t, h, "/api/v1/stats/daily?start_date=2025-08-01&end_date=2026-03-31", &got)
		var entries int64
		for _, d := range got.Days {
			entries += d.Entries
		}
		// Every view adds up to the same totals in any zone.
		if entries != fixture.expected.Totals.Entries {
			t.Errorf("entries over all days in Tokyo = %d, want %d", entries, fixture.expected.Totals.Entries)
		}
	})
}

func TestStatsModels(t *testing.T) {
	h := newServer(t, nil).Handler()
	type modelJSON struct {
		Model       string `json:"model"`
		DisplayName string `json:"display_name"`
		agg
		UsagePercentage float64 `json:"usage_percentage"`
		CostPercentage  float64 `json:"cost_percentage"`
	}
	var got struct {
		Period string      `json:"period"`
		Models []modelJSON `json:"models"`
		Totals agg         `json:"totals"`
	}
	get(t, h, "/api/v1/stats/models?period=all", &got)
	if len(got.Models) != len(fixture.expected.Models) {
		t.Fatalf("models = %d, want %d", len(got.Models), len(fixture.expected.Models))
	}
	var usagePct, costPct float64
	for _, m := range got.Models {
		want, ok := fixture.expected.Models[m.Model]
		if !ok {
			t.Errorf("unexpected model %q", m.Model)
			continue
		}
		checkFigures(t, m.Model, m.agg, want)
		if m.DisplayName == "" {
			t.Errorf("%s: empty display_name", m.Model)
		}
		usagePct += m.UsagePercentage
		costPct += m.CostPercentage
	}
	if math.Abs(usagePct-100) > 1e-9 || math.Abs(costPct-100) > 1e-9 {
		t.Errorf("percentages sum to %v and %v, want 100", usagePct, costPct)
	}
	checkFigures(t, "totals", got.Totals, fixture.expected.Totals)
	if !slices.IsSortedFunc(got.Models, func(a, b modelJSON) int {
		return -compareFloat(a.CostUSD, b.CostUSD)
	}) {
		t.Errorf("models are not ordered by cost, highest first")
	}

	// The default period is the last 30 days: 2026-01-31..2026-03-01.
	get(t, h, "/api/v1/stats/models", &got)
	var want figures
	for d, f := range fixture.expected.Daily {
		if d >= "2026-01-31" {
			want = want.add(f)
		}
	}
	if got.Period != "30d" {
		t.Errorf("default period = %q, want 30d", got.Period)
	}
	checkFigures(t, "30d totals", got.Totals, want)
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestStatsTrends(t *testing.T) {
	h := newServer(t, nil).Handler()
	type trends struct {
		Granularity string   `json:"granularity"`
		Metrics     []string `json:"metrics"`
		Series      struct {
			Labels  []string `json:"labels"`
			Entries []int64  `json:"entries"`
			Tokens  *struct {
				Total []int64 `json:"total_tokens"`
			} `json:"tokens"`
			CostUSD      []float64 `json:"cost_usd"`
			CacheHitRate []float64 `json:"cache_hit_rate"`
		} `json:"series"`
		Statistics struct {
			Tokens *struct {
				Min, Max, Avg, Total float64
			} `json:"total_tokens"`
			CostUSD *struct {
				Total float64 `json:"total"`
			} `json:"cost_usd"`
		} `json:"statistics"`
	}
	var got trends
	get(t, h, "/api/v1/stats/trends?period=all&granularity=month", &got)
	wantLabels := []string{"2025-08", "2025-09", "2025-10", "2025-11", "2025-12", "2026-01", "2026-02", "2026-03"}
	if !slices.Equal(got.Series.Labels, wantLabels) {
		t.Fatalf("labels = %v, want %v", got.Series.Labels, wantLabels)
	}
	months := map[string]figures{}
	for d, f := range fixture.expected.Daily {
		months[d[:7]] = months[d[:7]].add(f)
	}
	for i, l := range wantLabels {
		if got.Series.Entries[i] != months[l].Entries {
			t.Errorf("%s entries = %d, want %d", l, got.Series.Entries[i], months[l].Entries)
		}
		if got.Series.Tokens.Total[i] != months[l].total() {
			t.Errorf("%s total_tokens = %d, want %d", l, got.Series.Tokens.Total[i], months[l].total())
		}
		if !near(got.Series.CostUSD[i], months[l].CostUSD) {
			t.Errorf("%s cost_usd = %v, want %v", l, got.Series.CostUSD[i], months[l].CostUSD)
		}
	}
	if st := got.Statistics.Tokens; st == nil || st.Min != 0 || st.Total != float64(fixture.expected.Totals.total()) {
		t.Errorf("token statistics = %+v, want min 0 and total %d", st, fixture.expected.Totals.total())
	}

	t.Run("metrics selects series", func(t *testing.T) {
		var got trends
		get(t, h, "/api/v1/stats/trends?metrics=cost&granularity=hour&period=7d", &got)
		if got.Series.Tokens != nil || got.Series.CacheHitRate != nil || got.Statistics.Tokens != nil {
			t.Errorf("metrics=cost returned token or cache series")
		}
		if len(got.Series.Labels) != 7*24 || len(got.Series.CostUSD) != 7*24 {
			t.Errorf("hour points = %d/%d, want 168", len(got.Series.Labels), len(got.Series.CostUSD))
		}
		if !slices.Equal(got.Metrics, []string{"cost"}) {
			t.Errorf("metrics = %v, want [cost]", got.Metrics)
		}
		if !near(got.Statistics.CostUSD.Total, fixture.expected.Daily["2026-02-26"].CostUSD+fixture.expected.Daily["2026-03-01"].CostUSD) {
			t.Errorf("7d cost total = %v", got.Statistics.CostUSD.Total)
		}
	})
	t.Run("weeks start on Monday", func(t *testing.T) {
		var got trends
		get(t, h, "/api/v1/stats/trends?granularity=week&period=30d", &got)
		for _, l := range got.Series.Labels {
			d, err := time.Parse(time.DateOnly, l)
			if err != nil || d.Weekday() != time.Monday {
				t.Errorf("week label %q is not a Monday", l)
			}
		}
	})
}

func TestStatsActivity(t *testing.T) {
	h := newServer(t, nil).Handler()
	var got struct {
		Heatmap struct {
			Days        []string  `json:"days"`
			Entries     [][]int64 `json:"entries"`
			TotalTokens [][]int64 `json:"total_tokens"`
		} `json:"heatmap"`
		PeakHours []struct {
			Hour    int   `json:"hour"`
			Entries int64 `json:"entries"`
		} `json:"peak_hours"`
		Summary struct {
			Entries        int64   `json:"entries"`
			SessionCount   int     `json:"session_count"`
			MostActiveDay  *string `json:"most_active_day"`
			MostActiveHour *int    `json:"most_active_hour"`
		} `json:"summary"`
	}
	get(t, h, "/api/v1/stats/activity?period=all", &got)
	var want [7][24]int64
	hours := [24]int64{}
	for _, r := range fixture.records {
		ts := r.Timestamp.UTC()
		want[(int(ts.Weekday())+6)%7][ts.Hour()]++
		hours[ts.Hour()]++
	}
	for d := range 7 {
		for hr := range 24 {
			if got.Heatmap.Entries[d][hr] != want[d][hr] {
				t.Errorf("%s %02d:00 entries = %d, want %d", got.Heatmap.Days[d], hr, got.Heatmap.Entries[d][hr], want[d][hr])
			}
		}
	}
	if got.Summary.Entries != fixture.expected.Totals.Entries || got.Summary.SessionCount != len(fixture.expected.Sessions) {
		t.Errorf("summary = %+v", got.Summary)
	}
	best := 0
	for hr := range hours {
		if hours[hr] > hours[best] {
			best = hr
		}
	}
	if got.Summary.MostActiveHour == nil || *got.Summary.MostActiveHour != best {
		t.Errorf("most_active_hour = %v, want %d", got.Summary.MostActiveHour, best)
	}
	if len(got.PeakHours) != 3 || got.PeakHours[0].Hour != best || got.PeakHours[0].Entries != hours[best] {
		t.Errorf("peak_hours = %+v, want 3 starting with hour %d (%d)", got.PeakHours, best, hours[best])
	}

	// 2026-02-23..03-01 in UTC: only Thursday 26 and Sunday 1 have records.
	get(t, h, "/api/v1/stats/activity", &got)
	wantDays := fixture.expected.Daily["2026-02-26"].Entries + fixture.expected.Daily["2026-03-01"].Entries
	if got.Summary.Entries != wantDays {
		t.Errorf("7d entries = %d, want %d", got.Summary.Entries, wantDays)
	}
	if got.Summary.MostActiveDay == nil || *got.Summary.MostActiveDay != "Sun" {
		t.Errorf("most_active_day = %v, want Sun", got.Summary.MostActiveDay)
	}

	// Dates choose the days, like the other panels of the dashboard.
	var dated struct {
		Period    string `json:"period"`
		StartDate string `json:"start_date"`
		EndDate   string `json:"end_date"`
		Summary   struct {
			Entries int64 `json:"entries"`
		} `json:"summary"`
	}
	get(t, h, "/api/v1/stats/activity?period=7d&start_date=2026-02-05&end_date=2026-02-07", &dated)
	wantDated := fixture.expected.Daily["2026-02-05"].Entries + fixture.expected.Daily["2026-02-06"].Entries + fixture.expected.Daily["2026-02-07"].Entries
	if dated.Period != "custom" || dated.StartDate != "2026-02-05" || dated.EndDate != "2026-02-07" || dated.Summary.Entries != wantDated {
		t.Errorf("dated activity = %+v, want custom 2026-02-05..07 with %d entries", dated, wantDated)
	}
	r := do(t, h, http.MethodGet, "/api/v1/stats/activity?start_date=2026-02-30", nil)
	wantError(t, r, http.StatusBadRequest, "INVALID_PARAMS", "start_date")

	t.Run("empty period", func(t *testing.T) {
		h := newServer(t, func(o *options) {
			o.Now = func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }
		}).Handler()
		got.Summary.MostActiveDay, got.Summary.MostActiveHour, got.PeakHours = nil, nil, nil
		get(t, h, "/api/v1/stats/activity", &got)
		if got.Summary.Entries != 0 || got.Summary.MostActiveDay != nil || len(got.PeakHours) != 0 {
			t.Errorf("empty period summary = %+v, peaks %v", got.Summary, got.PeakHours)
		}
	})
}
