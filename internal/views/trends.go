package views

import (
	"context"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// TokenSeries holds one value per label for each token kind.
type TokenSeries struct {
	Input         []int64 `json:"input_tokens"`
	Output        []int64 `json:"output_tokens"`
	CacheCreation []int64 `json:"cache_creation_tokens"`
	CacheRead     []int64 `json:"cache_read_tokens"`
	Total         []int64 `json:"total_tokens"`
}

// TrendSeries is the chart data of a trend; series that were not
// requested through metrics are left out.
type TrendSeries struct {
	Labels       []string      `json:"labels"`
	Entries      []int64       `json:"entries"`
	Tokens       *TokenSeries  `json:"tokens,omitempty"`
	CostUSD      []usage.Money `json:"cost_usd,omitempty"`
	CacheHitRate []float64     `json:"cache_hit_rate,omitempty"`
}

// Stat summarises a series.
type Stat struct {
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	Avg   float64 `json:"avg"`
	Total float64 `json:"total"`
	n     int
}

// RateStat summarises a rate series: min and max over points with
// traffic, avg is the rate of the whole period.
type RateStat struct {
	Min float64 `json:"min"`
	Max float64 `json:"max"`
	Avg float64 `json:"avg"`
}

// TrendStatistics summarises the requested series.
type TrendStatistics struct {
	Tokens       *Stat     `json:"total_tokens,omitempty"`
	CostUSD      *Stat     `json:"cost_usd,omitempty"`
	CacheHitRate *RateStat `json:"cache_hit_rate,omitempty"`
}

// Trends is a trend: series per period and their statistics.
type Trends struct {
	Period         string          `json:"period" enum:"7d,30d,90d,all"`
	Granularity    string          `json:"granularity" enum:"hour,day,week,month"`
	Metrics        []string        `json:"metrics"`
	Timezone       string          `json:"timezone"`
	Series         TrendSeries     `json:"series"`
	Statistics     TrendStatistics `json:"statistics"`
	UnpricedModels []string        `json:"unpriced_models"`
}

// MaxTrendPoints bounds the number of points of one trend, so that no
// question makes an unbounded answer.
const MaxTrendPoints = 10000

// TrendsQuery selects a trend.
type TrendsQuery struct {
	// Period names Span in errors, e.g. "30d".
	Period string
	Span   Span
	// Granularity is the period of one point: hour, day, week or month.
	Granularity usage.Period
	// Metrics are the series to include: tokens, cost and cache_hit.
	Metrics []string
}

// Trends returns one point per period of q.Span, periods without usage
// included. More than MaxTrendPoints points are EINVALID naming
// granularity.
func (v *Views) Trends(ctx context.Context, q TrendsQuery) (Trends, error) {
	sp, gran, metrics, period := q.Span, string(q.Granularity), q.Metrics, q.Period
	p := usage.Period(gran)
	var starts []time.Time
	for t := p.Start(sp.From); t.Before(sp.To); t = p.Next(t) {
		if len(starts) == MaxTrendPoints {
			return Trends{}, usage.Errorf(usage.EINVALID, "granularity: %s over period %s gives more than %d points", gran, period, MaxTrendPoints)
		}
		starts = append(starts, t)
	}
	rep, err := v.rollup(ctx, sp.Filter(), usage.ByQuarterHour, p.KeyFunc(v.loc()))
	if err != nil {
		return Trends{}, err
	}
	groups := groupMap(rep)
	want := map[string]bool{}
	for _, m := range metrics {
		want[m] = true
	}
	resp := Trends{
		Period:         period,
		Granularity:    gran,
		Metrics:        metrics,
		Timezone:       v.loc().String(),
		Series:         TrendSeries{Labels: []string{}, Entries: []int64{}},
		UnpricedModels: nonNil(rep.Unpriced),
	}
	ser := &resp.Series
	if want["tokens"] {
		ser.Tokens = &TokenSeries{Input: []int64{}, Output: []int64{}, CacheCreation: []int64{}, CacheRead: []int64{}, Total: []int64{}}
	}
	if want["cost"] {
		ser.CostUSD = []usage.Money{}
	}
	if want["cache_hit"] {
		ser.CacheHitRate = []float64{}
	}
	tokStat, costStat, hitStat := newStat(), newStat(), &RateStat{}
	activeRates := 0
	for _, t := range starts {
		label := p.Label(t, v.loc())
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
	return resp, nil
}

func newStat() *Stat { return &Stat{} }

func (st *Stat) add(v float64) {
	if st.n == 0 {
		st.Min, st.Max = v, v
	}
	st.n++
	st.Min = min(st.Min, v)
	st.Max = max(st.Max, v)
	st.Total += v
}

func (st *Stat) finish(n int) *Stat {
	if n > 0 {
		st.Avg = st.Total / float64(n)
	}
	return st
}
