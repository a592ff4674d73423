package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/pricing"
)

// TestHistoryFollowsTheTable: a change of the table in force re-prices
// every stored record before the next answer, and putting the old table
// back gives byte-identical output.
func TestHistoryFollowsTheTable(t *testing.T) {
	dir := realDir(t)
	env, _, _ := testEnv(t, filepath.Join(dir, "claude-real"))
	before := ctm(t, env, "daily", "--json", "--breakdown")

	dear := filepath.Join(t.TempDir(), "dear.json")
	if err := os.WriteFile(dear, []byte(`{"models": {"claude-opus-4-5": {"input": 50, "output": 250,
		"cache_write_5m": 62.5, "cache_write_1h": 100, "cache_read": 5}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env.vars = append(env.vars, "PRICING_FILE="+dear)
	changed := ctm(t, env, "daily", "--json", "--breakdown")
	if bytes.Equal(changed, before) {
		t.Fatal("a tenfold Opus 4.5 price left the report unchanged")
	}
	if !bytes.Contains(changed, []byte(`"cost_usd":`)) {
		t.Fatalf("no costs in %s", changed)
	}

	env.vars = env.vars[:len(env.vars)-1]
	if after := ctm(t, env, "daily", "--json", "--breakdown"); !bytes.Equal(after, before) {
		t.Errorf("the old table back does not give the old output:\n%s\nwant\n%s", after, before)
	}
}

func TestPricesCommand(t *testing.T) {
	env, _, _ := testEnv(t, t.TempDir())
	out := string(ctm(t, env, "prices"))
	for _, want := range []string{"Prices as of 2026-11-10", "claude-opus-4-6", "5 / 25 / 6.25 / 10 / 0.5", "fast mode x6",
		"until 2026-03-13: prompt above 200000", "claude-haiku-5-5", "embedded", "web search: $10 per 1,000"} {
		if !strings.Contains(out, want) {
			t.Errorf("ctm prices lacks %q:\n%s", want, out)
		}
	}
	// --json prints what PRICING_FILE accepts, and the same table.
	js := ctm(t, env, "prices", "--json")
	p := filepath.Join(t.TempDir(), "p.json")
	if err := os.WriteFile(p, js, 0o600); err != nil {
		t.Fatal(err)
	}
	env.vars = append(env.vars, "PRICING_FILE="+p)
	out = string(ctm(t, env, "prices"))
	if !strings.Contains(out, "PRICING_FILE") {
		t.Errorf("entries of PRICING_FILE are not marked:\n%s", out)
	}
	if again := ctm(t, env, "prices", "--json"); !bytes.Equal(again, js) {
		t.Error("the table printed through PRICING_FILE differs from the one printed before")
	}
}

func TestPricesUpdate(t *testing.T) {
	newer := strings.Replace(string(pricing.Embedded()), `"as_of": "2026-11-10"`, `"as_of": "2099-01-01"`, 1)
	newer = strings.Replace(newer, `"input": 8, "output": 40`, `"input": 9, "output": 40`, 1)
	older := strings.Replace(string(pricing.Embedded()), `"as_of": "2026-11-10"`, `"as_of": "2020-01-01"`, 1)
	bodies := map[string]string{
		"/newer":    newer,
		"/older":    older,
		"/invalid":  `{"format": 2, "as_of": "2099-01-01", "models": {"m": {"input": -1}}}`,
		"/negative": strings.Replace(newer, `"input": 9,`, `"input": -9,`, 1),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(body))
	}))
	defer srv.Close()

	env, _, stderr := testEnv(t, t.TempDir())
	stored := filepath.Join(filepath.Dir(envVar(env, "DATABASE_PATH")), "prices.json")
	for _, bad := range []string{"/invalid", "/negative", "/missing"} {
		if code := run(t.Context(), []string{"prices", "update", "--url", srv.URL + bad}, env); code == 0 {
			t.Errorf("update from %s succeeded", bad)
		}
		if !strings.Contains(stderr.String(), "nothing changed") {
			t.Errorf("update from %s: stderr %q does not say nothing changed", bad, stderr)
		}
		if _, err := os.Stat(stored); err == nil {
			t.Fatalf("update from %s stored a file", bad)
		}
	}
	if !strings.Contains(stderr.String(), `model "claude-fable-5-2": input: -9 must not be negative`) {
		t.Errorf("the error does not name the bad entry: %s", stderr)
	}

	out := string(ctm(t, env, "prices", "update", "--url", srv.URL+"/older"))
	if !strings.Contains(out, "current") {
		t.Errorf("an older table: %s", out)
	}
	if _, err := os.Stat(stored); err == nil {
		t.Fatal("an older table was stored")
	}

	env.vars = append(env.vars, "PRICING_URL="+srv.URL+"/newer")
	if out := string(ctm(t, env, "prices", "update")); !strings.Contains(out, "as of 2099-01-01") {
		t.Errorf("a newer table: %s", out)
	}
	if out := string(ctm(t, env, "prices")); !strings.Contains(out, "Prices as of 2099-01-01") || !strings.Contains(out, "refreshed") ||
		!strings.Contains(out, "9 / 40 / 10 / 16 / 0.2") {
		t.Errorf("the refreshed table is not in force:\n%s", out)
	}
}

// TestUnpricedIsLoud: a model with no price is named, with what to do, in
// the table, the JSON and the status line.
func TestUnpricedIsLoud(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	path := writeTranscript(t, dir, "p", "s1", []turn{
		{at: at, model: "claude-opus-5-7", in: 100, out: 200},
		{at: at.Add(time.Minute), model: "claude-opus-5", in: 1_000_000, out: 0},
	})
	env, _, _ := testEnv(t, dir)
	out := string(ctm(t, env, "daily"))
	if !strings.Contains(out, "No price known for claude-opus-5-7") || !strings.Contains(out, "ctm prices update") {
		t.Errorf("daily does not name the unpriced model and the fix:\n%s", out)
	}
	if !strings.Contains(out, "$5.00") {
		t.Errorf("the priced Opus 5 request is not $5.00:\n%s", out)
	}
	var js struct {
		Unpriced []string `json:"unpriced_models"`
	}
	if err := json.Unmarshal(ctm(t, env, "daily", "--json"), &js); err != nil || len(js.Unpriced) != 1 || js.Unpriced[0] != "claude-opus-5-7" {
		t.Errorf("daily --json unpriced_models = %v (%v)", js.Unpriced, err)
	}
	env.stdin = strings.NewReader(`{"session_id":"s1","transcript_path":"` + path + `","model":{"id":"claude-opus-5-7"}}`)
	if code := statuslineAt(t.Context(), nil, env, func() time.Time { return at.Add(time.Hour) }); code != 0 {
		t.Fatalf("statusline: exit %d: %s", code, env.stderr)
	}
	if line := env.stdout.(*bytes.Buffer).String(); !strings.Contains(line, "no price for claude-opus-5-7: ctm prices update") {
		t.Errorf("status line %q does not say the model is unpriced", line)
	}
}
