package server

import (
	"net/http"

	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

// activityResponse is the body of GET /stats/activity.
type activityResponse struct{ views.Activity }

func (s *Server) handleActivity(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	period, sp, err := s.periodSpan(ctx, q, "7d")
	if start, end := q.Get("start_date"), q.Get("end_date"); err == nil && (start != "" || end != "") {
		// Dates win over a period, so that the heatmap can show the
		// same days as the dashboard's other panels.
		period = "custom"
		sp, err = s.dateSpan(start, end, 0)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	a, err := s.views(ctx).Activity(ctx, period, sp)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, r, activityResponse{a})
}

// statsCacheResponse is the body of GET /stats/cache.
type statsCacheResponse struct {
	// Fresh is false when the file is partial or unreadable and this is
	// the last good copy.
	Fresh bool              `json:"fresh"`
	Cache *usage.StatsCache `json:"cache"`
}

func (s *Server) handleStatsCache(w http.ResponseWriter, r *http.Request) {
	if s.opts.StatsCache == nil {
		writeErrorStatus(w, r, http.StatusNotFound, codeFileNotFound, "stats-cache.json is not configured")
		return
	}
	sc, fresh, err := s.opts.StatsCache.Read()
	switch {
	case sc != nil:
		if err != nil {
			fresh = false
		}
		writeJSON(w, r, statsCacheResponse{Fresh: fresh, Cache: sc})
	case err == nil || isNotExist(err):
		writeErrorStatus(w, r, http.StatusNotFound, codeFileNotFound, "stats-cache.json does not exist")
	default:
		loggerFrom(r.Context()).Warn("read stats cache", "error", err)
		writeErrorStatus(w, r, http.StatusInternalServerError, codeParseError, "stats-cache.json could not be parsed")
	}
}

// statsCacheStatus reports the stats cache for health: "ok", "stale"
// (partial or unreadable, serving the last good copy), "absent" or
// "unreadable".
func (s *Server) statsCacheStatus() string {
	if s.opts.StatsCache == nil {
		return "absent"
	}
	sc, fresh, err := s.opts.StatsCache.Read()
	switch {
	case sc != nil && fresh && err == nil:
		return "ok"
	case sc != nil:
		return "stale"
	case err == nil || isNotExist(err):
		return "absent"
	default:
		return "unreadable"
	}
}
