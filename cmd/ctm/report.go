package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/claude-token-monitor/ctm/internal/config"
	"github.com/claude-token-monitor/ctm/internal/pricing"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

// reportFlags are the flags every report takes besides the configuration.
type reportFlags struct {
	since, until, project string
	json, breakdown       bool
	order, sort           string
}

func (f *reportFlags) bind(fs *flag.FlagSet, kind views.ReportKind) {
	fs.StringVar(&f.since, "since", "", "first `day` to include, YYYY-MM-DD or YYYYMMDD")
	fs.StringVar(&f.until, "until", "", "last `day` to include, YYYY-MM-DD or YYYYMMDD")
	fs.StringVar(&f.project, "project", "", "only this project (path, or a unique part of it)")
	fs.BoolVar(&f.json, "json", false, "print JSON instead of a table")
	fs.BoolVar(&f.breakdown, "breakdown", false, "break every row down by model")
	fs.StringVar(&f.order, "order", "asc", "row order: asc or desc")
	f.sort = "last"
	if kind.Sortable() {
		fs.StringVar(&f.sort, "sort", "last", "sort rows by last (activity), cost or tokens; --order desc puts the largest first")
	}
}

// runReport implements the daily, weekly, monthly, session and projects
// commands.
func runReport(ctx context.Context, kind views.ReportKind, args []string, env *environ) int {
	fs := newFlagSet(kind.Name, env.stderr, "ctm "+kind.Name+" [flags]",
		"Catches up the index, then prints usage per "+strings.ToLower(kind.Title)+".")
	var rf reportFlags
	rf.bind(fs, kind)
	a, code := env.openApp(ctx, fs, args, config.DataFlags, catchUpLater)
	if a == nil {
		return code
	}
	defer a.close()
	if rf.order != "asc" && rf.order != "desc" {
		return a.fail(usage.Errorf(usage.EINVALID, "--order: %q is not asc or desc", rf.order))
	}
	if views.SortKeys[rf.sort] == nil {
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
	rep, err := a.views(nil).Report(ctx, views.ReportQuery{
		Kind: kind, Since: rf.since, Until: rf.until, Project: rf.project,
		Sort: rf.sort, Descending: rf.order == "desc", Breakdown: rf.breakdown, AgentSplit: rf.json,
	})
	if err != nil {
		return a.fail(flagError(err))
	}
	if rf.json {
		err = writeReportJSON(a.stdout, rep)
	} else {
		err = writeReportTable(a.stdout, rep, a.loc)
	}
	if err != nil {
		return a.fail(err)
	}
	return 0
}

// flagError names the flag of a view's error about one of its fields,
// such as "project: ...", as the command line spells it: "--project: ...".
func flagError(err error) error {
	var e *usage.Error
	if errors.As(err, &e) && strings.HasPrefix(e.Message, "project: ") {
		return usage.Errorf(e.Code, "--%s", e.Message)
	}
	return err
}

// writeReportJSON prints rep as --json does.
func writeReportJSON(w io.Writer, rep views.Report) error {
	b, err := rep.AppendJSON(nil, "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func writeReportTable(w io.Writer, rep views.Report, loc *time.Location) error {
	kind, breakdown := rep.Kind, rep.Breakdown
	if len(rep.Groups) == 0 {
		_, err := fmt.Fprintln(w, "No usage found for the selected range.")
		return err
	}
	header := []string{kind.Title, "Models", "Input", "Output", "Cache Create", "Cache Read", "Total Tokens", "Cost (USD)"}
	if kind.Dim == usage.BySession {
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
		if kind.Dim == usage.BySession {
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

func displayKey(kind views.ReportKind, key string) string {
	switch kind.Dim {
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
