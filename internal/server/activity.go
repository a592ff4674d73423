package server

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// weekdays are the heatmap rows, Monday first.
var weekdays = []string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

// heatmap is a weekday × hour grid; rows follow Days, columns Hours.
type heatmap struct {
	Days        []string  `json:"days"`
	Hours       []int     `json:"hours"`
	Entries     [][]int64 `json:"entries"`
	TotalTokens [][]int64 `json:"total_tokens"`
}

// peakHour is one of the busiest hours of the day, over all weekdays.
type peakHour struct {
	Hour        int   `json:"hour"`
	Entries     int64 `json:"entries"`
	TotalTokens int64 `json:"total_tokens"`
}

// activitySummary sums the heatmap.
type activitySummary struct {
	Entries        int64   `json:"entries"`
	TotalTokens    int64   `json:"total_tokens"`
	SessionCount   int     `json:"session_count"`
	MostActiveDay  *string `json:"most_active_day,omitempty"`
	MostActiveHour *int    `json:"most_active_hour,omitempty"`
}

// activityResponse is the body of GET /stats/activity.
type activityResponse struct {
	// Period is "custom" when start_date or end_date chose the days.
	Period    string          `json:"period" enum:"7d,30d,90d,all,custom"`
	StartDate string          `json:"start_date"`
	EndDate   string          `json:"end_date"`
	Timezone  string          `json:"timezone"`
	Heatmap   heatmap         `json:"heatmap"`
	PeakHours []peakHour      `json:"peak_hours"`
	Summary   activitySummary `json:"summary"`
}

// cellKey labels a quarter-hour bucket with its local weekday (Monday 0)
// and hour; quarter hours fall wholly inside one local hour.
func (s *Server) cellKey(b *usage.Bucket) string {
	t := b.Time.In(s.opts.Location)
	return fmt.Sprintf("%d:%d", (int(t.Weekday())+6)%7, t.Hour())
}

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
	rep, err := s.rollup(ctx, sp.Filter(), usage.ByQuarterHour, s.cellKey)
	if err != nil {
		writeError(w, r, err)
		return
	}
	sessions, err := s.views(ctx).SessionCount(ctx, sp.Filter())
	if err != nil {
		writeError(w, r, err)
		return
	}
	hm := heatmap{Days: weekdays, Hours: make([]int, 24), Entries: make([][]int64, 7), TotalTokens: make([][]int64, 7)}
	for h := range hm.Hours {
		hm.Hours[h] = h
	}
	dayEntries := make([]int64, 7)
	hours := make([]peakHour, 24)
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
	resp := activityResponse{
		Period:    period,
		StartDate: sp.StartDate,
		EndDate:   sp.EndDate,
		Timezone:  s.opts.Location.String(),
		Heatmap:   hm,
		PeakHours: []peakHour{},
		Summary: activitySummary{
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
		slices.SortStableFunc(ranked, func(a, b peakHour) int { return cmp.Compare(b.Entries, a.Entries) })
		resp.Summary.MostActiveHour = &ranked[0].Hour
		for _, h := range ranked[:3] {
			if h.Entries > 0 {
				resp.PeakHours = append(resp.PeakHours, h)
			}
		}
	}
	writeJSON(w, r, resp)
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
