package server_test

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"
)

type sessionJSON struct {
	SessionID     string    `json:"session_id"`
	Project       string    `json:"project"`
	FirstActivity time.Time `json:"first_activity"`
	LastActivity  time.Time `json:"last_activity"`
	Models        []string  `json:"models"`
	agg
}

type sessionsJSON struct {
	Sessions   []sessionJSON `json:"sessions"`
	Pagination struct {
		Total   int64 `json:"total"`
		Limit   int   `json:"limit"`
		Offset  int   `json:"offset"`
		HasMore bool  `json:"has_more"`
	} `json:"pagination"`
	Totals agg `json:"totals"`
}

func TestSessions(t *testing.T) {
	h := newServer(t, nil).Handler()
	var got sessionsJSON
	get(t, h, "/api/v1/sessions?limit=500", &got)
	exp := fixture.expected.Sessions
	if len(got.Sessions) != len(exp) || got.Pagination.Total != int64(len(exp)) || got.Pagination.HasMore {
		t.Fatalf("sessions = %d (total %d, more %v), want %d", len(got.Sessions), got.Pagination.Total, got.Pagination.HasMore, len(exp))
	}
	for _, s := range got.Sessions {
		checkFigures(t, s.SessionID, s.agg, exp[s.SessionID])
		if s.Project == "" || len(s.Models) == 0 || s.LastActivity.Before(s.FirstActivity) {
			t.Errorf("%s: project %q, models %v, first %v, last %v", s.SessionID, s.Project, s.Models, s.FirstActivity, s.LastActivity)
		}
	}
	checkFigures(t, "totals", got.Totals, fixture.expected.Totals)
	if !slices.IsSortedFunc(got.Sessions, func(a, b sessionJSON) int { return b.LastActivity.Compare(a.LastActivity) }) {
		t.Errorf("default order is not last_activity desc")
	}

	t.Run("sort and page", func(t *testing.T) {
		var all, page sessionsJSON
		get(t, h, "/api/v1/sessions?sort=cost&order=asc&limit=500", &all)
		if !slices.IsSortedFunc(all.Sessions, func(a, b sessionJSON) int { return compareFloat(a.CostUSD, b.CostUSD) }) {
			t.Errorf("sort=cost&order=asc is not ascending by cost")
		}
		get(t, h, "/api/v1/sessions?sort=cost&order=asc&limit=5&offset=5", &page)
		if len(page.Sessions) != 5 || !page.Pagination.HasMore || page.Pagination.Offset != 5 || page.Pagination.Limit != 5 {
			t.Fatalf("page = %d sessions, pagination %+v", len(page.Sessions), page.Pagination)
		}
		for i, s := range page.Sessions {
			if s.SessionID != all.Sessions[5+i].SessionID {
				t.Errorf("page[%d] = %s, want %s", i, s.SessionID, all.Sessions[5+i].SessionID)
			}
		}
		get(t, h, "/api/v1/sessions?limit=5&offset=1000", &page)
		if len(page.Sessions) != 0 || page.Pagination.HasMore {
			t.Errorf("offset past the end = %d sessions, more %v", len(page.Sessions), page.Pagination.HasMore)
		}
		for _, sortBy := range []string{"first_activity", "tokens", "last_activity"} {
			get(t, h, "/api/v1/sessions?limit=500&order=desc&sort="+sortBy, &page)
			if len(page.Sessions) != len(exp) {
				t.Errorf("sort=%s returned %d sessions", sortBy, len(page.Sessions))
			}
		}
	})
	t.Run("filters", func(t *testing.T) {
		var f sessionsJSON
		get(t, h, "/api/v1/sessions?model=claude-haiku-4-5-20251001&limit=500", &f)
		checkFigures(t, "haiku sessions", f.Totals, fixture.expected.Models["claude-haiku-4-5-20251001"])
		project := got.Sessions[0].Project
		get(t, h, "/api/v1/sessions?limit=500&project="+url.QueryEscape(project), &f)
		for _, s := range f.Sessions {
			if s.Project != project {
				t.Errorf("project filter %q returned session of %q", project, s.Project)
			}
		}
		get(t, h, "/api/v1/sessions?start_date=2026-01-16&end_date=2026-01-16&limit=500", &f)
		checkFigures(t, "sessions of 2026-01-16", f.Totals, fixture.expected.Daily["2026-01-16"])
	})
}

