package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestReportsAgree checks that every cut of the corpus adds up to the same
// totals (DESIGN §2 rule 6).
func TestReportsAgree(t *testing.T) {
	env, _, _ := testEnv(t, filepath.Join(realDir(t), "claude-real"))
	var ref row
	for i, cmd := range []string{"daily", "weekly", "monthly", "session", "projects"} {
		var out struct {
			Totals row `json:"totals"`
		}
		var rows map[string]json.RawMessage
		b := ctm(t, env, cmd, "--json")
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		if err := json.Unmarshal(b, &rows); err != nil {
			t.Fatal(err)
		}
		list := map[string]string{"daily": "daily", "weekly": "weekly", "monthly": "monthly", "session": "sessions", "projects": "projects"}[cmd]
		var items []row
		if err := json.Unmarshal(rows[list], &items); err != nil || len(items) == 0 {
			t.Fatalf("%s: no %q rows (%v)", cmd, list, err)
		}
		var sum row
		for _, it := range items {
			sum.Input += it.Input
			sum.Output += it.Output
			sum.CacheRead += it.CacheRead
			sum.CacheCreation += it.CacheCreation
			sum.Entries += it.Entries
			sum.CostUSD += it.CostUSD
		}
		if sum.Input != out.Totals.Input || sum.Output != out.Totals.Output || sum.CacheRead != out.Totals.CacheRead ||
			sum.CacheCreation != out.Totals.CacheCreation || sum.Entries != out.Totals.Entries {
			t.Errorf("%s rows sum to %+v, totals %+v", cmd, sum, out.Totals)
		}
		if i == 0 {
			ref = out.Totals
		} else if out.Totals.Total != ref.Total || out.Totals.Entries != ref.Entries {
			t.Errorf("%s totals %d tokens / %d entries, daily says %d / %d", cmd, out.Totals.Total, out.Totals.Entries, ref.Total, ref.Entries)
		}
	}
}

func TestReportFilters(t *testing.T) {
	env, _, _ := testEnv(t, filepath.Join(realDir(t), "claude-real"))
	var out struct {
		Daily  []row `json:"daily"`
		Totals row   `json:"totals"`
	}
	if err := json.Unmarshal(ctm(t, env, "daily", "--json", "--since", "2026-01-02", "--until", "2026-01-05"), &out); err != nil {
		t.Fatal(err)
	}
	var dates []string
	for _, d := range out.Daily {
		dates = append(dates, d.Date)
	}
	if got := strings.Join(dates, ","); got != "2026-01-02,2026-01-03,2026-01-05" {
		t.Errorf("days = %s, want 2026-01-02,2026-01-03,2026-01-05", got)
	}

	// A unique part of a project path selects it.
	var proj struct {
		Projects []struct {
			Project string `json:"project"`
		} `json:"projects"`
	}
	if err := json.Unmarshal(ctm(t, env, "projects", "--json", "--project", "cctrace"), &proj); err != nil {
		t.Fatal(err)
	}
	if len(proj.Projects) != 1 || proj.Projects[0].Project != "/mnt/c/python/cctrace" {
		t.Errorf("--project cctrace selected %+v", proj.Projects)
	}

	// In Tokyo the late-evening UTC records move to the next day.
	var tokyo struct {
		Daily []row `json:"daily"`
	}
	if err := json.Unmarshal(ctm(t, env, "daily", "--json", "--tz", "Asia/Tokyo"), &tokyo); err != nil {
		t.Fatal(err)
	}
	if len(tokyo.Daily) == 0 || tokyo.Daily[0].Date != "2025-08-14" {
		t.Fatalf("Tokyo days start %+v", tokyo.Daily)
	}
	var sum int64
	for _, d := range tokyo.Daily {
		sum += d.Entries
	}
	if sum != 1119 {
		t.Errorf("Tokyo days hold %d entries, want all 1119", sum)
	}
}

