package views

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// BreakdownDims are the cuts of a Breakdown, in the order help texts list
// them.
var BreakdownDims = []string{"branch", "agent", "skill", "project", "model"}

// NoneLabel is the key of the records that have no branch or attribution.
const NoneLabel = "(none)"

// recordPage is how many records a view reads from the store at a time:
// views that need fields the aggregates do not hold stream the records,
// so memory stays bounded whatever the range.
const recordPage = 5000

// BreakdownQuery selects a Breakdown.
type BreakdownQuery struct {
	// By is one of BreakdownDims.
	By string
	// Since and Until are an inclusive range of YYYY-MM-DD days in the
	// views' zone; "" leaves a bound open.
	Since, Until string
	// Project is a project's path or a unique part of it; "" is all.
	Project string
}

// BreakdownRow is the sum of the records that share one key of a cut.
type BreakdownRow struct {
	// Key is the branch, agent label, attribution ("skill:<name>",
	// "plugin:<name>", "agent:<name>"), project or model; NoneLabel for
	// records without a branch or attribution.
	Key    string   `json:"key"`
	Models []string `json:"models"`
	usage.Aggregate
}

// Breakdown is where the money went: the records of a range cut by one
// field, most expensive first. Its rows add up exactly to Totals, which
// are the daily report's totals for the same range.
type Breakdown struct {
	By             string          `json:"by"`
	Since          string          `json:"since,omitempty"`
	Until          string          `json:"until,omitempty"`
	Timezone       string          `json:"timezone"`
	Rows           []BreakdownRow  `json:"rows"`
	Totals         usage.Aggregate `json:"totals"`
	UnpricedModels []string        `json:"unpriced_models"`
}

// Breakdown returns the cut q selects. An unknown By, bad days and a
// project that matches none or several are EINVALID or ENOTFOUND errors
// naming by, since, until or project.
func (v *Views) Breakdown(ctx context.Context, q BreakdownQuery) (Breakdown, error) {
	res := Breakdown{By: q.By, Since: q.Since, Until: q.Until, Timezone: v.loc().String(), Rows: []BreakdownRow{}, UnpricedModels: []string{}}
	if !slices.Contains(BreakdownDims, q.By) {
		return res, usage.Errorf(usage.EINVALID, "by: %q is not one of %s", q.By, strings.Join(BreakdownDims, ", "))
	}
	f, err := v.rangeFilter(ctx, q.Since, q.Until, q.Project)
	if err != nil {
		return res, err
	}
	var rep usage.Report
	switch q.By {
	case "project":
		// The aggregates hold these cuts; no need to read the records.
		rep, err = v.rollup(ctx, f, usage.ByProject, byKey)
	case "model":
		rep, err = v.rollup(ctx, f, usage.ByNothing, func(b *usage.Bucket) string { return b.Model })
	default:
		// Only records hold these cuts; the store sums them.
		rep, err = v.rollup(ctx, f, recordDims[q.By], func(b *usage.Bucket) string { return orNone(b.Key) })
	}
	if err != nil {
		return res, err
	}
	res.Rows = breakdownRows(rep)
	res.Totals = rep.Totals.Aggregate
	res.UnpricedModels = nonNil(rep.Unpriced)
	return res, nil
}