func TestSessionDetail(t *testing.T) {
	h := newServer(t, nil).Handler()
	const id = "132b2f66-ee5f-46f6-8904-32d9dc4d36c3"
	var got struct {
		sessionJSON
		DurationSeconds float64 `json:"duration_seconds"`
		Breakdown       []struct {
			Model string `json:"model"`
			agg
		} `json:"breakdown"`
		Timeline []struct {
			Timestamp   time.Time `json:"timestamp"`
			Model       string    `json:"model"`
			TotalTokens int64     `json:"total_tokens"`
			CostUSD     float64   `json:"cost_usd"`
		} `json:"timeline"`
	}
	get(t, h, "/api/v1/sessions/"+id, &got)
	want := fixture.expected.Sessions[id]
	checkFigures(t, id, got.agg, want)
	if got.SessionID != id {
		t.Errorf("session_id = %q, want %q", got.SessionID, id)
	}
	if int64(len(got.Timeline)) != want.Entries {
		t.Fatalf("timeline = %d entries, want %d", len(got.Timeline), want.Entries)
	}
	var tokens int64
	var cost float64
	for i, e := range got.Timeline {
		tokens += e.TotalTokens
		cost += e.CostUSD
		if i > 0 && e.Timestamp.Before(got.Timeline[i-1].Timestamp) {
			t.Errorf("timeline is not in time order at %d", i)
		}
	}
	if tokens != want.total() || !near(cost, want.CostUSD) {
		t.Errorf("timeline sums = %d tokens, $%v; want %d, $%v", tokens, cost, want.total(), want.CostUSD)
	}
	var bd figures
	for _, m := range got.Breakdown {
		bd.Entries += m.Entries
		bd.CostUSD += m.CostUSD
	}
	if bd.Entries != want.Entries || !near(bd.CostUSD, want.CostUSD) {
		t.Errorf("breakdown sums = %+v, want entries %d cost %v", bd, want.Entries, want.CostUSD)
	}
	wantDur := got.LastActivity.Sub(got.FirstActivity).Seconds()
	if got.DurationSeconds != wantDur || wantDur <= 0 {
		t.Errorf("duration_seconds = %v, want %v", got.DurationSeconds, wantDur)
	}

	r := do(t, h, http.MethodGet, "/api/v1/sessions/no-such-session", nil)
	wantError(t, r, http.StatusNotFound, "NOT_FOUND", "no-such-session")
}

func TestProjects(t *testing.T) {
	h := newServer(t, nil).Handler()
	var got struct {
		Projects []struct {
			Project      string    `json:"project"`
			SessionCount int       `json:"session_count"`
			LastActivity time.Time `json:"last_activity"`
			Models       []struct {
				Model string `json:"model"`
			} `json:"models"`
			agg
		} `json:"projects"`
		Totals agg `json:"totals"`
	}
	get(t, h, "/api/v1/projects", &got)
	var sum figures
	sessions := 0
	projects := map[string]bool{}
	for _, r := range fixture.records {
		projects[r.Project] = true
	}
	for i, p := range got.Projects {
		sum = sum.add(figures{Input: p.InputTokens, Output: p.OutputTokens, CacheCreation: p.CacheCreationTokens,
			CW5: p.CacheCreation5m, CW1: p.CacheCreation1h, CacheRead: p.CacheReadTokens, CostUSD: p.CostUSD, Entries: p.Entries})
		sessions += p.SessionCount
		if i > 0 && p.LastActivity.After(got.Projects[i-1].LastActivity) {
			t.Errorf("projects not ordered by last activity at %d", i)
		}
		if !projects[p.Project] {
			t.Errorf("unknown project %q", p.Project)
		}
	}
	if len(got.Projects) != len(projects) {
		t.Errorf("projects = %d, want %d", len(got.Projects), len(projects))
	}
	// Each project counts the sessions with a request in it: a project
	// with requests never shows 0, and subagents that worked elsewhere
	// count their session there too.
	inProject := map[string]map[string]bool{}
	for _, r := range fixture.records {
		if inProject[r.Project] == nil {
			inProject[r.Project] = map[string]bool{}
		}
		inProject[r.Project][r.SessionID] = true
	}
	zero := 0
	for _, p := range got.Projects {
		if want := len(inProject[p.Project]); p.SessionCount != want {
			t.Errorf("%s: session_count %d, want %d", p.Project, p.SessionCount, want)
		}
		if p.SessionCount == 0 {
			zero++
		}
	}
	if zero > 0 || sessions < len(fixture.expected.Sessions) {
		t.Errorf("%d projects with requests and no session; counts add up to %d, want at least %d", zero, sessions, len(fixture.expected.Sessions))
	}
	want := fixture.expected.Totals
	if sum.Entries != want.Entries || sum.Input != want.Input || !near(sum.CostUSD, want.CostUSD) {
		t.Errorf("projects add up to %+v, want %+v", sum, want)
	}
	checkFigures(t, "totals", got.Totals, want)
}

func TestPaginationHugeOffset(t *testing.T) {
	h := newServer(t, nil).Handler()
	for _, target := range []string{
		"/api/v1/sessions?offset=9223372036854775807",
		"/api/v1/sessions?offset=9223372036854775807&limit=500",
		"/api/v1/stats/history?offset=9223372036854775807&limit=500",
	} {
		var got struct {
			Pagination struct {
				Offset  int  `json:"offset"`
				HasMore bool `json:"has_more"`
			} `json:"pagination"`
		}
		get(t, h, target, &got)
		if got.Pagination.Offset != 9223372036854775807 || got.Pagination.HasMore {
			t.Errorf("GET %s: pagination = %+v, want offset 2^63-1 and no more", target, got.Pagination)
		}
	}
}
