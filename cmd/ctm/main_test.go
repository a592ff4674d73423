package main

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/claude-token-monitor/ctm/internal/usage"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// realDir returns the shared corpus of real Claude Code data.
func realDir(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs("../../../shared/testdata")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "claude-real.expected.json")); err != nil {
		t.Skipf("shared test data not found at %s (the shared testdata folder beside the repository): %v", dir, err)
	}
	return dir
}

// testEnv returns an environment with a private home, database and time
// zone, reading Claude data from claudeDir.
func testEnv(t testing.TB, claudeDir string, extra ...string) (*environ, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	home := t.TempDir()
	var stdout, stderr bytes.Buffer
	env := &environ{
		stdin:  strings.NewReader(""),
		stdout: &stdout,
		stderr: &stderr,
		vars: append([]string{
			"HOME=" + home,
			"CLAUDE_DIR=" + claudeDir,
			"DATABASE_PATH=" + filepath.Join(home, "db", "monitor.db"),
			"TZ=UTC",
		}, extra...),
		dotenv: filepath.Join(home, ".env"),
		isatty: func(io.Writer) bool { return false },
	}
	return env, &stdout, &stderr
}

// ctm runs one command line and returns stdout, failing the test on a
// non-zero exit.
func ctm(t testing.TB, env *environ, args ...string) []byte {
	t.Helper()
	out, errOut := env.stdout.(*bytes.Buffer), env.stderr.(*bytes.Buffer)
	out.Reset()
	errOut.Reset()
	if code := run(context.Background(), args, env); code != 0 {
		t.Fatalf("ctm %s: exit %d, stderr:\n%s", strings.Join(args, " "), code, errOut)
	}
	return bytes.Clone(out.Bytes())
}

// expected mirrors claude-real.expected.json.
type expectedFigures struct {
	Input, Output, CacheRead, CW5, CW1, CacheCreation, WebSearch, Entries int64
	CostUSD                                                               usage.Money
}

func (e *expectedFigures) UnmarshalJSON(b []byte) error {
	var raw struct {
		Input         int64       `json:"input"`
		Output        int64       `json:"output"`
		CacheRead     int64       `json:"cache_read"`
		CW5           int64       `json:"cw5"`
		CW1           int64       `json:"cw1"`
		CacheCreation int64       `json:"cache_creation"`
		WebSearch     int64       `json:"web_search"`
		Entries       int64       `json:"entries"`
		CostUSD       usage.Money `json:"cost_usd"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*e = expectedFigures(raw)
	return nil
}

type expectedFile struct {
	Totals   expectedFigures            `json:"totals"`
	Daily    map[string]expectedFigures `json:"daily"`
	Models   map[string]expectedFigures `json:"models"`
	Sessions map[string]expectedFigures `json:"sessions"`
}

// row is the part of a report row the tests compare.
type row struct {
	Date            string      `json:"date"`
	SessionID       string      `json:"session_id"`
	Model           string      `json:"model"`
	Input           int64       `json:"input_tokens"`
	Output          int64       `json:"output_tokens"`
	CacheCreation   int64       `json:"cache_creation_tokens"`
	CW5             int64       `json:"cache_creation_5m_tokens"`
	CW1             int64       `json:"cache_creation_1h_tokens"`
	CacheRead       int64       `json:"cache_read_tokens"`
	Total           int64       `json:"total_tokens"`
	WebSearch       int64       `json:"web_search_requests"`
	Entries         int64       `json:"entries"`
	CostUSD         usage.Money `json:"cost_usd"`
	ModelBreakdowns []row       `json:"model_breakdowns"`
}

func checkFigures(t *testing.T, what string, got row, want expectedFigures) {
	t.Helper()
	gotInts := []int64{got.Input, got.Output, got.CacheCreation, got.CW5, got.CW1, got.CacheRead, got.WebSearch, got.Entries}
	wantInts := []int64{want.Input, want.Output, want.CacheCreation, want.CW5, want.CW1, want.CacheRead, want.WebSearch, want.Entries}
	names := []string{"input", "output", "cache_creation", "cw5", "cw1", "cache_read", "web_search", "entries"}
	for i := range names {
		if gotInts[i] != wantInts[i] {
			t.Errorf("%s %s = %d, want %d", what, names[i], gotInts[i], wantInts[i])
		}
	}
	if got.Total != want.Input+want.Output+want.CacheCreation+want.CacheRead {
		t.Errorf("%s total_tokens = %d, want %d", what, got.Total, want.Input+want.Output+want.CacheCreation+want.CacheRead)
	}
	// Money is exact: the same digits as the expected accounting.
	if got.CostUSD != want.CostUSD {
		t.Errorf("%s cost_usd = %s, want %s", what, got.CostUSD, want.CostUSD)
	}
}

// TestRealCorpusMatchesExpected asserts every figure of both real
// corpora's expected files through the CLI's JSON, costs to the digit.
func TestRealCorpusMatchesExpected(t *testing.T) {
	for _, corpus := range []string{"claude-real", "claude-real-2026"} {
		t.Run(corpus, func(t *testing.T) { testRealCorpus(t, corpus) })
	}
}

func testRealCorpus(t *testing.T, corpus string) {
	dir := realDir(t)
	var want expectedFile
	b, err := os.ReadFile(filepath.Join(dir, corpus+".expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	env, _, _ := testEnv(t, filepath.Join(dir, corpus))

	var daily struct {
		Daily          []row    `json:"daily"`
		Totals         row      `json:"totals"`
		UnpricedModels []string `json:"unpriced_models"`
	}
	if err := json.Unmarshal(ctm(t, env, "daily", "--json", "--breakdown"), &daily); err != nil {
		t.Fatal(err)
	}
	checkFigures(t, "totals", daily.Totals, want.Totals)
	if len(daily.UnpricedModels) != 0 {
		t.Errorf("unpriced_models = %v, want none", daily.UnpricedModels)
	}
	if len(daily.Daily) != len(want.Daily) {
		t.Errorf("got %d days, want %d", len(daily.Daily), len(want.Daily))
	}
	for _, d := range daily.Daily {
		w, ok := want.Daily[d.Date]
		if !ok {
			t.Errorf("unexpected day %s", d.Date)
			continue
		}
		checkFigures(t, "day "+d.Date, d, w)
	}
	if len(daily.Totals.ModelBreakdowns) != len(want.Models) {
		t.Errorf("got %d models, want %d", len(daily.Totals.ModelBreakdowns), len(want.Models))
	}
	for _, m := range daily.Totals.ModelBreakdowns {
		w, ok := want.Models[m.Model]
		if !ok {
			t.Errorf("unexpected model %s", m.Model)
			continue
		}
		checkFigures(t, "model "+m.Model, m, w)
	}

	var sessions struct {
		Sessions []row `json:"sessions"`
		Totals   row   `json:"totals"`
	}
	if err := json.Unmarshal(ctm(t, env, "session", "--json"), &sessions); err != nil {
		t.Fatal(err)
	}
	checkFigures(t, "session totals", sessions.Totals, want.Totals)
	if len(sessions.Sessions) != len(want.Sessions) {
		t.Errorf("got %d sessions, want %d", len(sessions.Sessions), len(want.Sessions))
	}
	for _, s := range sessions.Sessions {
		w, ok := want.Sessions[s.SessionID]
		if !ok {
			t.Errorf("unexpected session %s", s.SessionID)
			continue
		}
		checkFigures(t, "session "+s.SessionID, s, w)
	}
}
