package main

import (
	"bytes"
	"context"
	"flag"
	"github.com/claude-token-monitor/ctm/internal/storetest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/sqlite"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// statuslineCase is one golden test of ctm statusline: the input in
// testdata/statusline/<name>.json ($CLAUDE_DIR and $OUTSIDE are replaced by
// the corpus and a directory outside it) and the expected exit code,
// stdout and stderr in <name>.golden.
type statuslineCase struct {
	name string
	// indexed runs a full index first, as `ctm daily` would have.
	indexed bool
	now     time.Time
}

var statuslineCases = []statuslineCase{
	// Session 2dc8d579 (09:05-09:14) shares the 07:00-12:00 block with
	// 17cd5fe9 (07:12-07:21); at 09:30 the block has 2h30m left.
	{name: "indexed-active", indexed: true, now: time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)},
	// A fresh database: only the session's transcript and its subagents are
	// read, so today and the block hold that session alone.
	{name: "session-only", now: time.Date(2026, 3, 1, 7, 30, 0, 0, time.UTC)},
	{name: "no-active-block", indexed: true, now: time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)},
	{name: "bad-json", indexed: true, now: time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)},
	{name: "empty", now: time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)},
	{name: "outside-roots", now: time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)},
}

// statuslineEnv returns an environment on the real corpus whose stdin is the
// case's input, and the directory that stands for $OUTSIDE.
func statuslineEnv(t testing.TB, tc statuslineCase) (*environ, string) {
	t.Helper()
	claude := filepath.Join(realDir(t), "claude-real")
	env, _, _ := testEnv(t, claude)
	if tc.indexed {
		ctm(t, env, "daily")
	}
	outside := t.TempDir()
	// A real transcript outside the Claude directories: never read.
	src := filepath.Join(claude, "projects", "-Users-anotonio-silva-antonio-lol", "2dc8d579-5131-4469-b014-e4f41d7ce7dc.jsonl")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, filepath.Base(src)), data, 0o644); err != nil {
		t.Fatal(err)
	}
	in, err := os.ReadFile(filepath.Join("testdata", "statusline", tc.name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	in = bytes.ReplaceAll(in, []byte("$CLAUDE_DIR"), []byte(claude))
	in = bytes.ReplaceAll(in, []byte("$OUTSIDE"), []byte(outside))
	env.stdin = bytes.NewReader(in)
	return env, outside
}

func TestStatuslineGolden(t *testing.T) {
	for _, tc := range statuslineCases {
		t.Run(tc.name, func(t *testing.T) {
			env, _ := statuslineEnv(t, tc)
			code := runAt(env, tc.now, statuslineAt)
			got := []byte("exit: " + string(rune('0'+code)) + "\nstdout: " + env.stdout.(*bytes.Buffer).String() +
				"stderr: " + env.stderr.(*bytes.Buffer).String())
			path := filepath.Join("testdata", "statusline", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("ctm statusline output:\n%s\nwant (%s):\n%s", got, path, want)
			}
			if out := env.stdout.(*bytes.Buffer).String(); strings.Count(out, "\n") != 1 {
				t.Errorf("stdout has %d lines, want exactly one: %q", strings.Count(out, "\n"), out)
			}
		})
	}
}

// openTestStore opens the database of env after a command closed it.
func openTestStore(t *testing.T, env *environ) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), envVar(env, "DATABASE_PATH"), storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestStatuslineReadsOnlyTheSession checks the statusline's catch-up: on a
// fresh database it stores exactly the records of its session (with its
// subagent's), and none of a transcript outside the Claude directories.
func TestStatuslineReadsOnlyTheSession(t *testing.T) {
	ctx := context.Background()
	tc := statuslineCases[1] // session-only
	env, _ := statuslineEnv(t, tc)
	if code := runAt(env, tc.now, statuslineAt); code != 0 {
		t.Fatalf("exit %d: %s", code, env.stderr)
	}
	s := openTestStore(t, env)
	all, err := s.CountRecords(ctx, usage.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	session, err := s.CountRecords(ctx, usage.Filter{SessionID: "17cd5fe9-aa9d-49d6-a7d9-10fa28452e3a"})
	if err != nil {
		t.Fatal(err)
	}
	sidechain, err := s.Records(ctx, usage.Filter{}, usage.Page{})
	if err != nil {
		t.Fatal(err)
	}
	subagent := 0
	for _, r := range sidechain {
		if r.IsSidechain {
			subagent++
		}
	}
	if all == 0 || all != session || subagent == 0 {
		t.Errorf("stored %d records, %d of the session, %d from its subagent; want only the session's, subagent included",
			all, session, subagent)
	}

	tc = statuslineCases[5] // outside-roots
	env, _ = statuslineEnv(t, tc)
	if code := runAt(env, tc.now, statuslineAt); code != 0 {
		t.Fatalf("exit %d: %s", code, env.stderr)
	}
	if n, err := openTestStore(t, env).CountRecords(ctx, usage.Filter{}); err != nil || n != 0 {
		t.Errorf("a transcript outside the Claude directories stored %d records (%v), want 0", n, err)
	}
}

// TestStatuslineRecordsRateLimits checks that Claude's own numbers are
// stored once and shown by ctm blocks beside the computed blocks.
func TestStatuslineRecordsRateLimits(t *testing.T) {
	ctx := context.Background()
	tc := statuslineCases[0] // indexed-active, with rate_limits
	env, _ := statuslineEnv(t, tc)
	input, _ := os.ReadFile(filepath.Join("testdata", "statusline", tc.name+".json"))
	claude := filepath.Join(realDir(t), "claude-real")
	input = bytes.ReplaceAll(input, []byte("$CLAUDE_DIR"), []byte(claude))
	for i := range 3 {
		env.stdin = bytes.NewReader(input)
		if code := runAt(env, tc.now.Add(time.Duration(i)*time.Second), statuslineAt); code != 0 {
			t.Fatalf("exit %d: %s", code, env.stderr)
		}
	}
	s := openTestStore(t, env)
	rl, err := s.LatestRateLimits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantFive := usage.RateLimitWindow{UsedPercentage: 23.5, ResetsAt: time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)}
	wantSeven := usage.RateLimitWindow{UsedPercentage: 41.2, ResetsAt: time.Date(2026, 3, 7, 8, 0, 0, 0, time.UTC)}
	if rl.FiveHour == nil || *rl.FiveHour != wantFive || rl.SevenDay == nil || *rl.SevenDay != wantSeven ||
		!rl.Time.Equal(tc.now) || rl.SessionID != "2dc8d579-5131-4469-b014-e4f41d7ce7dc" {
		t.Errorf("stored sample = %+v, five %+v, seven %+v; want %+v, %+v at %v", rl, rl.FiveHour, rl.SevenDay, wantFive, wantSeven, tc.now)
	}
	s.Close()

	v := blocksAt(t, env, tc.now)
	if v.RateLimits == nil || v.RateLimits.FiveHour == nil || v.RateLimits.FiveHour.UsedPercentage != 23.5 {
		t.Errorf("blocks --json rate_limits = %+v, want Claude's 23.5%%", v.RateLimits)
	}
	if code := runAt(env, tc.now, runBlocksAt, "--active"); code != 0 {
		t.Fatalf("exit %d: %s", code, env.stderr)
	}
	want := "Claude's own numbers (received 2026-03-01 09:30): 5-hour 24% (resets 2026-03-01 11:00), 7-day 41% (resets 2026-03-07 08:00)"
	if !strings.Contains(env.stdout.(*bytes.Buffer).String(), want) {
		t.Errorf("blocks table lacks %q:\n%s", want, env.stdout)
	}
}

