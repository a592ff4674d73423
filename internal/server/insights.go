package server

import (
	"context"
	"net/http"
	"strconv"

	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

// Prompts implements usage.Store for the user of ctx.
func (u userStore) Prompts(ctx context.Context, f usage.Filter) ([]usage.Prompt, error) {
	return u.Store.Prompts(ctx, filterUser(ctx, f))
}

// breakdownResponse is the body of GET /breakdown.
type breakdownResponse struct{ views.Breakdown }

// handleBreakdown answers where the money went: GET /breakdown?by=.
func (s *Server) handleBreakdown(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	by, err := enumParam(q, "by", "agent", views.BreakdownDims...)
	if err != nil {
		writeError(w, r, err)
		return
	}
	b, err := s.views(r.Context()).Breakdown(r.Context(), views.BreakdownQuery{
		By: by, Since: q.Get("since"), Until: q.Get("until"), Project: q.Get("project"),
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, r, breakdownResponse{b})
}

// promptsResponse is the body of GET /prompts.
type promptsResponse struct{ views.Prompts }

// maxPromptRows bounds the top parameter.
const maxPromptRows = 10000

// handlePrompts answers the most expensive prompts: GET /prompts.
func (s *Server) handlePrompts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	top, err := intParam(q, "top", 20, 1, maxPromptRows)
	if err != nil {
		writeError(w, r, err)
		return
	}
	sortBy, err := enumParam(q, "sort", "cost", "cost", "time")
	if err != nil {
		writeError(w, r, err)
		return
	}
	session := q.Get("session")
	if len(session) > maxIDLength {
		writeError(w, r, invalid("session: a session id is at most %d characters", maxIDLength))
		return
	}
	p, err := s.views(r.Context()).Prompts(r.Context(), views.PromptsQuery{
		Since: q.Get("since"), Until: q.Get("until"), Project: q.Get("project"), SessionID: session, Top: top, Sort: sortBy,
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, r, promptsResponse{p})
}

// insightViews are the insight routes that take the user parameter.
var insightViews = []string{"GET /breakdown", "GET /prompts"}

var (
	sinceParam   = query("since", "First day, YYYY-MM-DD, inclusive, in the server's time zone; default: open.", dateSchema())
	untilParam   = query("until", "Last day, YYYY-MM-DD, inclusive; default: open.", dateSchema())
	projectParam = query("project", "Only this project: its path or a unique part of it.", strSchema())
)

// insightDocs documents the insight routes for the OpenAPI document.
func insightDocs() map[string]operation {
	return map[string]operation{
		"GET /breakdown": {summary: "Where the money went: usage and cost cut by git branch, agent (main, a subagent type, or subagent), " +
			"skill/plugin/agent attribution, project or model, most expensive first. The rows add up to the daily totals of the range.",
			params:   []param{query("by", "The cut; default agent.", enumSchema(views.BreakdownDims...)), sinceParam, untilParam, projectParam},
			response: breakdownResponse{}, errors: []int{404}},
		"GET /prompts": {summary: "The most expensive prompts: each typed prompt with the responses it led to (until the next prompt of its session, " +
			"subagents included); a session's responses before its first prompt form a row of their own. totals cover every row, not only the top.",
			params: []param{query("top", "Rows to return, 1.."+strconv.Itoa(maxPromptRows)+"; default 20.", intSchema(1, maxPromptRows)),
				query("sort", "cost (default, most expensive first) or time (earliest first).", enumSchema("cost", "time")),
				sinceParam, untilParam, projectParam, query("session", "Only this session.", strSchema())},
			response: promptsResponse{}, errors: []int{404}},
	}
}
