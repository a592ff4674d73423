package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/claude-token-monitor/ctm/internal/config"
	"github.com/claude-token-monitor/ctm/internal/pricing"
	"io"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

// blocksFlags are the flags of ctm blocks besides the configuration.
type blocksFlags struct {
	since, until               string
	json, active, recent, live bool
	exitCode                   bool
	refresh                    time.Duration
}

func (f *blocksFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.since, "since", "", "first `day` of block starts to include, YYYY-MM-DD or YYYYMMDD")
	fs.StringVar(&f.until, "until", "", "last `day` of block starts to include, YYYY-MM-DD or YYYYMMDD")
	fs.BoolVar(&f.json, "json", false, "print JSON instead of a table")
	fs.BoolVar(&f.active, "active", false, "only the active block")
	fs.BoolVar(&f.recent, "recent", false, "only blocks of the last 3 days")
	fs.BoolVar(&f.live, "live", false, "redraw the active block until interrupted")
	fs.BoolVar(&f.exitCode, "exit-code", false, "exit 10 when the active block is at 80 % of its limit or more, 11 at 100 % or more")
	fs.DurationVar(&f.refresh, "refresh", 5*time.Second, "redraw `interval` of --live")
}

// runBlocks implements ctm blocks.
func runBlocks(ctx context.Context, args []string, env *environ) int {
	return runBlocksAt(ctx, args, env, time.Now)
}

// runBlocksAt is runBlocks with a clock, for tests.
func runBlocksAt(ctx context.Context, args []string, env *environ, clock func() time.Time) int {
	fs := newFlagSet("blocks", env.stderr, "ctm blocks [--active] [--recent] [--live] [--json] [flags]",
		"Catches up the index, then prints the 5-hour usage windows Claude subscriptions\n"+
			"are metered in: tokens, cost, burn rate, projection and limit status.\n"+
			"Limits come from --plan (pro, max5, max20, custom), --token-limit (a count or\n"+
			"\"max\": the largest completed block) and --cost-limit.")
	var bf blocksFlags
	bf.bind(fs)
	a, code := env.openApp(ctx, fs, args, config.DataFlags|config.LimitFlags, catchUpNow)
	if a == nil {
		return code
	}
	defer a.close()
	limits, err := usage.NewLimits(a.cfg.Plan, a.cfg.TokenLimit, a.cfg.CostLimit)
	if err != nil {
		return a.fail(err)
	}
	if err := normalizeDays(&bf.since, &bf.until); err != nil {
		return a.fail(err)
	}
	since, until, err := usage.DayRange(bf.since, bf.until, a.loc)
	if err != nil {
		return a.fail(err)
	}
	if bf.live {
		if bf.refresh <= 0 {
			return a.fail(usage.Errorf(usage.EINVALID, "--refresh: %v must be positive", bf.refresh))
		}
		l := &liveFrames{a: a, limits: limits, clock: clock, clear: env.isatty(env.stdout)}
		if err := liveLoop(ctx, bf.refresh, l.frame); err != nil {
			return a.fail(err)
		}
		return 0
	}
	v, err := a.views(clock).Blocks(ctx, views.BlocksQuery{
		Limits: limits, Since: since, Until: until, Recent: bf.recent, Active: bf.active,
	})
	if err != nil {
		return a.fail(err)
	}
	switch {
	case bf.json:
		err = writeBlocksJSON(a.stdout, v)
	case bf.active && len(v.Blocks) == 0:
		_, err = fmt.Fprintln(a.stdout, noActiveBlock)
	default:
		err = writeBlocksTable(a.stdout, v, a.loc)
	}
	if err != nil {
		return a.fail(err)
	}
	if bf.exitCode {
		return blockExitCode(v.Blocks)
	}
	return 0
}

