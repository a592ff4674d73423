package server

import (
	"net/http"

	"github.com/claude-token-monitor/ctm/internal/views"
)

// handleBudgets serves each configured budget in its current period. The
// budgets count every user's records (a per-user budget names its user),
// so the request's user parameter does not apply.
func (s *Server) handleBudgets(w http.ResponseWriter, r *http.Request) {
	v := s.views(r.Context())
	v.Store = s.opts.Store
	b, err := v.Budgets(r.Context(), s.opts.Budgets)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, r, b)
}

// handleLimits serves Claude's 5-hour and weekly limits estimated from the
// stored rate_limits samples, and the current windows against them.
func (s *Server) handleLimits(w http.ResponseWriter, r *http.Request) {
	l, err := s.views(r.Context()).Limits(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, r, l)
}

// limitsDoc and budgetsDoc are the response types of the OpenAPI document.
var (
	budgetsDoc = views.Budgets{}
	limitsDoc  = views.Limits{}
)
