package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/claude-token-monitor/ctm/internal/config"
	"github.com/claude-token-monitor/ctm/internal/pricing"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// reportKind describes one of the tabular reports: what it groups by and
// how it names its rows.
type reportKind struct {
	name    string // command name
	listKey string // top-level JSON key of the rows
	keyName string // JSON name of a row's key
	title   string // first column header
	dim     usage.Dimension
	period  usage.Period // for ByQuarterHour
}

var reportKinds = map[string]reportKind{
	"daily":    {name: "daily", listKey: "daily", keyName: "date", title: "Date", dim: usage.ByQuarterHour, period: usage.Day},
	"weekly":   {name: "weekly", listKey: "weekly", keyName: "week", title: "Week", dim: usage.ByQuarterHour, period: usage.Week},
	"monthly":  {name: "monthly", listKey: "monthly", keyName: "month", title: "Month", dim: usage.ByQuarterHour, period: usage.Month},
	"session":  {name: "session", listKey: "sessions", keyName: "session_id", title: "Session", dim: usage.BySession},
	"projects": {name: "projects", listKey: "projects", keyName: "project", title: "Project", dim: usage.ByProject},
}

// reportFlags are the flags every report takes besides the configuration.
type reportFlags struct {
	since, until, project string
	json, breakdown       bool
	order, sort           string
}

// sortKeys are the --sort values of the session and projects reports.
var sortKeys = map[string]func(x, y *usage.Group) int{
	"last":   func(x, y *usage.Group) int { return x.Last.Compare(y.Last) },
	"cost":   func(x, y *usage.Group) int { return cmp.Compare(x.CostUSD, y.CostUSD) },
	"tokens": func(x, y *usage.Group) int { return cmp.Compare(x.TotalTokens, y.TotalTokens) },
}

func (f *reportFlags) bind(fs *flag.FlagSet, kind reportKind) {
	fs.StringVar(&f.since, "since", "", "first `day` to include, YYYY-MM-DD or YYYYMMDD")
	fs.StringVar(&f.until, "until", "", "last `day` to include, YYYY-MM-DD or YYYYMMDD")
	fs.StringVar(&f.project, "project", "", "only this project (path, or a unique part of it)")
	fs.BoolVar(&f.json, "json", false, "print JSON instead of a table")
	fs.BoolVar(&f.breakdown, "breakdown", false, "break every row down by model")
	fs.StringVar(&f.order, "order", "asc", "row order: asc or desc")
	f.sort = "last"
	if kind.dim == usage.BySession || kind.dim == usage.ByProject {
		fs.StringVar(&f.sort, "sort", "last", "sort rows by last (activity), cost or tokens; --order desc puts the largest first")
	}
}

// runReport implements the daily, weekly, monthly, session and projects
// commands.
func runReport(ctx context.Context, kind reportKind, args []string, env *environ) int {
	fs := newFlagSet(kind.name, env.stderr, "ctm "+kind.name+" [flags]",
		"Catches up the index, then prints usage per "+strings.ToLower(kind.title)+".")
	var rf reportFlags
	rf.bind(fs, kind)
	a, code := env.openApp(ctx, fs, args, config.DataFlags, false)
	if a == nil {
		return code
	}
	defer a.close()
	if rf.order != "asc" && rf.order != "desc" {
		return a.fail(usage.Errorf(usage.EINVALID, "--order: %q is not asc or desc", rf.order))
	}
	if sortKeys[rf.sort] == nil {
		return a.fail(usage.Errorf(usage.EINVALID, "--sort: %q is not last, cost or tokens", rf.sort))
	}
	// Check the range before the catch-up so that a typo fails at once.
	if err := normalizeDays(&rf.since, &rf.until); err != nil {
		return a.fail(err)
	}
	if _, _, err := usage.DayRange(rf.since, rf.until, a.loc); err != nil {
		return a.fail(err)
	}
	if err := a.catchUp(ctx, env.isatty(env.stderr)); err != nil {
		return a.fail(err)
	}
	rep, err := buildReport(ctx, a, kind, rf)
	if err != nil {
		return a.fail(err)
	}
	if rf.order == "desc" {
		slices.Reverse(rep.Groups)
	}
	if rf.json {
		err = writeReportJSON(a.stdout, kind, rep, rf.breakdown, a.loc)
	} else {
		err = writeReportTable(a.stdout, kind, rep, rf.breakdown, a.loc)
	}
	if err != nil {
		return a.fail(err)
	}
	return 0
}

// buildReport reads the buckets a report needs and rolls them up.
func buildReport(ctx context.Context, a *app, kind reportKind, rf reportFlags) (usage.Report, error) {
	f, err := a.filter(ctx, rf.since, rf.until, rf.project)
	if err != nil {
		return usage.Report{}, err
	}
	buckets, err := a.store.Aggregate(ctx, f, kind.dim)
	if err != nil {
		return usage.Report{}, err
	}
	key := func(b *usage.Bucket) string { return b.Key }
	if kind.dim == usage.ByQuarterHour {
		key = kind.period.KeyFunc(a.loc)
	}
	rep := usage.Rollup(buckets, a.prices, key)
	if kind.dim == usage.BySession || kind.dim == usage.ByProject {
		// People read these by recency (or cost), not by id.
		by := sortKeys[rf.sort]
		slices.SortStableFunc(rep.Groups, func(x, y usage.Group) int { return by(&x, &y) })
	}
	return rep, nil
}

