package views

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// ReportKind describes one of the tabular reports (ctm daily, weekly,
// monthly, session, projects): what it groups by and how its JSON names
// its rows.
type ReportKind struct {
	// Name is the command name.
	Name string
	// ListKey is the top-level JSON key of the rows.
	ListKey string
	// KeyName is the JSON name of a row's key.
	KeyName string
	// Title is the first column header of the table.
	Title string
	Dim   usage.Dimension
	// Period is the calendar cut of a ByQuarterHour report.
	Period usage.Period
}

// ReportKinds are the reports, by command name.
var ReportKinds = map[string]ReportKind{
	"daily":    {Name: "daily", ListKey: "daily", KeyName: "date", Title: "Date", Dim: usage.ByQuarterHour, Period: usage.Day},
	"weekly":   {Name: "weekly", ListKey: "weekly", KeyName: "week", Title: "Week", Dim: usage.ByQuarterHour, Period: usage.Week},
	"monthly":  {Name: "monthly", ListKey: "monthly", KeyName: "month", Title: "Month", Dim: usage.ByQuarterHour, Period: usage.Month},
	"session":  {Name: "session", ListKey: "sessions", KeyName: "session_id", Title: "Session", Dim: usage.BySession},
	"projects": {Name: "projects", ListKey: "projects", KeyName: "project", Title: "Project", Dim: usage.ByProject},
}

// Sortable reports whether rows of k can be sorted by ReportQuery.Sort;
// calendar rows are always in calendar order.
func (k ReportKind) Sortable() bool { return k.Dim == usage.BySession || k.Dim == usage.ByProject }

// SortKeys are the ReportQuery.Sort values, each an ascending order.
var SortKeys = map[string]func(x, y *usage.Group) int{
	"last":   func(x, y *usage.Group) int { return x.Last.Compare(y.Last) },
	"cost":   func(x, y *usage.Group) int { return cmp.Compare(x.CostUSD, y.CostUSD) },
	"tokens": func(x, y *usage.Group) int { return cmp.Compare(x.TotalTokens, y.TotalTokens) },
}

// ReportQuery selects a report.
type ReportQuery struct {
	Kind ReportKind
	// Since and Until are an inclusive range of YYYY-MM-DD days in the
	// views' zone; "" leaves a bound open.
	Since, Until string
	// Project is a project's path or a unique part of it; "" is all.
	Project string
	// Sort is a SortKeys name for sortable kinds; "" is "last".
	Sort string
	// Descending reverses the row order.
	Descending bool
	// Breakdown adds a per-model breakdown to every row.
	Breakdown bool
	// AgentSplit adds each session's main and subagent cost to the rows
	// of a session report. It reads every record of the range, so only
	// the JSON, which shows it, asks for it.
	AgentSplit bool
}

// Report is a report's rows and totals. It marshals to the JSON of the
// CLI's --json: {"<list key>": rows, "totals": ..., "unpriced_models": ...}.
type Report struct {
	Kind ReportKind
	usage.Report
	Breakdown bool
	loc       *time.Location
	// splits are the sessions' main/subagent costs, for session reports.
	splits map[string]*AgentSplit
}

// Report returns the report q selects. Bad days, an unknown sort and a
// project that matches none or several are EINVALID or ENOTFOUND errors
// that name the field: since, until, sort or project.
func (v *Views) Report(ctx context.Context, q ReportQuery) (Report, error) {
	res := Report{Kind: q.Kind, Breakdown: q.Breakdown, loc: v.loc()}
	var f usage.Filter
	var err error
	if f.Since, f.Until, err = usage.DayRange(q.Since, q.Until, v.loc()); err != nil {
		return res, err
	}
	if q.Sort == "" {
		q.Sort = "last"
	}
	by := SortKeys[q.Sort]
	if by == nil {
		return res, usage.Errorf(usage.EINVALID, "sort: %q is not last, cost or tokens", q.Sort)
	}
	if q.Project != "" {
		if f.Project, err = v.ResolveProject(ctx, q.Project); err != nil {
			return res, err
		}
	}
	key := byKey
	if q.Kind.Dim == usage.ByQuarterHour {
		key = q.Kind.Period.KeyFunc(v.loc())
	}
	if res.Report, err = v.rollup(ctx, f, q.Kind.Dim, key); err != nil {
		return res, err
	}
	if q.Kind.Dim == usage.BySession && q.AgentSplit {
		if res.splits, err = v.agentSplits(ctx, f); err != nil {
			return res, err
		}
	}
	if q.Kind.Sortable() {
		// People read these by recency (or cost), not by id.
		slices.SortStableFunc(res.Groups, func(x, y usage.Group) int { return by(&x, &y) })
	}
	if q.Descending {
		slices.Reverse(res.Groups)
	}
	return res, nil
}

