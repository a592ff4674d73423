package server

import (
	"net/http"

	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

// sessionsResponse is the body of GET /sessions.
type sessionsResponse struct {
	Sessions       []views.SessionSummary `json:"sessions"`
	Pagination     pagination             `json:"pagination"`
	Totals         usage.Aggregate        `json:"totals"`
	UnpricedModels []string               `json:"unpriced_models"`
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
	sq := views.SessionsQuery{
		Span: sp, Project: q.Get("project"), Model: q.Get("model"), Sort: sortBy, Descending: order == "desc",
	}
	all, err := s.views(r.Context()).Sessions(r.Context(), sq)
	if err != nil {
		writeError(w, r, err)
		return
	}
	lo, hi := pageBounds(len(all.Sessions), offset, limit)
	page := all.Sessions[lo:hi]
	// Main vs subagent cost reads records, so only the page's.
	if err := s.views(r.Context()).AddAgentSplits(r.Context(), sq, page); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, r, sessionsResponse{
		Sessions:       page,
		Pagination:     newPagination(int64(len(all.Sessions)), limit, offset, len(page)),
		Totals:         all.Totals,
		UnpricedModels: all.UnpricedModels,
	})
}

// sessionDetail is the body of GET /sessions/{id}.
type sessionDetail struct{ views.SessionDetail }

func (s *Server) handleSession(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if id == "" || len(id) > maxIDLength {
		writeError(w, r, invalid("id: session id must be 1..%d characters", maxIDLength))
		return
	}
	d, err := s.views(r.Context()).Session(r.Context(), id)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, r, sessionDetail{d})
}

// projectsResponse is the body of GET /projects.
type projectsResponse struct{ views.Projects }

func (s *Server) handleProjects(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sp, err := s.dateSpan(q.Get("start_date"), q.Get("end_date"), 0)
	if err != nil {
		writeError(w, r, err)
		return
	}
	p, err := s.views(r.Context()).Projects(r.Context(), sp)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, r, projectsResponse{p})
}
