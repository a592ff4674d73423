package views

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// SessionSummary is one session's totals.
type SessionSummary struct {
	SessionID     string    `json:"session_id"`
	Project       string    `json:"project"`
	FirstActivity time.Time `json:"first_activity"`
	LastActivity  time.Time `json:"last_activity"`
	Models        []string  `json:"models"`
	usage.Aggregate
	// AgentSplit divides the cost between the session's own requests and
	// its subagents'; Sessions leaves it zero (see AddAgentSplits).
	AgentSplit
}

// SessionsQuery selects and orders the sessions of a Sessions view.
type SessionsQuery struct {
	Span Span
	// Project and Model keep the records of one project or model; ""
	// keeps all.
	Project, Model string
	// Sort is last_activity (the default), first_activity, cost or
	// tokens; ties go by session id.
	Sort string
	// Descending puts the largest (or latest) first.
	Descending bool
}

// Sessions is every session of a selection, ordered, with their totals.
type Sessions struct {
	Sessions       []SessionSummary
	Totals         usage.Aggregate
	UnpricedModels []string
}

// Sessions returns the sessions q selects, in its order. An unknown sort
// is EINVALID naming sort.
func (v *Views) Sessions(ctx context.Context, q SessionsQuery) (Sessions, error) {
	var by func(a, b *SessionSummary) int
	switch q.Sort {
	case "first_activity":
		by = func(a, b *SessionSummary) int { return a.FirstActivity.Compare(b.FirstActivity) }
	case "cost":
		by = func(a, b *SessionSummary) int { return cmp.Compare(a.CostUSD, b.CostUSD) }
	case "tokens":
		by = func(a, b *SessionSummary) int { return cmp.Compare(a.TotalTokens, b.TotalTokens) }
	case "", "last_activity":
		by = func(a, b *SessionSummary) int { return a.LastActivity.Compare(b.LastActivity) }
	default:
		return Sessions{}, usage.Errorf(usage.EINVALID, "sort: %q is not one of last_activity, first_activity, cost, tokens", q.Sort)
	}
	f := q.Span.Filter()
	f.Project, f.Model = q.Project, q.Model
	rep, err := v.rollup(ctx, f, usage.BySession, byKey)
	if err != nil {
		return Sessions{}, err
	}
	all := make([]SessionSummary, 0, len(rep.Groups))
	for i := range rep.Groups {
		all = append(all, v.sessionSummary(&rep.Groups[i]))
	}
	slices.SortStableFunc(all, func(a, b SessionSummary) int {
		c := by(&a, &b)
		if c == 0 {
			c = cmp.Compare(a.SessionID, b.SessionID)
		}
		if q.Descending {
			c = -c
		}
		return c
	})
	return Sessions{Sessions: all, Totals: rep.Totals.Aggregate, UnpricedModels: nonNil(rep.Unpriced)}, nil
}

func (v *Views) sessionSummary(g *usage.Group) SessionSummary {
	return SessionSummary{
		SessionID:     g.Key,
		Project:       g.Project,
		FirstActivity: g.First.In(v.loc()),
		LastActivity:  g.Last.In(v.loc()),
		Models:        g.ModelNames(),
		Aggregate:     g.Aggregate,
	}
}

// ModelShare is one model's part of a session or project.
type ModelShare struct {
	Model       string `json:"model"`
	DisplayName string `json:"display_name"`
	usage.Aggregate
}

// TimelineEntry is one API response of a session.
type TimelineEntry struct {
	Timestamp   time.Time `json:"timestamp"`
	Model       string    `json:"model"`
	IsSidechain bool      `json:"is_sidechain"`
	// Agent is who made the request (see usage.Record.AgentLabel).
	Agent string `json:"agent"`
	usage.Tokens
	CacheCreationTokens int64       `json:"cache_creation_tokens"`
	TotalTokens         int64       `json:"total_tokens"`
	CostUSD             usage.Money `json:"cost_usd"`
}

// SessionDetail is one session: its totals, per-model breakdown and every
// response in time order.
type SessionDetail struct {
	SessionSummary
	DurationSeconds float64      `json:"duration_seconds"`
	Breakdown       []ModelShare `json:"breakdown"`
	// Agents is the session's cost by who made the requests: "main", a
	// subagent type, or "subagent" when the type is unknown.
	Agents         []BreakdownRow  `json:"agents"`
	Timeline       []TimelineEntry `json:"timeline"`
	UnpricedModels []string        `json:"unpriced_models"`
}

