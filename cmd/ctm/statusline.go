package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/claude-token-monitor/ctm/internal/config"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/ingest"
	"github.com/claude-token-monitor/ctm/internal/source/claude"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// maxStatusInput bounds what the status line reads from stdin; Claude
// Code sends well under a kilobyte.
const maxStatusInput = 1 << 20

// statusInput is the part of the JSON Claude Code sends a status line
// command on stdin that ctm uses. Unknown fields are ignored.
type statusInput struct {
	SessionID      string `json:"session_id"`
	TranscriptPath string `json:"transcript_path"`
	CWD            string `json:"cwd"`
	Model          struct {
		ID          string `json:"id"`
		DisplayName string `json:"display_name"`
	} `json:"model"`
	Workspace struct {
		CurrentDir string `json:"current_dir"`
		ProjectDir string `json:"project_dir"`
	} `json:"workspace"`
	Version string `json:"version"`
	Cost    struct {
		TotalCostUSD float64 `json:"total_cost_usd"`
	} `json:"cost"`
	RateLimits struct {
		FiveHour *statusWindow `json:"five_hour"`
		SevenDay *statusWindow `json:"seven_day"`
	} `json:"rate_limits"`
}

// statusWindow is one rate-limit window as Claude Code sends it.
// resets_at is epoch seconds; an RFC 3339 string is accepted too.
type statusWindow struct {
	UsedPercentage *float64        `json:"used_percentage"`
	ResetsAt       json.RawMessage `json:"resets_at"`
}

// window converts w, or returns nil when it carries no percentage.
func (w *statusWindow) window() (*usage.RateLimitWindow, error) {
	if w == nil || w.UsedPercentage == nil {
		return nil, nil
	}
	out := &usage.RateLimitWindow{UsedPercentage: *w.UsedPercentage}
	raw := strings.TrimSpace(string(w.ResetsAt))
	switch {
	case raw == "" || raw == "null":
	case strings.HasPrefix(raw, `"`):
		var s string
		if err := json.Unmarshal(w.ResetsAt, &s); err != nil {
			return nil, fmt.Errorf("resets_at: %w", err)
		}
		if n, err := strconv.ParseFloat(s, 64); err == nil {
			out.ResetsAt = epoch(n)
		} else if out.ResetsAt, err = time.Parse(time.RFC3339, s); err != nil {
			return nil, fmt.Errorf("resets_at: %q is not a time", s)
		}
	default:
		n, err := strconv.ParseFloat(raw, 64)
		if err != nil || math.IsInf(n, 0) {
			return nil, fmt.Errorf("resets_at: %s is not a time", raw)
		}
		out.ResetsAt = epoch(n)
	}
	return out, nil
}

// epoch converts epoch seconds, or milliseconds when the value is too large
// to be seconds, to a time.
func epoch(n float64) time.Time {
	if n > 1e12 {
		return time.UnixMilli(int64(n)).UTC()
	}
	return time.Unix(0, int64(n*1e9)).UTC()
}

// parseStatusInput decodes Claude Code's status line JSON.
func parseStatusInput(r io.Reader) (statusInput, error) {
	var in statusInput
	data, err := io.ReadAll(io.LimitReader(r, maxStatusInput+1))
	if err != nil {
		return in, fmt.Errorf("read stdin: %w", err)
	}
	if len(data) > maxStatusInput {
		return in, usage.Errorf(usage.EINVALID, "status line input on stdin is larger than %d bytes", maxStatusInput)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return in, usage.Errorf(usage.EINVALID, "no status line JSON on stdin (Claude Code sends it; see README)")
	}
	if err := json.Unmarshal(data, &in); err != nil {
		return statusInput{}, usage.Errorf(usage.EINVALID, "status line input on stdin is not Claude Code's JSON: %v", err)
	}
	return in, nil
}

// runStatusline implements ctm statusline.
func runStatusline(ctx context.Context, args []string, env *environ) int {
	return statuslineAt(ctx, args, env, time.Now)
}

// statuslineAt is runStatusline with a clock, for tests. It never runs a
// full index: it catches up only the session's own transcript, so that it
// answers within Claude Code's refresh budget on an indexed database.
func statuslineAt(ctx context.Context, args []string, env *environ, clock func() time.Time) int {
	fs := newFlagSet("statusline", env.stderr, "ctm statusline < claude-status.json",
		"Prints one status line for Claude Code: model, session cost, today's cost,\n"+
			"the 5-hour block's cost and time left, and the burn rate. Claude Code runs it\n"+
			"with its status JSON on stdin (settings.json: \"statusLine\": {\"type\": \"command\",\n"+
			"\"command\": \"ctm statusline\"}).")
	a, code := env.openApp(ctx, fs, args, config.DataFlags|config.LimitFlags, noCatchUp)
	if a == nil {
		if code != 0 {
			// Claude Code shows stdout: keep its status bar readable.
			fmt.Fprintln(env.stdout, "ctm: status unavailable")
		}
		return code
	}
	defer a.close()
	// Bad input still gets a line, without the session's parts, so that
	// the status bar shows something true instead of nothing.
	in, inErr := parseStatusInput(env.stdin)
	if inErr != nil {
		fmt.Fprintf(a.stderr, "ctm statusline: %s\n", usage.ErrorMessage(inErr))
	}
	now := clock()
	line, err := statusLine(ctx, a, in, now)
	if err != nil {
		fmt.Fprintln(a.stdout, "ctm: status unavailable")
		return a.fail(err)
	}
	fmt.Fprintln(a.stdout, line)
	if inErr != nil {
		return 1
	}
	return 0
}

