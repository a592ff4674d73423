package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/config"
	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

// Exit codes of --exit-code, as Claude-Code-Usage-Monitor's: near is 80 %
// of a budget or limit or more, over is 100 % or more.
const (
	exitNear = 10
	exitOver = 11
)

// budgetOutput is what ctm budget --json prints: GET /budgets and GET
// /limits side by side.
type budgetOutput = views.BudgetReport

// runBudget implements ctm budget.
func runBudget(ctx context.Context, args []string, env *environ) int {
	return runBudgetAt(ctx, args, env, time.Now)
}

// runBudgetAt is runBudget with a clock, for tests.
func runBudgetAt(ctx context.Context, args []string, env *environ, clock func() time.Time) int {
	fs := newFlagSet("budget", env.stderr, "ctm budget [--json] [--exit-code] [flags]",
		"Catches up the index, then prints each budget of BUDGETS_FILE in its current\n"+
			"period (spent, share, projection to the period's end) and Claude's 5-hour and\n"+
			"weekly limits as estimated from the rate_limits samples ctm statusline stored.\n"+
			"With --exit-code it exits 10 when a budget is near (80 % or more) and 11 when one\n"+
			"is over (100 % or more).")
	jsonOut := fs.Bool("json", false, "print JSON instead of a table")
	exitCode := fs.Bool("exit-code", false, "exit 10 when a budget is at 80 % or more, 11 at 100 % or more")
	a, code := env.openApp(ctx, fs, args, config.DataFlags, catchUpNow)
	if a == nil {
		return code
	}
	defer a.close()
	out, err := a.views(clock).BudgetReport(ctx, a.budgets.Budgets)
	if err != nil {
		return a.fail(err)
	}
	if *jsonOut {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(out)
	} else {
		err = writeBudgetTable(a.stdout, out, a.cfg.BudgetsFile, a.loc)
	}
	if err != nil {
		return a.fail(err)
	}
	if *exitCode {
		switch out.Status {
		case views.BudgetOver:
			return exitOver
		case views.BudgetNear:
			return exitNear
		}
	}
	return 0
}

// writeBudgetTable prints the budgets and the limits for people.
func writeBudgetTable(w io.Writer, out budgetOutput, file string, loc *time.Location) error {
	var b strings.Builder
	if len(out.Budgets) == 0 {
		if file == "" {
			b.WriteString("No budgets: set BUDGETS_FILE (or --budgets-file) to a JSON or TOML file; see docs/configuration.md.\n")
		} else {
			fmt.Fprintf(&b, "No budgets in %s.\n", file)
		}
	} else {
		t := newTable("Budget", "Period", "Scope", "Since", "Spent", "Budget", "Used", "Status", "Projected")
		t.alignRight(4, 5, 6, 8)
		for _, st := range out.Budgets {
			scope := "all"
			switch {
			case st.Project != "" && st.User != "":
				scope = st.Project + " / " + st.User
			case st.Project != "":
				scope = st.Project
			case st.User != "":
				scope = "user " + st.User
			}
			t.add(st.ID, string(st.Period), scope, st.PeriodStart.In(loc).Format("2006-01-02"),
				formatCost(st.Spent), formatCost(st.Amount), fmt.Sprintf("%.1f%%", st.Percent), st.Status, formatCost(st.Projected))
		}
		if err := t.render(&b); err != nil {
			return err
		}
		for _, st := range out.Budgets {
			if len(st.UnpricedModels) > 0 {
				fmt.Fprintf(&b, "Budget %s: no price known for %s; their cost counts as $0.00.\n", st.ID, strings.Join(st.UnpricedModels, ", "))
			}
		}
	}
	b.WriteString("\n")
	writeLimitLines(&b, out.Limits, loc)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeLimitLines says, for each of Claude's windows, the estimated limit
// and where the current window stands, naming what is measured and what
// estimated.
func writeLimitLines(b *strings.Builder, l views.Limits, loc *time.Location) {
	for _, w := range []views.WindowLimit{l.FiveHour, l.SevenDay} {
		name := map[string]string{"five_hour": "5-hour limit", "seven_day": "Weekly limit"}[w.Window]
		if w.Samples == 0 {
			fmt.Fprintf(b, "%s: no estimate (no usable rate_limits sample; ctm statusline stores them)\n", name)
		} else {
			fmt.Fprintf(b, "%s: %s estimated from %d samples (confidence %.2f, spread %.1f%%)\n",
				name, formatCost(w.Limit), w.Samples, w.Confidence, 100*w.Spread)
		}
		resets := ""
		if !w.ResetsAt.IsZero() {
			resets = ", resets " + w.ResetsAt.In(loc).Format("2006-01-02 15:04")
		}
		proj := ""
		if w.ProjectedPercent > 0 {
			proj = fmt.Sprintf(", %.0f%% projected at reset", w.ProjectedPercent)
		}
		switch w.Source {
		case "claude":
			fmt.Fprintf(b, "  now: %.0f%% used (Claude's own figure, received %s)%s%s\n",
				w.Percent, w.ReceivedAt.In(loc).Format("2006-01-02 15:04"), resets, proj)
		case "estimate":
			if w.ResetsAt.IsZero() && w.Used == 0 {
				b.WriteString("  now: 0% used (no request since the last window reset)\n")
				continue
			}
			fmt.Fprintf(b, "  now: %.0f%% used (estimate: %s spent in the window%s)%s\n", w.Percent, formatCost(w.Used), resets, proj)
		}
	}
}

// blockExitCode is ctm blocks --exit-code: the active block's share of its
// limit (Claude's figure, the estimate, or the configured limit).
func blockExitCode(blocks []usage.Block) int {
	act := usage.ActiveBlock(blocks)
	if act == nil || act.LimitStatus == nil {
		return 0
	}
	switch r := act.LimitStatus.Ratio; {
	case r >= 1:
		return exitOver
	case r >= usage.LimitWarningRatio:
		return exitNear
	}
	return 0
}
