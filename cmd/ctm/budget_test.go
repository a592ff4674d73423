package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// budgetJSON runs ctm budget --json with budgets file path.
func budgetJSON(t *testing.T, env *environ, args ...string) (budgetOutput, int) {
	t.Helper()
	code := runAt(env, hm(5, 12, 15), runBudgetAt, append([]string{"--json"}, args...)...)
	var out budgetOutput
	if err := json.Unmarshal(env.stdout.(*bytes.Buffer).Bytes(), &out); err != nil {
		t.Fatalf("decode: %v\n%s\n%s", err, env.stdout, env.stderr)
	}
	return out, code
}

func writeBudgets(t *testing.T, path string, amount usage.Money) {
	t.Helper()
	body := fmt.Sprintf(`{"budgets":[{"id":"daily","period":"daily","amount_usd":%s},
		{"id":"p1-week","period":"weekly","amount_usd":1000,"project":"/work/p1"}]}`, amount)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestBudgetCommand: the state of each budget and --exit-code's 0, 10 and
// 11 for ok, near (80 % or more) and over (100 % or more).
func TestBudgetCommand(t *testing.T) {
	file := filepath.Join(t.TempDir(), "budgets.json")
	env, _, _ := testEnv(t, sampleDir(t), "BUDGETS_FILE="+file)
	writeBudgets(t, file, 1000*usage.MoneyPerUSD)
	out, code := budgetJSON(t, env, "--exit-code")
	if code != 0 || len(out.Budgets) != 2 {
		t.Fatalf("exit %d, %+v", code, out)
	}
	day := out.Budgets[0]
	spent := day.Spent
	if spent <= 0 || day.Entries != 2 || !day.PeriodStart.Equal(hm(5, 0, 0)) || len(day.Crossed) != 0 || day.Status != "ok" {
		t.Fatalf("daily = %+v; want day 5's two records", day)
	}
	// p1's records are on days 0 and 3: the week of day 5 (Mon day 0 to
	// Sun day 6) holds both.
	if w := out.Budgets[1]; w.Entries != 3 || w.Project != "/work/p1" {
		t.Errorf("p1-week = %+v, want p1's 3 records", w)
	}
	for _, c := range []struct {
		amount usage.Money
		code   int
		status string
		cross  int
	}{
		{spent * 10 / 9, exitNear, "near", 2}, // 90 %
		{spent / 2, exitOver, "over", 3},      // 200 %
		{spent * 10 / 6, 0, "ok", 1},          // 60 %
	} {
		writeBudgets(t, file, c.amount)
		out, code := budgetJSON(t, env, "--exit-code")
		if code != c.code || out.Status != c.status || len(out.Budgets[0].Crossed) != c.cross {
			t.Errorf("amount %s: exit %d, status %s, crossed %v; want %d, %s, %d thresholds", c.amount, code, out.Status,
				out.Budgets[0].Crossed, c.code, c.status, c.cross)
		}
	}
	// Without --exit-code an over budget exits 0.
	writeBudgets(t, file, spent/2)
	if code := runAt(env, hm(5, 12, 15), runBudgetAt); code != 0 {
		t.Errorf("over budget without --exit-code: exit %d", code)
	}
	table := env.stdout.(*bytes.Buffer).String()
	for _, want := range []string{"daily", "p1-week", "/work/p1", "over", "200.0%", "5-hour limit: no estimate"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	// A bad file stops the command, naming the variable, file and entry.
	os.WriteFile(file, []byte(`{"budgets":[{"id":"x","period":"hourly","amount_usd":1}]}`), 0o600)
	if code := runAt(env, hm(5, 12, 15), runBudgetAt); code != 2 ||
		!strings.Contains(env.stderr.(*bytes.Buffer).String(), "BUDGETS_FILE "+file+": budgets[0] (id \"x\"): period \"hourly\"") {
		t.Errorf("bad file: exit %d, stderr %s", code, env.stderr)
	}
}

// TestBlocksExitCode: ctm blocks --active --exit-code against the active
// block's cost limit.
func TestBlocksExitCode(t *testing.T) {
	env, _, _ := testEnv(t, sampleDir(t))
	now := hm(5, 12, 15)
	act := blocksAt(t, env, now, "--active")
	if len(act.Blocks) != 1 {
		t.Fatalf("active blocks = %d", len(act.Blocks))
	}
	cost := act.Blocks[0].CostUSD.USD()
	for _, c := range []struct {
		limit float64
		code  int
	}{{cost * 10, 0}, {cost / 0.9, exitNear}, {cost / 2, exitOver}} {
		got := runAt(env, now, runBlocksAt, "--active", "--exit-code", fmt.Sprintf("--cost-limit=%g", c.limit))
		if got != c.code {
			t.Errorf("cost limit %g (block %g): exit %d, want %d\n%s", c.limit, cost, got, c.code, env.stderr)
		}
	}
	if got := runAt(env, hm(9, 0, 0), runBlocksAt, "--active", "--exit-code", "--cost-limit=0.0001"); got != 0 {
		t.Errorf("no active block: exit %d, want 0", got)
	}
}

// TestEstimatedLimitInBlocksAndStatusline stores three rate_limits samples
// of a user whose 5-hour limit is known, then a request after them: the
// samples are stale, so ctm blocks, --exit-code and the status line hold
// the active block against the limit estimated from them.
func TestEstimatedLimitInBlocksAndStatusline(t *testing.T) {
	dir := sampleDir(t)
	writeTranscript(t, dir, "p2", "s4", []turn{{hm(5, 11, 45), "claude-haiku-4-5", 100, 10}})
	env, _, _ := testEnv(t, dir)
	now := hm(5, 12, 15)
	act := blocksAt(t, env, now, "--active")
	if len(act.Blocks) != 1 {
		t.Fatalf("active blocks = %d", len(act.Blocks))
	}
	st := openTestStore(t, env)
	recs, err := st.Records(t.Context(), usage.Filter{Since: hm(5, 10, 0)}, usage.Page{})
	if err != nil || len(recs) != 3 {
		t.Fatalf("records = %d, %v", len(recs), err)
	}
	c1, c2 := recs[0].Cost, recs[1].Cost
	limit := usage.Money(float64(c1+c2) / 0.9) // the second sample reads 90 %
	resets := hm(5, 15, 0)
	for _, s := range []struct {
		at   time.Time
		cost usage.Money
	}{{hm(5, 10, 16), c1}, {hm(5, 11, 16), c1 + c2}, {hm(5, 11, 20), c1 + c2}} {
		pct := float64(int(float64(s.cost)/float64(limit)*100 + 0.5))
		if err := st.SaveRateLimits(t.Context(), usage.RateLimitSample{Time: s.at, SessionID: "x",
			FiveHour: &usage.RateLimitWindow{UsedPercentage: pct, ResetsAt: resets}}); err != nil {
			t.Fatal(err)
		}
		resets = resets.Add(time.Millisecond) // keep identical samples apart
	}
	st.Close()

	v := blocksAt(t, env, now, "--active")
	ls := v.Blocks[0].LimitStatus
	if ls == nil || ls.Source != usage.LimitSourceSamples || ls.Samples != 3 {
		t.Fatalf("limit status = %+v, want the estimate of 3 samples", ls)
	}
	if rel := ls.CostLimit/limit.USD() - 1; rel > 0.02 || rel < -0.02 {
		t.Errorf("estimated limit %v, true %v", ls.CostLimit, limit.USD())
	}
	if code := runAt(env, now, runBlocksAt, "--active", "--exit-code"); code != exitNear {
		t.Errorf("blocks --active --exit-code = %d at %.0f%% of the estimate, want %d", code, 100*ls.Ratio, exitNear)
	}
	table := env.stdout.(*bytes.Buffer).String()
	if !strings.Contains(table, "est. (3 samples)") || !strings.Contains(table, "estimated from 3 samples") {
		t.Errorf("blocks table lacks the estimate:\n%s", table)
	}
	env.stdin = strings.NewReader(`{"session_id":"s4","model":{"id":"claude-haiku-4-5"}}`)
	if code := runAt(env, now, statuslineAt); code != 0 {
		t.Fatalf("statusline exit %d: %s", code, env.stderr)
	}
	line := env.stdout.(*bytes.Buffer).String()
	if want := fmt.Sprintf("5h ~%.0f%% est. (3 samples)", 100*ls.Ratio); !strings.Contains(line, want) {
		t.Errorf("status line %q lacks %q", line, want)
	}
}