func TestStatusWindow(t *testing.T) {
	pct := 50.0
	tests := []struct {
		resetsAt string
		want     time.Time
		wantErr  bool
	}{
		{"", time.Time{}, false},
		{"null", time.Time{}, false},
		{"1772362800", time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC), false},
		{"1772362800000", time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC), false},
		{`"1772362800"`, time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC), false},
		{`"2026-03-01T12:00:00+01:00"`, time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC), false},
		{`"soon"`, time.Time{}, true},
		{`true`, time.Time{}, true},
	}
	for _, tt := range tests {
		w := &statusWindow{UsedPercentage: &pct, ResetsAt: []byte(tt.resetsAt)}
		got, err := w.window()
		if (err != nil) != tt.wantErr {
			t.Errorf("resets_at %s: error %v, want error %v", tt.resetsAt, err, tt.wantErr)
			continue
		}
		if err == nil && (got.UsedPercentage != 50 || !got.ResetsAt.Equal(tt.want)) {
			t.Errorf("resets_at %s: %+v, want 50%% resetting at %v", tt.resetsAt, got, tt.want)
		}
	}
	if w, err := (&statusWindow{}).window(); w != nil || err != nil {
		t.Errorf("window without a percentage = %v, %v; want nil, nil", w, err)
	}
}