// reportRow is one row of a report's JSON. Exactly one key field is set.
type reportRow struct {
	Date          string `json:"date,omitempty"`
	Week          string `json:"week,omitempty"`
	Month         string `json:"month,omitempty"`
	SessionID     string `json:"session_id,omitempty"`
	Project       string `json:"project,omitempty"`
	FirstActivity string `json:"first_activity,omitempty"`
	LastActivity  string `json:"last_activity,omitempty"`
	usage.Aggregate
	Models          []string               `json:"models"`
	ModelBreakdowns []usage.ModelAggregate `json:"model_breakdowns,omitempty"`
}

type reportTotals struct {
	usage.Aggregate
	Models          []string               `json:"models"`
	ModelBreakdowns []usage.ModelAggregate `json:"model_breakdowns,omitempty"`
}

func newReportRow(kind reportKind, g *usage.Group, breakdown bool, loc *time.Location) reportRow {
	r := reportRow{Aggregate: g.Aggregate, Models: g.ModelNames()}
	switch kind.keyName {
	case "date":
		r.Date = g.Key
	case "week":
		r.Week = g.Key
	case "month":
		r.Month = g.Key
	case "session_id":
		r.SessionID, r.Project = g.Key, g.Project
	case "project":
		r.Project = g.Key
	}
	if kind.dim == usage.BySession || kind.dim == usage.ByProject {
		r.FirstActivity = g.First.In(loc).Format(time.RFC3339)
		r.LastActivity = g.Last.In(loc).Format(time.RFC3339)
	}
	if breakdown {
		r.ModelBreakdowns = g.Models
	}
	return r
}

func writeReportJSON(w io.Writer, kind reportKind, rep usage.Report, breakdown bool, loc *time.Location) error {
	rows := make([]reportRow, len(rep.Groups))
	for i := range rep.Groups {
		rows[i] = newReportRow(kind, &rep.Groups[i], breakdown, loc)
	}
	totals := reportTotals{Aggregate: rep.Totals.Aggregate, Models: rep.Totals.ModelNames()}
	if breakdown {
		totals.ModelBreakdowns = rep.Totals.Models
	}
	out := map[string]any{
		kind.listKey:      rows,
		"totals":          totals,
		"unpriced_models": nonNil(rep.Unpriced),
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func writeReportTable(w io.Writer, kind reportKind, rep usage.Report, breakdown bool, loc *time.Location) error {
	if len(rep.Groups) == 0 {
		_, err := fmt.Fprintln(w, "No usage found for the selected range.")
		return err
	}
	header := []string{kind.title, "Models", "Input", "Output", "Cache Create", "Cache Read", "Total Tokens", "Cost (USD)"}
	if kind.dim == usage.BySession {
		header = slices.Insert(header, 1, "Project", "Last Activity")
	}
	t := newTable(header...)
	first := len(header) - 6
	t.alignRight(first, first+1, first+2, first+3, first+4, first+5)
	figures := func(a *usage.Aggregate) []string {
		return []string{formatInt(a.Input), formatInt(a.Output), formatInt(a.CacheCreationTokens),
			formatInt(a.CacheRead), formatInt(a.TotalTokens), formatCost(a.CostUSD)}
	}
	for i := range rep.Groups {
		g := &rep.Groups[i]
		cells := []string{displayKey(kind, g.Key)}
		if kind.dim == usage.BySession {
			cells = append(cells, shortProject(g.Project), g.Last.In(loc).Format("2006-01-02 15:04"))
		}
		cells = append(cells, strings.Join(shortModels(g.ModelNames()), ", "))
		t.add(append(cells, figures(&g.Aggregate)...)...)
		if breakdown && len(g.Models) > 0 {
			for _, m := range g.Models {
				sub := make([]string, len(header)-6)
				sub[len(sub)-1] = "  └ " + shortModel(m.Model)
				t.add(append(sub, figures(&m.Aggregate)...)...)
			}
		}
	}
	total := make([]string, len(header)-6)
	total[0] = "Total"
	t.addTotal(append(total, figures(&rep.Totals.Aggregate)...)...)
	if err := t.render(w); err != nil {
		return err
	}
	if len(rep.Unpriced) > 0 {
		_, err := fmt.Fprintf(w, "\nNo price known for %s: their cost is counted as $0.00; %s.\n", strings.Join(rep.Unpriced, ", "), pricing.UnpricedHint)
		return err
	}
	return nil
}

func displayKey(kind reportKind, key string) string {
	switch kind.dim {
	case usage.ByProject:
		return shortProject(key)
	case usage.BySession:
		if len(key) > 8 {
			return key[:8]
		}
	}
	return key
}

// shortProject keeps the last two path elements, enough to tell projects
// apart in a table without the home directory noise.
func shortProject(p string) string {
	parts := strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' })
	if len(parts) > 2 {
		parts = parts[len(parts)-2:]
	}
	if len(parts) == 0 {
		return p
	}
	return strings.Join(parts, "/")
}

// shortModel drops the "claude-" prefix and a trailing date stamp.
func shortModel(m string) string {
	m = strings.TrimPrefix(m, "claude-")
	if i := strings.LastIndexByte(m, '-'); i > 0 && len(m)-i-1 == 8 && strings.Trim(m[i+1:], "0123456789") == "" {
		m = m[:i]
	}
	return m
}

func shortModels(ms []string) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = shortModel(m)
	}
	return out
}