// ResolveProject accepts a project's full path or any unique part of it,
// so that "api" finds "/home/me/src/api". Returns ENOTFOUND when nothing
// matches and EINVALID when several do, both naming the field project.
func (v *Views) ResolveProject(ctx context.Context, name string) (string, error) {
	buckets, err := v.Store.Aggregate(ctx, usage.Filter{}, usage.ByProject)
	if err != nil {
		return "", err
	}
	var matches []string
	seen := map[string]bool{}
	for _, b := range buckets {
		if seen[b.Key] {
			continue
		}
		seen[b.Key] = true
		if b.Key == name {
			return name, nil
		}
		if strings.Contains(strings.ToLower(b.Key), strings.ToLower(name)) {
			matches = append(matches, b.Key)
		}
	}
	switch len(matches) {
	case 0:
		return "", usage.Errorf(usage.ENOTFOUND, "project: no project matches %q", name)
	case 1:
		return matches[0], nil
	default:
		return "", usage.Errorf(usage.EINVALID, "project: %q matches %d projects: %s", name, len(matches), strings.Join(matches, ", "))
	}
}

// ReportRow is one row of a report's JSON. Exactly one key field is set.
type ReportRow struct {
	Date          string `json:"date,omitempty"`
	Week          string `json:"week,omitempty"`
	Month         string `json:"month,omitempty"`
	SessionID     string `json:"session_id,omitempty"`
	Project       string `json:"project,omitempty"`
	FirstActivity string `json:"first_activity,omitempty"`
	LastActivity  string `json:"last_activity,omitempty"`
	usage.Aggregate
	// CostMainUSD and CostSubagentsUSD divide a session's cost between its
	// own requests and its subagents' (session reports only).
	CostMainUSD      *usage.Money           `json:"cost_main_usd,omitempty"`
	CostSubagentsUSD *usage.Money           `json:"cost_subagents_usd,omitempty"`
	Models           []string               `json:"models"`
	ModelBreakdowns  []usage.ModelAggregate `json:"model_breakdowns,omitempty"`
}

// ReportTotals is the totals member of a report's JSON.
type ReportTotals struct {
	usage.Aggregate
	Models          []string               `json:"models"`
	ModelBreakdowns []usage.ModelAggregate `json:"model_breakdowns,omitempty"`
}

// Rows returns the report's rows as its JSON holds them.
func (r *Report) Rows() []ReportRow {
	rows := make([]ReportRow, len(r.Groups))
	for i := range r.Groups {
		g := &r.Groups[i]
		row := ReportRow{Aggregate: g.Aggregate, Models: g.ModelNames()}
		switch r.Kind.KeyName {
		case "date":
			row.Date = g.Key
		case "week":
			row.Week = g.Key
		case "month":
			row.Month = g.Key
		case "session_id":
			row.SessionID, row.Project = g.Key, g.Project
			if r.splits != nil {
				var sp AgentSplit
				if p := r.splits[g.Key]; p != nil {
					sp = *p
				}
				row.CostMainUSD, row.CostSubagentsUSD = &sp.CostMainUSD, &sp.CostSubagentsUSD
			}
		case "project":
			row.Project = g.Key
		}
		if r.Kind.Sortable() {
			row.FirstActivity = g.First.In(r.loc).Format(time.RFC3339)
			row.LastActivity = g.Last.In(r.loc).Format(time.RFC3339)
		}
		if r.Breakdown {
			row.ModelBreakdowns = g.Models
		}
		rows[i] = row
	}
	return rows
}

// MarshalJSON writes the report as the CLI's --json prints it, compact
// (see AppendJSON).
func (r Report) MarshalJSON() ([]byte, error) { return r.AppendJSON(nil, "") }
