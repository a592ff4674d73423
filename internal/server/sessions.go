package server

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// sessionSummary is one session's totals.
type sessionSummary struct {
	SessionID     string    `json:"session_id"`
	Project       string    `json:"project"`
	FirstActivity time.Time `json:"first_activity"`
	LastActivity  time.Time `json:"last_activity"`
	Models        []string  `json:"models"`
	usage.Aggregate
}

// sessionsResponse is the body of GET /sessions.
type sessionsResponse struct {
	Sessions       []sessionSummary `json:"sessions"`
	Pagination     pagination       `json:"pagination"`
	Totals         usage.Aggregate  `json:"totals"`
	UnpricedModels []string         `json:"unpriced_models"`
}

// maxIDLength bounds path ids; real session ids are 36-character UUIDs.
const maxIDLength = 256

func (s *Server) handleSessions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sp, err := s.dateSpan(q.Get("start_date"), q.Get("end_date"), 0)
	if err != nil {
		writeError(w, r, err)
		return
	}
	sortBy, err := enumParam(q, "sort", "last_activity", "last_activity", "first_activity", "cost", "tokens")
	if err != nil {
		writeError(w, r, err)
		return
	}
	order, err := enumParam(q, "order", "desc", "asc", "desc")
	if err != nil {
		writeError(w, r, err)
		return
	}
	limit, offset, err := pageParams(q, 50)
	if err != nil {
		writeError(w, r, err)
		return
	}
	f := sp.Filter()
	f.Project = q.Get("project")
	f.Model = q.Get("model")
	rep, err := s.rollup(r.Context(), f, usage.BySession, byKey)
	if err != nil {
		writeError(w, r, err)
		return
	}
	all := make([]sessionSummary, 0, len(rep.Groups))
	for i := range rep.Groups {
		all = append(all, s.sessionSummary(&rep.Groups[i]))
	}
	slices.SortStableFunc(all, func(a, b sessionSummary) int {
		var c int
		switch sortBy {
		case "first_activity":
			c = a.FirstActivity.Compare(b.FirstActivity)
		case "cost":
			c = cmp.Compare(a.CostUSD, b.CostUSD)
		case "tokens":
			c = cmp.Compare(a.TotalTokens, b.TotalTokens)
		default:
			c = a.LastActivity.Compare(b.LastActivity)
		}
		if c == 0 {
			c = cmp.Compare(a.SessionID, b.SessionID)
		}
		if order == "desc" {
			c = -c
		}
		return c
	})
	lo, hi := pageBounds(len(all), offset, limit)
	page := all[lo:hi]
	writeJSON(w, r, sessionsResponse{
		Sessions:       page,
		Pagination:     newPagination(int64(len(all)), limit, offset, len(page)),
		Totals:         rep.Totals.Aggregate,
		UnpricedModels: unpriced(rep),
	})
}

func (s *Server) sessionSummary(g *usage.Group) sessionSummary {
	return sessionSummary{
		SessionID:     g.Key,
		Project:       g.Project,
		FirstActivity: g.First.In(s.opts.Location),
		LastActivity:  g.Last.In(s.opts.Location),
		Models:        g.ModelNames(),
		Aggregate:     g.Aggregate,
	}
}

// modelShare is one model's part of a session or project.
type modelShare struct {
	Model       string `json:"model"`
	DisplayName string `json:"display_name"`
	usage.Aggregate
}

// timelineEntry is one API response of a session.
type timelineEntry struct {
	Timestamp   time.Time `json:"timestamp"`
	Model       string    `json:"model"`
	IsSidechain bool      `json:"is_sidechain"`
	usage.Tokens
	CacheCreationTokens int64       `json:"cache_creation_tokens"`
	TotalTokens         int64       `json:"total_tokens"`
	CostUSD             usage.Money `json:"cost_usd"`
}

// sessionDetail is the body of GET /sessions/{id}.
type sessionDetail struct {
	sessionSummary
	DurationSeconds float64         `json:"duration_seconds"`
	Breakdown       []modelShare    `json:"breakdown"`
	Timeline        []timelineEntry `json:"timeline"`
	UnpricedModels  []string        `json:"unpriced_models"`
}