// breakdownRows returns the groups of rep as rows, most expensive first.
func breakdownRows(rep usage.Report) []BreakdownRow {
	rows := make([]BreakdownRow, 0, len(rep.Groups))
	for i := range rep.Groups {
		g := &rep.Groups[i]
		rows = append(rows, BreakdownRow{Key: g.Key, Models: g.ModelNames(), Aggregate: g.Aggregate})
	}
	slices.SortStableFunc(rows, func(a, b BreakdownRow) int {
		if c := cmp.Compare(b.CostUSD, a.CostUSD); c != 0 {
			return c
		}
		if c := cmp.Compare(b.TotalTokens, a.TotalTokens); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	return rows
}

// recordDims are the store's dimensions of the cuts that only records
// hold.
var recordDims = map[string]usage.Dimension{"branch": usage.ByBranch, "agent": usage.ByAgent, "skill": usage.ByAttribution}

func orNone(s string) string {
	if s == "" {
		return NoneLabel
	}
	return s
}

// rangeFilter is the filter of an inclusive range of days and a project
// (a unique part of its path), with errors naming since, until or project.
func (v *Views) rangeFilter(ctx context.Context, since, until, project string) (usage.Filter, error) {
	var f usage.Filter
	var err error
	if f.Since, f.Until, err = usage.DayRange(since, until, v.loc()); err != nil {
		return f, err
	}
	if project != "" {
		if f.Project, err = v.ResolveProject(ctx, project); err != nil {
			return f, err
		}
	}
	return f, nil
}

// eachRecord calls fn with every record that passes f, in timestamp
// order, reading them a page at a time. Each page starts at the timestamp
// the last one ended on (skipping the records of that millisecond already
// seen) rather than at an offset: an offset costs a walk over every record
// before it, and a record stored meanwhile earlier in the order (a
// catch-up under ctm serve) would shift the next page onto records already
// counted.
func (v *Views) eachRecord(ctx context.Context, f usage.Filter, fn func(r *usage.Record)) error {
	var (
		last time.Time
		// seen holds the keys of the records at last that fn has had.
		seen = map[string]bool{}
	)
	for first := true; ; first = false {
		page := usage.Page{Limit: recordPage}
		if !first {
			f.Since = last
			// Stores order ties by insertion, so the records at last
			// that were seen come first; a record stored at last since
			// then comes after them and is not skipped.
			page.Offset = len(seen)
		}
		recs, err := v.Store.Records(ctx, f, page)
		if err != nil {
			return fmt.Errorf("records: %w", err)
		}
		for i := range recs {
			r := &recs[i]
			if !r.Timestamp.Equal(last) {
				last = r.Timestamp
				clear(seen)
			} else if seen[r.Key] {
				continue
			}
			seen[r.Key] = true
			fn(r)
		}
		if len(recs) < recordPage {
			return nil
		}
	}
}

// recordSums sums records into one bucket per (key, model): what the
// store's Aggregate does for its own dimensions, here for any key, so
// that usage.Rollup sums both the same way.
type recordSums map[[2]string]*usage.Bucket

func (s recordSums) add(key string, r *usage.Record) {
	k := [2]string{key, r.Model}
	b := s[k]
	if b == nil {
		b = &usage.Bucket{Key: key, Model: r.Model}
		s[k] = b
	}
	b.Tokens = b.Tokens.Add(r.Tokens)
	b.Cost = b.Cost.Add(r.Cost)
	b.Entries++
	if b.First.IsZero() || r.Timestamp.Before(b.First) {
		b.First = r.Timestamp
	}
	if !r.Timestamp.Before(b.Last) {
		b.Last = r.Timestamp
		b.Project = r.Project
	}
}

func (s recordSums) rollup(p usage.Pricer) usage.Report {
	buckets := make([]usage.Bucket, 0, len(s))
	for _, b := range s {
		buckets = append(buckets, *b)
	}
	return usage.Rollup(buckets, p, byKey)
}

// AgentSplit is what a session's own requests and its subagents' cost.
type AgentSplit struct {
	CostMainUSD      usage.Money `json:"cost_main_usd"`
	CostSubagentsUSD usage.Money `json:"cost_subagents_usd"`
}

func (a *AgentSplit) add(r *usage.Record) {
	if r.AgentLabel() == usage.AgentMain {
		a.CostMainUSD = a.CostMainUSD.Add(r.Cost)
	} else {
		a.CostSubagentsUSD = a.CostSubagentsUSD.Add(r.Cost)
	}
}

// agentSplits returns the main/subagent cost of every session with
// records that pass f.
func (v *Views) agentSplits(ctx context.Context, f usage.Filter) (map[string]*AgentSplit, error) {
	out := map[string]*AgentSplit{}
	err := v.eachRecord(ctx, f, func(r *usage.Record) {
		s := out[r.SessionID]
		if s == nil {
			s = &AgentSplit{}
			out[r.SessionID] = s
		}
		s.add(r)
	})
	return out, err
}

// AddAgentSplits fills in the AgentSplit of each of sessions from their
// records in the span and project of q. It sums the records of those
// sessions only (the store indexes records by session), so a page of a
// long list costs what its sessions hold, not a scan of every record.
func (v *Views) AddAgentSplits(ctx context.Context, q SessionsQuery, sessions []SessionSummary) error {
	for i := range sessions {
		f := q.Span.Filter()
		f.Project, f.Model, f.SessionID = q.Project, q.Model, sessions[i].SessionID
		buckets, err := v.Store.Aggregate(ctx, f, usage.ByAgent)
		if err != nil {
			return fmt.Errorf("aggregate: %w", err)
		}
		var sp AgentSplit
		for _, b := range buckets {
			if b.Key == usage.AgentMain {
				sp.CostMainUSD = sp.CostMainUSD.Add(b.Cost)
			} else {
				sp.CostSubagentsUSD = sp.CostSubagentsUSD.Add(b.Cost)
			}
		}
		sessions[i].AgentSplit = sp
	}
	return nil
}