func TestReportTables(t *testing.T) {
	env, stdout, _ := testEnv(t, filepath.Join(realDir(t), "claude-real"))
	for _, cmd := range []string{"daily", "weekly", "monthly", "session", "projects"} {
		ctm(t, env, cmd, "--breakdown", "--order", "desc")
		out := stdout.String()
		if !strings.Contains(out, "Total") || !strings.Contains(out, "$68.65") || !strings.Contains(out, "83,850,697") {
			t.Errorf("%s table lacks the totals row:\n%s", cmd, out)
		}
		if !strings.Contains(out, "└ ") {
			t.Errorf("%s --breakdown shows no model rows:\n%s", cmd, out)
		}
	}
	ctm(t, env, "daily", "--since", "2030-01-01")
	if !strings.Contains(stdout.String(), "No usage found") {
		t.Errorf("empty range printed %q", stdout.String())
	}
}

func TestCommandErrors(t *testing.T) {
	dir := filepath.Join(realDir(t), "claude-real")
	tests := []struct {
		name     string
		args     []string
		extra    []string
		wantCode int
		wantErr  string
	}{
		{"unknown command", []string{"frobnicate"}, nil, 2, `unknown command "frobnicate"`},
		{"bad since", []string{"daily", "--since", "2026-02-30"}, nil, 2, `since: "2026-02-30" is not a valid date`},
		{"since after until", []string{"daily", "--since", "2026-02-02", "--until", "2026-02-01"}, nil, 2, "is after until"},
		{"bad order", []string{"session", "--order", "sideways"}, nil, 2, "--order"},
		{"bad flag", []string{"monthly", "--nope"}, nil, 2, "flag provided but not defined"},
		{"stray argument", []string{"daily", "extra"}, nil, 2, `unexpected argument "extra"`},
		{"bad tz", []string{"daily", "--tz", "Mars/Olympus"}, nil, 2, "Mars/Olympus"},
		{"bad env", []string{"daily"}, []string{"RETENTION_DAYS=soon"}, 2, `RETENTION_DAYS: "soon"`},
		{"unknown project", []string{"daily", "--project", "no-such-project"}, nil, 1, `no project matches "no-such-project"`},
		{"ambiguous project", []string{"daily", "--project", "Users"}, nil, 2, "matches"},
		{"bad pricing file", []string{"daily"}, []string{"PRICING_FILE=/nonexistent/prices.json"}, 1, "prices.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, _, stderr := testEnv(t, dir, tt.extra...)
			code := run(context.Background(), tt.args, env)
			if code != tt.wantCode {
				t.Errorf("exit = %d, want %d; stderr:\n%s", code, tt.wantCode, stderr)
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.wantErr)
			}
		})
	}
}

func TestHelpVersionConfig(t *testing.T) {
	env, stdout, stderr := testEnv(t, "/nonexistent", "AUTH_TOKEN=s3cret-token", "DATABASE_URL=postgres://u:hunter2@db/x")
	if code := run(context.Background(), nil, env); code != 0 || !strings.Contains(stdout.String(), "usage: ctm <command>") {
		t.Errorf("help: exit %d, out %q", code, stdout)
	}
	if got := string(ctm(t, env, "version")); !strings.HasPrefix(got, "ctm ") {
		t.Errorf("version printed %q", got)
	}
	if code := run(context.Background(), []string{"daily", "-h"}, env); code != 0 || !strings.Contains(stderr.String(), "--since") && !strings.Contains(stderr.String(), "-since") {
		t.Errorf("daily -h: exit %d, stderr %q", code, stderr)
	}
	out := string(ctm(t, env, "config", "--port", "6000"))
	if strings.Contains(out, "s3cret-token") || strings.Contains(out, "hunter2") {
		t.Errorf("config leaks a secret:\n%s", out)
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg["port"] != float64(6000) || cfg["timezone"] != "UTC" {
		t.Errorf("config port %v tz %v, want the flag's 6000 and TZ's UTC", cfg["port"], cfg["timezone"])
	}
}