func (s *Server) handleSession(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if id == "" || len(id) > maxIDLength {
		writeError(w, r, invalid("id: session id must be 1..%d characters", maxIDLength))
		return
	}
	ctx := r.Context()
	f := usage.Filter{SessionID: id}
	rep, err := s.rollup(ctx, f, usage.BySession, byKey)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if len(rep.Groups) == 0 {
		writeError(w, r, usage.Errorf(usage.ENOTFOUND, "session %q not found", id))
		return
	}
	recs, err := s.store.Records(ctx, f, usage.Page{})
	if err != nil {
		writeError(w, r, fmt.Errorf("records: %w", err))
		return
	}
	g := &rep.Groups[0]
	d := sessionDetail{
		sessionSummary:  s.sessionSummary(g),
		DurationSeconds: g.Last.Sub(g.First).Seconds(),
		Breakdown:       s.modelShares(g.Models),
		Timeline:        make([]timelineEntry, 0, len(recs)),
		UnpricedModels:  unpriced(rep),
	}
	for i := range recs {
		rec := &recs[i]
		cost := rec.Cost
		d.Timeline = append(d.Timeline, timelineEntry{
			Timestamp:           rec.Timestamp.In(s.opts.Location),
			Model:               rec.Model,
			IsSidechain:         rec.IsSidechain,
			Tokens:              rec.Tokens,
			CacheCreationTokens: rec.CacheCreation(),
			TotalTokens:         rec.Total(),
			CostUSD:             cost,
		})
	}
	writeJSON(w, r, d)
}

func (s *Server) modelShares(models []usage.ModelAggregate) []modelShare {
	out := make([]modelShare, 0, len(models))
	for _, m := range models {
		out = append(out, modelShare{Model: m.Model, DisplayName: s.opts.DisplayName(m.Model), Aggregate: m.Aggregate})
	}
	return out
}

// projectSummary is one project's totals.
type projectSummary struct {
	Project string `json:"project"`
	// SessionCount counts the sessions with a request in this project. A
	// session whose subagents worked in another directory counts in both,
	// so the counts can add up to more than all sessions; counting each
	// session only under its last project showed projects with requests
	// and no session.
	SessionCount  int          `json:"session_count"`
	FirstActivity time.Time    `json:"first_activity"`
	LastActivity  time.Time    `json:"last_activity"`
	Models        []modelShare `json:"models"`
	usage.Aggregate
}

// projectsResponse is the body of GET /projects.
type projectsResponse struct {
	Projects       []projectSummary `json:"projects"`
	Totals         usage.Aggregate  `json:"totals"`
	UnpricedModels []string         `json:"unpriced_models"`
}

func (s *Server) handleProjects(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sp, err := s.dateSpan(q.Get("start_date"), q.Get("end_date"), 0)
	if err != nil {
		writeError(w, r, err)
		return
	}
	ctx := r.Context()
	rep, err := s.rollup(ctx, sp.Filter(), usage.ByProject, byKey)
	if err != nil {
		writeError(w, r, err)
		return
	}
	perProject := map[string]int{}
	for _, g := range rep.Groups {
		f := sp.Filter()
		f.Project = g.Key
		buckets, err := s.store.Aggregate(ctx, f, usage.BySession)
		if err != nil {
			writeError(w, r, fmt.Errorf("aggregate: %w", err))
			return
		}
		seen := map[string]bool{}
		for _, b := range buckets {
			seen[b.Key] = true
		}
		perProject[g.Key] = len(seen)
	}
	resp := projectsResponse{
		Projects:       make([]projectSummary, 0, len(rep.Groups)),
		Totals:         rep.Totals.Aggregate,
		UnpricedModels: unpriced(rep),
	}
	for _, g := range rep.Groups {
		resp.Projects = append(resp.Projects, projectSummary{
			Project:       g.Key,
			SessionCount:  perProject[g.Key],
			FirstActivity: g.First.In(s.opts.Location),
			LastActivity:  g.Last.In(s.opts.Location),
			Models:        s.modelShares(g.Models),
			Aggregate:     g.Aggregate,
		})
	}
	slices.SortStableFunc(resp.Projects, func(a, b projectSummary) int {
		return b.LastActivity.Compare(a.LastActivity)
	})
	writeJSON(w, r, resp)
}
