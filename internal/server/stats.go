package server

import (
	"net/http"
	"slices"
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

// modelsResponse is the body of GET /stats/models.
type modelsResponse struct{ views.Models }

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	period, sp, err := s.periodSpan(ctx, r.URL.Query(), "30d")
	if err != nil {
		writeError(w, r, err)
		return
	}
	m, err := s.views(ctx).Models(ctx, period, sp)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, r, modelsResponse{m})
}

// containsString reports whether list holds v.
func containsString(list []string, v string) bool {
	return slices.Contains(list, v)
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