// statusLine catches up the session's transcript, records the rate limits
// Claude Code sent and renders the line.
func statusLine(ctx context.Context, a *app, in statusInput, now time.Time) (string, error) {
	if paths := sessionFiles(in.TranscriptPath, a.cfg.ClaudeDirs); len(paths) > 0 {
		res, err := ingest.New(a.store, a.cfg.ClaudeDirs, a.logger, ingest.Options{}).IngestFiles(ctx, paths)
		if err != nil {
			return "", fmt.Errorf("catch up session transcript: %w", err)
		}
		a.logger.Debug("caught up session", "files", len(paths), "records", res.Records)
	} else if in.TranscriptPath != "" {
		a.logger.Debug("transcript outside the Claude directories; not read", "path", in.TranscriptPath)
	}
	if err := saveRateLimits(ctx, a, in, now); err != nil {
		// The numbers are a bonus; the line matters more.
		a.logger.Warn("save rate limits", "error", err)
	}

	var parts []string
	if m := modelName(a, in); m != "" {
		parts = append(parts, m)
	}
	if in.SessionID != "" {
		cost, unpriced, err := costOf(ctx, a, usage.Filter{SessionID: in.SessionID})
		if err != nil {
			return "", err
		}
		parts = append(parts, "session "+formatCost(cost))
		if len(unpriced) > 0 {
			// A $0 that is really "unknown" must not pass for free.
			parts = append(parts, "no price for "+strings.Join(unpriced, ", ")+": ctm prices update")
		}
	}
	day := usage.Day.Start(now.In(a.loc))
	today, _, err := costOf(ctx, a, usage.Filter{Since: day, Until: usage.Day.Next(day)})
	if err != nil {
		return "", err
	}
	parts = append(parts, "today "+formatCost(today))

	act, err := a.views(func() time.Time { return now }).ActiveBlock(ctx, usage.Limits{})
	if err != nil {
		return "", err
	}
	if act == nil {
		parts = append(parts, "no active block")
	} else {
		parts = append(parts, fmt.Sprintf("block %s (%s left)", formatCost(act.CostUSD), formatDuration(act.EndTime.Sub(now))))
		if act.BurnRate != nil {
			parts = append(parts, formatUSD(act.BurnRate.CostPerHour)+"/h")
		}
	}
	if w, _ := in.RateLimits.FiveHour.window(); w != nil {
		parts = append(parts, fmt.Sprintf("5h %.0f%%", w.UsedPercentage))
	} else if act != nil && act.LimitStatus != nil && act.LimitStatus.Source == usage.LimitSourceSamples {
		// No figure from Claude Code: the block against the limit
		// estimated from earlier samples, marked as an estimate.
		parts = append(parts, fmt.Sprintf("5h ~%.0f%% est. (%d samples)", 100*act.LimitStatus.Ratio, act.LimitStatus.Samples))
	}
	if w, _ := in.RateLimits.SevenDay.window(); w != nil {
		parts = append(parts, fmt.Sprintf("7d %.0f%%", w.UsedPercentage))
	}
	return strings.Join(parts, " | "), nil
}

// sessionFiles returns the session's transcript and its subagents'
// transcripts, when the transcript lies inside one of the Claude roots:
// the path comes from stdin, and ctm reads no file it was not told to
// watch.
func sessionFiles(transcript string, roots []string) []string {
	return claude.New(roots).SessionFiles(transcript)
}

// saveRateLimits records the rate limits Claude Code sent, when the store
// keeps them.
func saveRateLimits(ctx context.Context, a *app, in statusInput, now time.Time) error {
	rs, ok := a.store.(usage.RateLimitStore)
	if !ok {
		return nil
	}
	five, err := in.RateLimits.FiveHour.window()
	if err != nil {
		return fmt.Errorf("five_hour: %w", err)
	}
	seven, err := in.RateLimits.SevenDay.window()
	if err != nil {
		return fmt.Errorf("seven_day: %w", err)
	}
	s := usage.RateLimitSample{Time: now, SessionID: in.SessionID, FiveHour: five, SevenDay: seven}
	if s.IsZero() {
		return nil
	}
	return rs.SaveRateLimits(ctx, s)
}

// modelName is Claude Code's display name of the model, else the price
// table's, else the id.
func modelName(a *app, in statusInput) string {
	if in.Model.DisplayName != "" {
		return in.Model.DisplayName
	}
	if in.Model.ID == "" {
		return ""
	}
	if n := a.prices.DisplayName(in.Model.ID); n != "" {
		return n
	}
	return in.Model.ID
}

// costOf returns the cost of the records that pass f and the models among
// them that have no price.
func costOf(ctx context.Context, a *app, f usage.Filter) (usage.Money, []string, error) {
	t, unpriced, err := a.views(nil).Totals(ctx, f)
	return t.CostUSD, unpriced, err
}
