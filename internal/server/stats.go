package server

import (
	"net/http"
	"strings"

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

// trendsResponse is the body of GET /stats/trends.
type trendsResponse struct{ views.Trends }

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
	t, err := s.views(ctx).Trends(ctx, views.TrendsQuery{Period: period, Span: sp, Granularity: usage.Period(gran), Metrics: metrics})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, r, trendsResponse{t})
}

// trendMetrics are the values of the metrics parameter besides "all".
var trendMetrics = []string{"tokens", "cost", "cache_hit"}

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