// Session returns the session with id; ENOTFOUND when it has no records.
func (v *Views) Session(ctx context.Context, id string) (SessionDetail, error) {
	f := usage.Filter{SessionID: id}
	rep, err := v.rollup(ctx, f, usage.BySession, byKey)
	if err != nil {
		return SessionDetail{}, err
	}
	if len(rep.Groups) == 0 {
		return SessionDetail{}, usage.Errorf(usage.ENOTFOUND, "session %q not found", id)
	}
	recs, err := v.Store.Records(ctx, f, usage.Page{})
	if err != nil {
		return SessionDetail{}, fmt.Errorf("records: %w", err)
	}
	g := &rep.Groups[0]
	d := SessionDetail{
		SessionSummary:  v.sessionSummary(g),
		DurationSeconds: g.Last.Sub(g.First).Seconds(),
		Breakdown:       v.modelShares(g.Models),
		Timeline:        make([]TimelineEntry, 0, len(recs)),
		UnpricedModels:  nonNil(rep.Unpriced),
	}
	agents := recordSums{}
	for i := range recs {
		rec := &recs[i]
		d.AgentSplit.add(rec)
		agents.add(rec.AgentLabel(), rec)
		d.Timeline = append(d.Timeline, TimelineEntry{
			Timestamp:           rec.Timestamp.In(v.loc()),
			Model:               rec.Model,
			IsSidechain:         rec.IsSidechain,
			Tokens:              rec.Tokens,
			CacheCreationTokens: rec.CacheCreation(),
			TotalTokens:         rec.Total(),
			CostUSD:             rec.Cost,
			Agent:               rec.AgentLabel(),
		})
	}
	d.Agents = breakdownRows(agents.rollup(v.Prices))
	return d, nil
}

func (v *Views) modelShares(models []usage.ModelAggregate) []ModelShare {
	out := make([]ModelShare, 0, len(models))
	for _, m := range models {
		out = append(out, ModelShare{Model: m.Model, DisplayName: v.displayName(m.Model), Aggregate: m.Aggregate})
	}
	return out
}

// ProjectSummary is one project's totals.
type ProjectSummary struct {
	Project string `json:"project"`
	// SessionCount counts the sessions with a request in this project. A
	// session whose subagents worked in another directory counts in both,
	// so the counts can add up to more than all sessions; counting each
	// session only under its last project showed projects with requests
	// and no session.
	SessionCount  int          `json:"session_count"`
	FirstActivity time.Time    `json:"first_activity"`
	LastActivity  time.Time    `json:"last_activity"`
	Models        []ModelShare `json:"models"`
	usage.Aggregate
}

// Projects is every project of a span, latest activity first.
type Projects struct {
	Projects       []ProjectSummary `json:"projects"`
	Totals         usage.Aggregate  `json:"totals"`
	UnpricedModels []string         `json:"unpriced_models"`
}

// Projects returns the projects with records in sp.
func (v *Views) Projects(ctx context.Context, sp Span) (Projects, error) {
	rep, err := v.rollup(ctx, sp.Filter(), usage.ByProject, byKey)
	if err != nil {
		return Projects{}, err
	}
	res := Projects{
		Projects:       make([]ProjectSummary, 0, len(rep.Groups)),
		Totals:         rep.Totals.Aggregate,
		UnpricedModels: nonNil(rep.Unpriced),
	}
	for _, g := range rep.Groups {
		f := sp.Filter()
		f.Project = g.Key
		sessions, err := v.SessionCount(ctx, f)
		if err != nil {
			return Projects{}, err
		}
		res.Projects = append(res.Projects, ProjectSummary{
			Project:       g.Key,
			SessionCount:  sessions,
			FirstActivity: g.First.In(v.loc()),
			LastActivity:  g.Last.In(v.loc()),
			Models:        v.modelShares(g.Models),
			Aggregate:     g.Aggregate,
		})
	}
	slices.SortStableFunc(res.Projects, func(a, b ProjectSummary) int {
		return b.LastActivity.Compare(a.LastActivity)
	})
	return res, nil
}
