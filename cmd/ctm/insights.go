package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/config"
	"github.com/claude-token-monitor/ctm/internal/pricing"
	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

// rangeFlags are the --since, --until and --project flags of breakdown and
// prompts.
type rangeFlags struct {
	since, until, project string
	json                  bool
}

func (f *rangeFlags) bind(fs interface {
	StringVar(p *string, name, value, usage string)
	BoolVar(p *bool, name string, value bool, usage string)
}) {
	fs.StringVar(&f.since, "since", "", "first `day` to include, YYYY-MM-DD or YYYYMMDD")
	fs.StringVar(&f.until, "until", "", "last `day` to include, YYYY-MM-DD or YYYYMMDD")
	fs.StringVar(&f.project, "project", "", "only this project (path, or a unique part of it)")
	fs.BoolVar(&f.json, "json", false, "print JSON instead of a table")
}

// check validates the range before the catch-up, so that a typo fails at
// once.
func (f *rangeFlags) check(loc *time.Location) error {
	if err := normalizeDays(&f.since, &f.until); err != nil {
		return err
	}
	_, _, err := usage.DayRange(f.since, f.until, loc)
	return err
}

// runBreakdown implements ctm breakdown: where the money went.
func runBreakdown(ctx context.Context, args []string, env *environ) int {
	fs := newFlagSet("breakdown", env.stderr, "ctm breakdown --by branch|agent|skill|project|model [flags]",
		"Catches up the index, then prints usage and cost cut by git branch, agent (main,\n"+
			"a subagent type, or subagent), skill/plugin/agent attribution, project or model.\n"+
			"The rows add up to the daily report's totals for the same range.")
	var rf rangeFlags
	rf.bind(fs)
	var by string
	fs.StringVar(&by, "by", "agent", "the cut: "+strings.Join(views.BreakdownDims, ", "))
	a, code := env.openApp(ctx, fs, args, config.DataFlags, catchUpLater)
	if a == nil {
		return code
	}
	defer a.close()
	if !slices.Contains(views.BreakdownDims, by) {
		return a.fail(usage.Errorf(usage.EINVALID, "--by: %q is not one of %s", by, strings.Join(views.BreakdownDims, ", ")))
	}
	if err := rf.check(a.loc); err != nil {
		return a.fail(err)
	}
	if err := a.catchUp(ctx, env.isatty(env.stderr)); err != nil {
		return a.fail(err)
	}
	b, err := a.views(nil).Breakdown(ctx, views.BreakdownQuery{By: by, Since: rf.since, Until: rf.until, Project: rf.project})
	if err != nil {
		return a.fail(flagError(err))
	}
	if rf.json {
		err = writeJSON(a.stdout, b)
	} else {
		err = writeBreakdownTable(a.stdout, b)
	}
	if err != nil {
		return a.fail(err)
	}
	return 0
}

// breakdownTitles are the first column headers of ctm breakdown.
var breakdownTitles = map[string]string{"branch": "Branch", "agent": "Agent", "skill": "Skill", "project": "Project", "model": "Model"}

func writeBreakdownTable(w io.Writer, b views.Breakdown) error {
	if len(b.Rows) == 0 {
		_, err := fmt.Fprintln(w, "No usage found for the selected range.")
		return err
	}
	t := newTable(breakdownTitles[b.By], "Entries", "Input", "Output", "Cache Create", "Cache Read", "Total Tokens", "Cost (USD)", "Share")
	t.alignRight(1, 2, 3, 4, 5, 6, 7, 8)
	figures := func(a *usage.Aggregate) []string {
		return []string{formatInt(a.Entries), formatInt(a.Input), formatInt(a.Output), formatInt(a.CacheCreationTokens),
			formatInt(a.CacheRead), formatInt(a.TotalTokens), formatCost(a.CostUSD), share(a.CostUSD, b.Totals.CostUSD)}
	}
	for i := range b.Rows {
		r := &b.Rows[i]
		key := r.Key
		switch b.By {
		case "project":
			key = shortProject(key)
		case "model":
			key = shortModel(key)
		}
		t.add(append([]string{key}, figures(&r.Aggregate)...)...)
	}
	t.addTotal(append([]string{"Total"}, figures(&b.Totals)...)...)
	if err := t.render(w); err != nil {
		return err
	}
	return unpricedNote(w, b.UnpricedModels)
}

// share formats part/whole as a percentage with one decimal.
func share(part, whole usage.Money) string {
	if whole <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(whole))
}

