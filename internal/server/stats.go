package server

import (
	"net/http"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// summaryStats is the all-time summary of /stats.
type summaryStats struct {
	usage.Aggregate
	SessionCount  int        `json:"session_count"`
	FirstActivity *time.Time `json:"first_activity,omitempty"`
	LastActivity  *time.Time `json:"last_activity,omitempty"`
}

// dayStats is one calendar day's figures.
type dayStats struct {
	Date string `json:"date"`
	usage.Aggregate
	SessionCount int `json:"session_count"`
}

// change holds fractional changes, e.g. 0.12 for +12%. A change whose base
// is 0 is left out: it has no meaningful value.
type change struct {
	TokensChange   *float64 `json:"tokens_change,omitempty"`
	CostChange     *float64 `json:"cost_change,omitempty"`
	CacheHitChange *float64 `json:"cache_hit_change,omitempty"`
}

// comparison compares today with yesterday and with the daily average of
// the seven days before today.
type comparison struct {
	VsYesterday   change `json:"vs_yesterday"`
	VsLastWeekAvg change `json:"vs_last_week_avg"`
}

// statsResponse is the body of GET /stats.
type statsResponse struct {
	Summary        summaryStats `json:"summary"`
	Today          dayStats     `json:"today"`
	Yesterday      dayStats     `json:"yesterday"`
	Comparison     comparison   `json:"comparison"`
	Timezone       string       `json:"timezone"`
	UnpricedModels []string     `json:"unpriced_models"`
}

func (s *Server) handleStats(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	all, err := s.rollup(ctx, usage.Filter{}, usage.ByNothing, byNothing)
	if err != nil {
		writeError(w, r, err)
		return
	}
	sessions, err := s.sessionCount(ctx, usage.Filter{})
	if err != nil {
		writeError(w, r, err)
		return
	}
	today := s.today()
	weekAgo := today.AddDate(0, 0, -7)
	tomorrow := today.AddDate(0, 0, 1)
	recent, err := s.rollup(ctx, usage.Filter{Since: weekAgo, Until: tomorrow}, usage.ByQuarterHour, usage.Day.KeyFunc(s.opts.Location))
	if err != nil {
		writeError(w, r, err)
		return
	}
	days := groupMap(recent)
	dayAgg := func(d time.Time) usage.Aggregate {
		if g := days[d.Format(time.DateOnly)]; g != nil {
			return g.Aggregate
		}
		return usage.Aggregate{}
	}
	todaySessions, err := s.sessionCount(ctx, usage.Filter{Since: today, Until: tomorrow})
	if err != nil {
		writeError(w, r, err)
		return
	}
	yesterday := today.AddDate(0, 0, -1)
	yesterdaySessions, err := s.sessionCount(ctx, usage.Filter{Since: yesterday, Until: today})
	if err != nil {
		writeError(w, r, err)
		return
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
	resp := statsResponse{
		Summary: summaryStats{
			Aggregate:     all.Totals.Aggregate,
			SessionCount:  sessions,
			FirstActivity: s.timeOrNil(all.Totals.First),
			LastActivity:  s.timeOrNil(all.Totals.Last),
		},
		Today:     dayStats{Date: today.Format(time.DateOnly), Aggregate: t, SessionCount: todaySessions},
		Yesterday: dayStats{Date: yesterday.Format(time.DateOnly), Aggregate: y, SessionCount: yesterdaySessions},
		Comparison: comparison{
			VsYesterday: change{
				TokensChange:   fractionalChange(float64(t.TotalTokens), float64(y.TotalTokens)),
				CostChange:     fractionalChange(t.CostUSD.USD(), y.CostUSD.USD()),
				CacheHitChange: fractionalChange(t.CacheHitRate, y.CacheHitRate),
			},
			VsLastWeekAvg: change{
				TokensChange:   fractionalChange(float64(t.TotalTokens), float64(week.Total())/7),
				CostChange:     fractionalChange(t.CostUSD.USD(), weekCost.USD()/7),
				CacheHitChange: fractionalChange(t.CacheHitRate, week.CacheHitRate()),
			},
		},
		Timezone:       s.opts.Location.String(),
		UnpricedModels: unpriced(all),
	}
	writeJSON(w, r, resp)
}

// fractionalChange returns (cur - base) / base, or nil when base is 0.
func fractionalChange(cur, base float64) *float64 {
	if base == 0 {
		return nil
	}
	c := (cur - base) / base
	return &c
}

// modelStats is one model's share of a period.
type modelStats struct {
	Model       string `json:"model"`
	DisplayName string `json:"display_name"`
	usage.Aggregate
	// UsagePercentage and CostPercentage are shares of the period's
	// total_tokens and cost_usd, 0..100.
	UsagePercentage float64 `json:"usage_percentage"`
	CostPercentage  float64 `json:"cost_percentage"`
	Priced          bool    `json:"priced"`
}

// modelsResponse is the body of GET /stats/models.
type modelsResponse struct {
	Period         string          `json:"period" enum:"7d,30d,90d,all"`
	StartDate      string          `json:"start_date"`
	EndDate        string          `json:"end_date"`
	Models         []modelStats    `json:"models"`
	Totals         usage.Aggregate `json:"totals"`
	UnpricedModels []string        `json:"unpriced_models"`
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	period, sp, err := s.periodSpan(ctx, r.URL.Query(), "30d")
	if err != nil {
		writeError(w, r, err)
		return
	}
	rep, err := s.rollup(ctx, sp.filter(), usage.ByNothing, byNothing)
	if err != nil {
		writeError(w, r, err)
		return
	}
	tot := rep.Totals.Aggregate
	models := make([]modelStats, 0, len(rep.Totals.Models))
	for _, m := range rep.Totals.Models {
		models = append(models, modelStats{
			Model:           m.Model,
			DisplayName:     s.opts.DisplayName(m.Model),
			Aggregate:       m.Aggregate,
			UsagePercentage: percentage(float64(m.TotalTokens), float64(tot.TotalTokens)),
			CostPercentage:  percentage(m.CostUSD.USD(), tot.CostUSD.USD()),
			Priced:          !containsString(rep.Unpriced, m.Model),
		})
	}
	writeJSON(w, r, modelsResponse{
		Period:         period,
		StartDate:      sp.startDate,
		EndDate:        sp.endDate,
		Models:         models,
		Totals:         tot,
		UnpricedModels: unpriced(rep),
	})
}

func percentage(part, whole float64) float64 {
	if whole == 0 {
		return 0
	}
	return part / whole * 100
}

func containsString(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// dailySummary sums a day range.
type dailySummary struct {
	TotalDays  int `json:"total_days"`
	ActiveDays int `json:"active_days"`
	usage.Aggregate
	SessionCount     int     `json:"session_count"`
	AvgDailyTokens   float64 `json:"avg_daily_tokens"`
	AvgDailyCostUSD  float64 `json:"avg_daily_cost_usd"`
	AvgDailyEntries  float64 `json:"avg_daily_entries"`
	AvgActiveDayCost float64 `json:"avg_active_day_cost_usd"`
}

// dailyResponse is the body of GET /stats/daily.
type dailyResponse struct {
	StartDate      string       `json:"start_date"`
	EndDate        string       `json:"end_date"`
	Timezone       string       `json:"timezone"`
	Days           []dayStats   `json:"days"`
	Summary        dailySummary `json:"summary"`
	UnpricedModels []string     `json:"unpriced_models"`
}

func (s *Server) handleDaily(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	sp, err := s.dateSpan(q.Get("start_date"), q.Get("end_date"), 7)
	if err != nil {
		writeError(w, r, err)
		return
	}
	rep, err := s.rollup(ctx, sp.filter(), usage.ByQuarterHour, usage.Day.KeyFunc(s.opts.Location))
	if err != nil {
		writeError(w, r, err)
		return
	}
	counts, sessions, err := s.sessionCounts(ctx, sp.filter(), usage.Day)
	if err != nil {
		writeError(w, r, err)
		return
	}
	groups := groupMap(rep)
	resp := dailyResponse{
		StartDate:      sp.startDate,
		EndDate:        sp.endDate,
		Timezone:       s.opts.Location.String(),
		Days:           []dayStats{},
		UnpricedModels: unpriced(rep),
	}
	for d := sp.from; d.Before(sp.to); d = d.AddDate(0, 0, 1) {
		label := d.Format(time.DateOnly)
		day := dayStats{Date: label, SessionCount: counts[label]}
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
	writeJSON(w, r, resp)
}

// tokenSeries holds one value per label for each token kind.
type tokenSeries struct {
	Input         []int64 `json:"input_tokens"`
	Output        []int64 `json:"output_tokens"`
	CacheCreation []int64 `json:"cache_creation_tokens"`
	CacheRead     []int64 `json:"cache_read_tokens"`
	Total         []int64 `json:"total_tokens"`
}

// trendSeries is the chart data of /stats/trends; series that were not
// requested through metrics are left out.
type trendSeries struct {
	Labels       []string      `json:"labels"`
	Entries      []int64       `json:"entries"`
	Tokens       *tokenSeries  `json:"tokens,omitempty"`
	CostUSD      []usage.Money `json:"cost_usd,omitempty"`
	CacheHitRate []float64     `json:"cache_hit_rate,omitempty"`
}

// stat summarises a series.
type stat struct {
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	Avg   float64 `json:"avg"`
	Total float64 `json:"total"`
	n     int
}

// rateStat summarises a rate series: min and max over points with
// traffic, avg is the rate of the whole period.
type rateStat struct {
	Min float64 `json:"min"`
	Max float64 `json:"max"`
	Avg float64 `json:"avg"`
}

// trendStatistics summarises the requested series.
type trendStatistics struct {
	Tokens       *stat     `json:"total_tokens,omitempty"`
	CostUSD      *stat     `json:"cost_usd,omitempty"`
	CacheHitRate *rateStat `json:"cache_hit_rate,omitempty"`
}

// trendsResponse is the body of GET /stats/trends.
type trendsResponse struct {
	Period         string          `json:"period" enum:"7d,30d,90d,all"`
	Granularity    string          `json:"granularity" enum:"hour,day,week,month"`
	Metrics        []string        `json:"metrics"`
	Timezone       string          `json:"timezone"`
	Series         trendSeries     `json:"series"`
	Statistics     trendStatistics `json:"statistics"`
	UnpricedModels []string        `json:"unpriced_models"`
}

// maxTrendPoints bounds the number of points of one trend.
const maxTrendPoints = 10000

// trendMetrics are the values of the metrics parameter besides "all".
var trendMetrics = []string{"tokens", "cost", "cache_hit"}

func (s *Server) handleTrends(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	period, sp, err := s.periodSpan(ctx, q, "7d")
	if err != nil {
		writeError(w, r, err)
		return
	}
	gran, err := enumParam(q, "granularity", "day", "hour", "day", "week", "month")
	if err != nil {
		writeError(w, r, err)
		return
	}
	metrics, err := parseMetrics(q.Get("metrics"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	p := usage.Period(gran)
	var starts []time.Time
	for t := p.Start(sp.from); t.Before(sp.to); t = p.Next(t) {
		if len(starts) == maxTrendPoints {
			writeError(w, r, invalid("granularity: %s over period %s gives more than %d points", gran, period, maxTrendPoints))
			return
		}
		starts = append(starts, t)
	}
	rep, err := s.rollup(ctx, sp.filter(), usage.ByQuarterHour, p.KeyFunc(s.opts.Location))
	if err != nil {
		writeError(w, r, err)
		return
	}
	groups := groupMap(rep)
	want := map[string]bool{}
	for _, m := range metrics {
		want[m] = true
	}
	resp := trendsResponse{
		Period:         period,
		Granularity:    gran,
		Metrics:        metrics,
		Timezone:       s.opts.Location.String(),
		Series:         trendSeries{Labels: []string{}, Entries: []int64{}},
		UnpricedModels: unpriced(rep),
	}
	ser := &resp.Series
	if want["tokens"] {
		ser.Tokens = &tokenSeries{Input: []int64{}, Output: []int64{}, CacheCreation: []int64{}, CacheRead: []int64{}, Total: []int64{}}
	}
	if want["cost"] {
		ser.CostUSD = []usage.Money{}
	}
	if want["cache_hit"] {
		ser.CacheHitRate = []float64{}
	}
	tokStat, costStat, hitStat := newStat(), newStat(), &rateStat{}
	activeRates := 0
	for _, t := range starts {
		label := p.Label(t, s.opts.Location)
		var a usage.Aggregate
		if g := groups[label]; g != nil {
			a = g.Aggregate
		}
		ser.Labels = append(ser.Labels, label)
		ser.Entries = append(ser.Entries, a.Entries)
		if ser.Tokens != nil {
			ser.Tokens.Input = append(ser.Tokens.Input, a.Input)
			ser.Tokens.Output = append(ser.Tokens.Output, a.Output)
			ser.Tokens.CacheCreation = append(ser.Tokens.CacheCreation, a.CacheCreationTokens)
			ser.Tokens.CacheRead = append(ser.Tokens.CacheRead, a.CacheRead)
			ser.Tokens.Total = append(ser.Tokens.Total, a.TotalTokens)
		}
		if ser.CostUSD != nil {
			ser.CostUSD = append(ser.CostUSD, a.CostUSD)
		}
		if ser.CacheHitRate != nil {
			ser.CacheHitRate = append(ser.CacheHitRate, a.CacheHitRate)
		}
		tokStat.add(float64(a.TotalTokens))
		costStat.add(a.CostUSD.USD())
		if a.Prompt() > 0 {
			if activeRates == 0 || a.CacheHitRate < hitStat.Min {
				hitStat.Min = a.CacheHitRate
			}
			if a.CacheHitRate > hitStat.Max {
				hitStat.Max = a.CacheHitRate
			}
			activeRates++
		}
	}
	hitStat.Avg = rep.Totals.CacheHitRate
	if want["tokens"] {
		resp.Statistics.Tokens = tokStat.finish(len(starts))
	}
	if want["cost"] {
		resp.Statistics.CostUSD = costStat.finish(len(starts))
	}
	if want["cache_hit"] {
		resp.Statistics.CacheHitRate = hitStat
	}
	writeJSON(w, r, resp)
}

func newStat() *stat { return &stat{} }

func (st *stat) add(v float64) {
	if st.n == 0 {
		st.Min, st.Max = v, v
	}
	st.n++
	st.Min = min(st.Min, v)
	st.Max = max(st.Max, v)
	st.Total += v
}

func (st *stat) finish(n int) *stat {
	if n > 0 {
		st.Avg = st.Total / float64(n)
	}
	return st
}

// parseMetrics parses the metrics parameter: a comma list of tokens, cost
// and cache_hit, or all (the default).
func parseMetrics(v string) ([]string, error) {
	if v == "" || v == "all" {
		return trendMetrics, nil
	}
	var out []string
	for m := range strings.SplitSeq(v, ",") {
		m = strings.TrimSpace(m)
		switch {
		case m == "all":
			return trendMetrics, nil
		case containsString(trendMetrics, m):
			if !containsString(out, m) {
				out = append(out, m)
			}
		default:
			return nil, invalid("metrics: %q is not one of tokens, cost, cache_hit or all", m)
		}
	}
	return out, nil
}