// writeBlocksJSON prints v as GET /blocks serves it.
func writeBlocksJSON(w io.Writer, v views.Blocks) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeBlocksTable prints v for people: one row per block, then the active
// block, the rolling week and Claude's own numbers.
func writeBlocksTable(w io.Writer, v views.Blocks, loc *time.Location) error {
	var b strings.Builder
	if len(v.Blocks) == 0 {
		b.WriteString("No usage blocks found for the selection.\n")
	} else {
		header := []string{"Block Start", "End", "Status", "Models", "Entries", "Input", "Output",
			"Cache Create", "Cache Read", "Total Tokens", "% Limit", "Cost (USD)"}
		t := newTable(header...)
		t.alignRight(4, 5, 6, 7, 8, 9, 10, 11)
		for i := range v.Blocks {
			bl := &v.Blocks[i]
			start := bl.StartTime.In(loc)
			if bl.IsGap {
				t.add(start.Format("2006-01-02 15:04"), endLabel(start, bl.EndTime.In(loc)),
					"gap "+formatDuration(bl.EndTime.Sub(bl.StartTime)))
				continue
			}
			t.add(start.Format("2006-01-02 15:04"), endLabel(start, bl.EndTime.In(loc)), blockStatus(bl, v.Now),
				strings.Join(shortModels(bl.Models), ", "), formatInt(bl.Entries),
				formatInt(bl.Input), formatInt(bl.Output), formatInt(bl.CacheCreationTokens),
				formatInt(bl.CacheRead), formatInt(bl.TotalTokens), limitCell(bl.LimitStatus), formatCost(bl.CostUSD))
		}
		if err := t.render(&b); err != nil {
			return err
		}
	}
	b.WriteString("\n")
	writeLimitsLine(&b, v.Limits)
	if act := usage.ActiveBlock(v.Blocks); act != nil {
		writeActiveSummary(&b, act, v.Now, loc)
	}
	fmt.Fprintf(&b, "Last 7 days: %s tokens, %s (%s entries)\n",
		formatInt(v.Weekly.TotalTokens), formatCost(v.Weekly.CostUSD), formatInt(v.Weekly.Entries))
	if e := v.LimitEstimate; e != nil {
		held := ""
		if act := usage.ActiveBlock(v.Blocks); act != nil && act.LimitStatus != nil && act.LimitStatus.Source == usage.LimitSourceSamples {
			held = "; the active block is held against it"
		}
		fmt.Fprintf(&b, "5-hour limit: %s estimated from %d samples (confidence %.2f)%s\n",
			formatCost(e.Limit), e.Samples, e.Confidence, held)
	}
	if v.RateLimits != nil {
		fmt.Fprintf(&b, "Claude's own numbers (received %s): %s\n",
			v.RateLimits.Time.In(loc).Format("2006-01-02 15:04"), rateLimitText(v.RateLimits, loc))
	}
	if len(v.UnpricedModels) > 0 {
		fmt.Fprintf(&b, "No price known for %s: their cost is counted as $0.00; %s.\n", strings.Join(v.UnpricedModels, ", "), pricing.UnpricedHint)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// endLabel shows the end time, with its date when it falls on another day
// than start.
func endLabel(start, end time.Time) string {
	if y, m, d := start.Date(); end.Year() == y && end.Month() == m && end.Day() == d {
		return end.Format("15:04")
	}
	return end.Format("2006-01-02 15:04")
}

// noActiveBlock is what the views say when no block is active.
const noActiveBlock = "No active block: nothing used in the last 5 hours."

// blockStatus describes a block in the table: the time left when active,
// else how much of the window it used, from the block's start to its last
// request, as ccusage shows it: the window opens at the start, not at the
// first request.
func blockStatus(b *usage.Block, now time.Time) string {
	if b.IsActive {
		return "ACTIVE, " + formatDuration(b.EndTime.Sub(now)) + " left"
	}
	return formatDuration(b.ActualEndTime.Sub(b.StartTime)) + " used"
}

// limitCell shows the share of the limit that decides the status, marked
// as Claude's own figure or as an estimate when it is one.
func limitCell(s *usage.LimitStatus) string {
	if s == nil {
		return ""
	}
	pct := fmt.Sprintf("%.0f%%", 100*s.Ratio)
	switch s.Source {
	case usage.LimitSourceClaude:
		pct += " (Claude)"
	case usage.LimitSourceEstimate:
		pct += " est."
	case usage.LimitSourceSamples:
		pct += fmt.Sprintf(" est. (%d samples)", s.Samples)
	}
	if s.Status != usage.LimitOK {
		pct += " " + s.Status
	}
	return pct
}

func writeLimitsLine(b *strings.Builder, l usage.Limits) {
	var parts []string
	if l.Tokens > 0 {
		what := formatInt(l.Tokens) + " tokens"
		if l.TokensFromMax {
			what += " (largest completed block)"
		}
		parts = append(parts, what)
	} else if l.TokensFromMax {
		parts = append(parts, "largest completed block (none yet)")
	}
	if l.CostUSD > 0 {
		parts = append(parts, formatUSD(l.CostUSD))
	}
	if len(parts) == 0 {
		b.WriteString("Limits: none set (use --plan, --token-limit or --cost-limit)\n")
		return
	}
	plan := ""
	if l.Plan != "" {
		plan = " (plan " + string(l.Plan) + ")"
	}
	fmt.Fprintf(b, "Limits per block: %s%s\n", strings.Join(parts, ", "), plan)
	if l.Estimate {
		fmt.Fprintf(b, "  The plan's %s is an estimate of its allowance in API-price dollars; Anthropic\n"+
			"  publishes none. Claude Code's own percentages replace it when the status line receives them.\n", formatUSD(l.CostUSD))
	}
	if l.Tokens > 0 || l.TokensFromMax {
		b.WriteString("  Token limits count input, output and cache writes, not cache reads.\n")
	}
}

func writeActiveSummary(b *strings.Builder, act *usage.Block, now time.Time, loc *time.Location) {
	fmt.Fprintf(b, "Active block: %s - %s, %s left\n", act.StartTime.In(loc).Format("15:04"),
		act.EndTime.In(loc).Format("15:04"), formatDuration(act.EndTime.Sub(now)))
	if r := act.BurnRate; r != nil {
		fmt.Fprintf(b, "  Burn rate: %s tokens/min, %s/hour\n", formatInt(int64(r.TokensPerMinute+0.5)), formatUSD(r.CostPerHour))
	}
	if p := act.Projection; p != nil {
		status := ""
		// Claude's own figure has no projection: the burn rate says
		// nothing about how Claude's meter moves.
		if act.LimitStatus != nil && act.LimitStatus.ProjectedStatus != "" {
			status = " (" + act.LimitStatus.ProjectedStatus + ")"
		}
		fmt.Fprintf(b, "  Projected: %s tokens, %s by %s%s\n", formatInt(p.TotalTokens), formatCost(p.CostUSD),
			act.EndTime.In(loc).Format("15:04"), status)
	}
	if s := act.LimitStatus; s != nil {
		fmt.Fprintf(b, "  Limit: %s\n", timeToLimit(s, now, loc))
	}
}

// claudeLimitText says what Claude Code reported for the block, when its
// figure is the block's status.
func claudeLimitText(s *usage.LimitStatus) string {
	return fmt.Sprintf("%.0f%% used, as Claude Code reports it (%s)", 100*s.Ratio, s.Status)
}

// timeToLimit says when the active block reaches its limit.
func timeToLimit(s *usage.LimitStatus, now time.Time, loc *time.Location) string {
	switch {
	case s.Source == usage.LimitSourceClaude:
		return claudeLimitText(s)
	case s.Source == usage.LimitSourceSamples && s.Status == usage.LimitExceeded:
		return fmt.Sprintf("%.0f%% of the estimated %s (from %d samples): exceeded", 100*s.Ratio, formatUSD(s.CostLimit), s.Samples)
	case s.Source == usage.LimitSourceSamples && !s.LimitAt.IsZero():
		return fmt.Sprintf("%.0f%% of the estimated %s (from %d samples); reached at %s at this rate (in %s)", 100*s.Ratio,
			formatUSD(s.CostLimit), s.Samples, s.LimitAt.In(loc).Format("15:04"), formatDuration(s.LimitAt.Sub(now)))
	case s.Source == usage.LimitSourceSamples:
		return fmt.Sprintf("%.0f%% of the estimated %s (from %d samples); not reached before the block ends at this rate",
			100*s.Ratio, formatUSD(s.CostLimit), s.Samples)
	case s.Status == usage.LimitExceeded:
		return "exceeded"
	case !s.LimitAt.IsZero():
		return fmt.Sprintf("reached at %s at this rate (in %s)", s.LimitAt.In(loc).Format("15:04"), formatDuration(s.LimitAt.Sub(now)))
	default:
		return "not reached before the block ends at this rate"
	}
}

// rateLimitText renders Claude's own rate-limit numbers.
func rateLimitText(rl *usage.RateLimitSample, loc *time.Location) string {
	var parts []string
	win := func(name string, w *usage.RateLimitWindow) {
		if w == nil {
			return
		}
		s := fmt.Sprintf("%s %.0f%%", name, w.UsedPercentage)
		if !w.ResetsAt.IsZero() {
			s += " (resets " + w.ResetsAt.In(loc).Format("2006-01-02 15:04") + ")"
		}
		parts = append(parts, s)
	}
	win("5-hour", rl.FiveHour)
	win("7-day", rl.SevenDay)
	return strings.Join(parts, ", ")
}

// formatDuration renders d rounded down to minutes: "45m", "2h05m", "3d 4h".
func formatDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	m := int64(d / time.Minute)
	switch {
	case m >= 24*60:
		return fmt.Sprintf("%dd %dh", m/(24*60), m%(24*60)/60)
	case m >= 60:
		return fmt.Sprintf("%dh%02dm", m/60, m%60)
	}
	return fmt.Sprintf("%dm", m)
}

// liveLookback is how much history each --live frame and the status line
// read to find the active block: a day holds a silence of over 5 hours for
// anyone who sleeps, which pins block starts exactly.
const liveLookback = 24 * time.Hour

// liveFrames draws ctm blocks --live frames.
type liveFrames struct {
	a      *app
	limits usage.Limits
	clock  func() time.Time
	clear  bool // clear the terminal before each frame
	// resolved is set once limits are resolved against all history, on
	// the first frame: "max" depends on completed blocks only, so it does
	// not change while the active block grows.
	resolved bool
}

// liveLoop calls frame now and then every interval until ctx is done.
func liveLoop(ctx context.Context, interval time.Duration, frame func(ctx context.Context) error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := frame(ctx); err != nil {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// frame catches up the index and draws the active block once.
func (l *liveFrames) frame(ctx context.Context) error {
	vs := l.a.views(l.clock)
	if !l.resolved {
		limits, err := vs.ResolveLimits(ctx, l.limits)
		if err != nil {
			return err
		}
		l.limits, l.resolved = limits, true
		l.limits.TokensFromMax = false
	} else if err := l.a.catchUp(ctx, false); err != nil {
		return err
	}
	v, err := vs.Blocks(ctx, views.BlocksQuery{Limits: l.limits, Lookback: liveLookback})
	if err != nil {
		return err
	}
	var b strings.Builder
	if l.clear {
		b.WriteString("\033[H\033[2J")
	}
	renderLive(&b, v, l.a.loc)
	_, err = io.WriteString(l.a.stdout, b.String())
	return err
}

// renderLive draws one frame of the active block: usage bars, burn rate,
// projected end and time to limit.
func renderLive(b *strings.Builder, v views.Blocks, loc *time.Location) {
	fmt.Fprintf(b, "ctm blocks --live   %s   (Ctrl-C to stop)\n\n", v.Now.In(loc).Format("2006-01-02 15:04:05 MST"))
	act := usage.ActiveBlock(v.Blocks)
	if act == nil {
		b.WriteString(noActiveBlock + "\n")
	} else {
		start, end := act.StartTime.In(loc), act.EndTime.In(loc)
		fmt.Fprintf(b, "Block       %s - %s, %s left\n", start.Format("2006-01-02 15:04"), end.Format("15:04"),
			formatDuration(act.EndTime.Sub(v.Now)))
		elapsed := v.Now.Sub(act.StartTime)
		fmt.Fprintf(b, "Time        %s %3.0f%%\n", bar(elapsed.Seconds()/usage.BlockDuration.Seconds()),
			100*elapsed.Seconds()/usage.BlockDuration.Seconds())
		if s := act.LimitStatus; s != nil && s.Source == usage.LimitSourceClaude {
			fmt.Fprintf(b, "Claude 5h   %s %3.0f%%  (Claude Code's own figure)\n", bar(s.Ratio), 100*s.Ratio)
		}
		if v.Limits.Tokens > 0 {
			// Like with like: a token limit counts no cache reads.
			r := float64(act.LimitTokens) / float64(v.Limits.Tokens)
			fmt.Fprintf(b, "Tokens      %s %3.0f%%  %s / %s (without cache reads)\n", bar(r), 100*r, formatInt(act.LimitTokens), formatInt(v.Limits.Tokens))
		} else {
			fmt.Fprintf(b, "Tokens      %s\n", formatInt(act.TotalTokens))
		}
		if v.Limits.CostUSD > 0 {
			r := act.CostUSD.USD() / v.Limits.CostUSD
			est := ""
			if v.Limits.Estimate {
				est = " (plan estimate)"
			}
			fmt.Fprintf(b, "Cost        %s %3.0f%%  %s / %s%s\n", bar(r), 100*r, formatCost(act.CostUSD), formatUSD(v.Limits.CostUSD), est)
		} else {
			fmt.Fprintf(b, "Cost        %s\n", formatCost(act.CostUSD))
		}
		if r := act.BurnRate; r != nil {
			fmt.Fprintf(b, "Burn rate   %s tokens/min, %s/hour\n", formatInt(int64(r.TokensPerMinute+0.5)), formatUSD(r.CostPerHour))
		} else {
			b.WriteString("Burn rate   not measurable yet (one request)\n")
		}
		if p := act.Projection; p != nil {
			fmt.Fprintf(b, "Projected   %s tokens, %s at %s\n", formatInt(p.TotalTokens), formatCost(p.CostUSD), end.Format("15:04"))
		}
		if s := act.LimitStatus; s != nil {
			fmt.Fprintf(b, "Limit       %s, %s\n", s.Status, timeToLimit(s, v.Now, loc))
		}
		fmt.Fprintf(b, "Models      %s\n", strings.Join(shortModels(act.Models), ", "))
	}
	fmt.Fprintf(b, "Last 7 days %s tokens, %s\n", formatInt(v.Weekly.TotalTokens), formatCost(v.Weekly.CostUSD))
	if v.RateLimits != nil {
		fmt.Fprintf(b, "Claude      %s (received %s)\n", rateLimitText(v.RateLimits, loc), v.RateLimits.Time.In(loc).Format("15:04"))
	}
}

// bar draws ratio (clamped to [0, 1]) as a 30-cell bar.
func bar(ratio float64) string {
	const width = 30
	filled := int(min(max(ratio, 0), 1) * width)
	return "[" + strings.Repeat("█", filled) + strings.Repeat("░", width-filled) + "]"
}