func unpricedNote(w io.Writer, unpriced []string) error {
	if len(unpriced) == 0 {
		return nil
	}
	_, err := fmt.Fprintf(w, "\nNo price known for %s: their cost is counted as $0.00; %s.\n", strings.Join(unpriced, ", "), pricing.UnpricedHint)
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// runPrompts implements ctm prompts: the most expensive prompts.
func runPrompts(ctx context.Context, args []string, env *environ) int {
	fs := newFlagSet("prompts", env.stderr, "ctm prompts [--top N] [flags]",
		"Catches up the index, then lists the prompts you typed with what the responses\n"+
			"they led to cost (until the next prompt of the session, subagents included),\n"+
			"most expensive first. With --top 0 every row is listed and the rows add up to the\n"+
			"daily report's totals for the same range.")
	var rf rangeFlags
	rf.bind(fs)
	var top int
	var sortBy, session string
	fs.IntVar(&top, "top", 10, "how many prompts to list; 0 lists all")
	fs.StringVar(&sortBy, "sort", "cost", "order: cost (most expensive first) or time (earliest first)")
	fs.StringVar(&session, "session", "", "only this session (its id)")
	a, code := env.openApp(ctx, fs, args, config.DataFlags, catchUpLater)
	if a == nil {
		return code
	}
	defer a.close()
	if top < 0 {
		return a.fail(usage.Errorf(usage.EINVALID, "--top: %d is negative", top))
	}
	if sortBy != "cost" && sortBy != "time" {
		return a.fail(usage.Errorf(usage.EINVALID, "--sort: %q is not cost or time", sortBy))
	}
	if err := rf.check(a.loc); err != nil {
		return a.fail(err)
	}
	if err := a.catchUp(ctx, env.isatty(env.stderr)); err != nil {
		return a.fail(err)
	}
	p, err := a.views(nil).Prompts(ctx, views.PromptsQuery{Since: rf.since, Until: rf.until, Project: rf.project, SessionID: session, Top: top, Sort: sortBy})
	if err != nil {
		return a.fail(flagError(err))
	}
	if rf.json {
		err = writeJSON(a.stdout, p)
	} else {
		err = writePromptsTable(a.stdout, p, a.loc)
	}
	if err != nil {
		return a.fail(err)
	}
	return 0
}

// promptColumn is how much of a prompt the table shows on one line.
const promptColumn = 60

func writePromptsTable(w io.Writer, p views.Prompts, loc *time.Location) error {
	if len(p.Prompts) == 0 {
		_, err := fmt.Fprintln(w, "No usage found for the selected range.")
		return err
	}
	t := newTable("#", "Time", "Session", "Project", "Prompt", "Entries", "Total Tokens", "Cost (USD)", "Subagents")
	t.alignRight(0, 5, 6, 7, 8)
	var shown usage.Aggregate
	var shownSub usage.Money
	for i := range p.Prompts {
		r := &p.Prompts[i]
		sess := r.SessionID
		if len(sess) > 8 {
			sess = sess[:8]
		}
		t.add(fmt.Sprint(i+1), r.Timestamp.In(loc).Format("2006-01-02 15:04"), sess, shortProject(r.Project),
			oneLine(r.Text, promptColumn), formatInt(r.Entries), formatInt(r.TotalTokens), formatCost(r.CostUSD), formatCost(r.CostSubagentsUSD))
		shown.Entries += r.Entries
		shown.TotalTokens += r.TotalTokens
		shown.CostUSD = shown.CostUSD.Add(r.CostUSD)
		shownSub = shownSub.Add(r.CostSubagentsUSD)
	}
	if len(p.Prompts) < p.RowCount {
		t.addTotal("", "", "", "", fmt.Sprintf("Top %d: %s of the cost", len(p.Prompts), share(shown.CostUSD, p.Totals.CostUSD)),
			formatInt(shown.Entries), formatInt(shown.TotalTokens), formatCost(shown.CostUSD), formatCost(shownSub))
		t.add("", "", "", "", fmt.Sprintf("All %d rows", p.RowCount), formatInt(p.Totals.Entries), formatInt(p.Totals.TotalTokens), formatCost(p.Totals.CostUSD), "")
	} else {
		t.addTotal("", "", "", "", "Total", formatInt(p.Totals.Entries), formatInt(p.Totals.TotalTokens), formatCost(p.Totals.CostUSD), formatCost(shownSub))
	}
	if err := t.render(w); err != nil {
		return err
	}
	return unpricedNote(w, p.UnpricedModels)
}

// oneLine returns the first n characters of s with line breaks and runs
// of spaces folded into one space, "…" marking a cut.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
