package server

import (
	"net/http"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

func (s *Server) handleStats(w http.ResponseWriter, r *http.Request) {
	st, err := s.views(r.Context()).Stats(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, r, statsResponse{st})
}

// statsResponse is the body of GET /stats.
type statsResponse struct{ views.Stats }

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
	rep, err := s.rollup(ctx, sp.Filter(), usage.ByNothing, byNothing)
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
		StartDate:      sp.StartDate,
		EndDate:        sp.EndDate,
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

// dailyResponse is the body of GET /stats/daily.
type dailyResponse struct{ views.Daily }

func (s *Server) handleDaily(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sp, err := s.dateSpan(q.Get("start_date"), q.Get("end_date"), 7)
	if err != nil {
		writeError(w, r, err)
		return
	}
	d, err := s.views(r.Context()).Daily(r.Context(), sp)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, r, dailyResponse{d})
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
	for t := p.Start(sp.From); t.Before(sp.To); t = p.Next(t) {
		if len(starts) == maxTrendPoints {
			writeError(w, r, invalid("granularity: %s over period %s gives more than %d points", gran, period, maxTrendPoints))
			return
		}
		starts = append(starts, t)
	}
	rep, err := s.rollup(ctx, sp.Filter(), usage.ByQuarterHour, p.KeyFunc(s.opts.Location))
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