func TestSessionFiles(t *testing.T) {
	root := t.TempDir()
	transcript := writeTranscript(t, root, "p", "s", []turn{{day0, "claude-opus-4-6", 1, 1}})
	sub := writeTranscript(t, root, "p", filepath.Join("s", "subagents", "agent-1"), []turn{{day0, "claude-opus-4-6", 1, 1}})
	if got := sessionFiles(transcript, []string{root}); len(got) != 2 || got[0] != transcript || got[1] != sub {
		t.Errorf("sessionFiles = %v, want [%s %s]", got, transcript, sub)
	}
	for _, path := range []string{"", filepath.Join(root, "projects", "p", "s.txt"), filepath.Join(root, "..", "x.jsonl")} {
		if got := sessionFiles(path, []string{root}); got != nil {
			t.Errorf("sessionFiles(%q) = %v, want nil", path, got)
		}
	}
}

// BenchmarkStatusline measures one status line on an indexed database, the
// case Claude Code runs on every refresh: it must stay well under 50 ms.
func BenchmarkStatusline(b *testing.B) {
	tc := statuslineCases[0]
	env, _ := statuslineEnv(b, tc)
	input, err := os.ReadFile(filepath.Join("testdata", "statusline", tc.name+".json"))
	if err != nil {
		b.Fatal(err)
	}
	input = bytes.ReplaceAll(input, []byte("$CLAUDE_DIR"), []byte(filepath.Join(realDir(b), "claude-real")))
	ctx := context.Background()
	clock := func() time.Time { return tc.now }
	for b.Loop() {
		env.stdin = bytes.NewReader(input)
		env.stdout.(*bytes.Buffer).Reset()
		if code := statuslineAt(ctx, nil, env, clock); code != 0 {
			b.Fatalf("exit %d: %s", code, env.stderr)
		}
	}
}

func TestStatuslineEdgeCases(t *testing.T) {
	claude := filepath.Join(realDir(t), "claude-real")
	now := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	t.Run("help through run", func(t *testing.T) {
		env, _, stderr := testEnv(t, claude)
		if code := run(context.Background(), []string{"statusline", "-h"}, env); code != 0 {
			t.Errorf("exit %d", code)
		}
		if !strings.Contains(stderr.String(), "usage: ctm statusline") {
			t.Errorf("help = %q", stderr)
		}
	})
	t.Run("bad configuration", func(t *testing.T) {
		env, stdout, stderr := testEnv(t, claude, "TIMEZONE=Mars/Olympus")
		if code := runAt(env, now, statuslineAt); code != 2 {
			t.Errorf("exit %d, want 2", code)
		}
		if stdout.String() != "ctm: status unavailable\n" || !strings.Contains(stderr.String(), "TIMEZONE") {
			t.Errorf("stdout %q, stderr %q; want a safe line and the bad variable named", stdout, stderr)
		}
	})
	t.Run("oversized input", func(t *testing.T) {
		env, stdout, stderr := testEnv(t, claude)
		env.stdin = bytes.NewReader(bytes.Repeat([]byte(" "), maxStatusInput+1))
		if code := runAt(env, now, statuslineAt); code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		if !strings.Contains(stderr.String(), "larger than") || stdout.String() != "today $0.00 | no active block\n" {
			t.Errorf("stdout %q, stderr %q", stdout, stderr)
		}
	})
	t.Run("bad resets_at and unknown model", func(t *testing.T) {
		env, stdout, stderr := testEnv(t, claude)
		env.stdin = strings.NewReader(`{"model":{"id":"gpt-x"},"rate_limits":{"five_hour":{"used_percentage":5,"resets_at":"soon"}}}`)
		if code := runAt(env, now, statuslineAt); code != 0 {
			t.Errorf("exit %d: %s", code, stderr)
		}
		// The line stands; the unreadable window is neither shown nor stored.
		if stdout.String() != "gpt-x | today $0.00 | no active block\n" || !strings.Contains(stderr.String(), "resets_at") {
			t.Errorf("stdout %q, stderr %q", stdout, stderr)
		}
		if _, err := openTestStore(t, env).LatestRateLimits(context.Background()); usage.ErrorCode(err) != usage.ENOTFOUND {
			t.Errorf("LatestRateLimits = %v, want nothing stored", err)
		}
	})
}
