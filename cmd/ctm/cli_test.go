package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runCode runs one command line and returns its exit code, stdout and
// stderr.
func runCode(env *environ, args ...string) (int, string, string) {
	out, errOut := env.stdout.(*bytes.Buffer), env.stderr.(*bytes.Buffer)
	out.Reset()
	errOut.Reset()
	code := run(context.Background(), args, env)
	return code, out.String(), errOut.String()
}

// TestCcusageShortFlags checks that ccusage's short flags, --timezone and
// its YYYYMMDD dates give the same output as the long forms.
func TestCcusageShortFlags(t *testing.T) {
	env, _, _ := testEnv(t, filepath.Join(realDir(t), "claude-real"))
	tests := []struct {
		name        string
		long, short []string
	}{
		{"daily", []string{"daily", "--json", "--breakdown", "--since", "2026-01-02", "--until", "2026-01-05", "--tz", "Asia/Tokyo", "--order", "desc"},
			[]string{"daily", "-j", "-b", "-s", "20260102", "-u", "20260105", "-z", "Asia/Tokyo", "-o", "desc"}},
		{"timezone", []string{"monthly", "--json", "--tz", "America/New_York"},
			[]string{"monthly", "--json", "--timezone", "America/New_York"}},
		{"session", []string{"session", "--json", "--since", "2026-02-01"}, []string{"session", "-j", "--since", "20260201"}},
		{"export", []string{"export", "--since", "2026-02-05", "--until", "2026-02-07", "--breakdown"},
			[]string{"export", "-s", "20260205", "-u", "20260207", "-b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			long := roundCosts(ctm(t, env, tt.long...))
			short := roundCosts(ctm(t, env, tt.short...))
			if long != short {
				t.Errorf("ctm %s printed\n%s\nctm %s printed\n%s", strings.Join(tt.short, " "), short, strings.Join(tt.long, " "), long)
			}
			if strings.Count(long, "\n") < 3 {
				t.Errorf("ctm %s printed almost nothing: %q", strings.Join(tt.long, " "), long)
			}
		})
	}
	// The zone really applies: in Tokyo late UTC records move a day on.
	if tokyo, utc := ctm(t, env, "daily", "-j", "-z", "Asia/Tokyo"), ctm(t, env, "daily", "-j"); bytes.Equal(tokyo, utc) {
		t.Error("daily -z Asia/Tokyo printed the UTC days")
	}

	// blocks, with a fixed clock: its rolling week ends now.
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	long := blocksAt(t, env, now, "--since", "2026-02-01", "--until", "2026-02-13", "--tz", "Europe/Paris")
	short := blocksAt(t, env, now, "-s", "20260201", "-u", "20260213", "-z", "Europe/Paris")
	if len(long.Blocks) < 3 || len(short.Blocks) != len(long.Blocks) || !short.Blocks[0].StartTime.Equal(long.Blocks[0].StartTime) {
		t.Errorf("blocks -s/-u gave %d blocks, --since/--until %d (want at least 3, the same)", len(short.Blocks), len(long.Blocks))
	}
	if code := runAt(env, now, runBlocksAt, "-j", "-s", "20260201"); code != 0 || !json.Valid(env.stdout.(*bytes.Buffer).Bytes()) {
		t.Errorf("blocks -j: exit %d, not JSON: %s", code, env.stdout)
	}
}

// decimal matches a fractional number; the last digits of a float cost
// depend on the order of summation until costs are integers.
var decimal = regexp.MustCompile(`\d+\.\d+(e[+-]?\d+)?`)

// roundCosts returns out with fractional numbers rounded to 6 decimals.
// Costs are exact multiples of 1e-10 USD; the offset, far above float noise
// and off that grid, keeps a cost that ends in 5 at the 7th decimal from
// rounding up in one run and down in the next.
func roundCosts(out []byte) string {
	return decimal.ReplaceAllStringFunc(string(out), func(m string) string {
		f, err := strconv.ParseFloat(m, 64)
		if err != nil {
			return m
		}
		return strconv.FormatFloat(f+3.3e-11, 'f', 6, 64)
	})
}

func TestHelpListsShortFlags(t *testing.T) {
	env, _, _ := testEnv(t, t.TempDir())
	for cmd, want := range map[string][]string{
		"daily":   {"-j, --json", "-b, --breakdown", "-s, --since day", "-u, --until day", "-o, --order", "-z, --timezone, --tz zone", "YYYYMMDD"},
		"session": {"--sort", "last (activity), cost or tokens"},
		"blocks":  {"-j, --json", "-s, --since day", "-z, --timezone, --tz zone"},
		"export":  {"-b, --breakdown", "-s, --since day", "  -o file"},
	} {
		code, _, stderr := runCode(env, cmd, "-h")
		if code != 0 {
			t.Errorf("ctm %s -h: exit %d", cmd, code)
		}
		for _, w := range want {
			if !strings.Contains(stderr, w) {
				t.Errorf("ctm %s -h lacks %q:\n%s", cmd, w, stderr)
			}
		}
	}
}

func TestDateFlagErrors(t *testing.T) {
	env, _, _ := testEnv(t, filepath.Join(realDir(t), "claude-real"))
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"daily", "--since", "2026-13-45"}, `--since: "2026-13-45" is not a valid date: there is no month 13`},
		{[]string{"daily", "-s", "20260230"}, `--since: "20260230" is not a valid date: February 2026 has no day 30`},
		{[]string{"monthly", "--until", "2026-04-31"}, `--until: "2026-04-31" is not a valid date: April 2026 has no day 31`},
		{[]string{"daily", "--since", "yesterday"}, `--since: "yesterday" is not a date: use YYYY-MM-DD or YYYYMMDD`},
		{[]string{"daily", "--since", "2026-0102"}, `"2026-0102" is not a date`},
		{[]string{"blocks", "-u", "2026-02-29"}, `--until: "2026-02-29" is not a valid date: February 2026 has no day 29`},
		{[]string{"export", "--since", "2026-00-10"}, "there is no month 00"},
	}
	for _, tt := range tests {
		code, _, stderr := runCode(env, tt.args...)
		if code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("ctm %s: exit %d, stderr %q; want 2 and %q", strings.Join(tt.args, " "), code, stderr, tt.want)
		}
		if strings.Contains(stderr, "YYYY-MM-DD form") {
			t.Errorf("ctm %s still says the form is wrong: %q", strings.Join(tt.args, " "), stderr)
		}
	}
	// A leap day that exists is accepted in both forms.
	ctm(t, env, "daily", "-s", "20240229", "-u", "2024-02-29")
}

func TestVersionAndHelpCommands(t *testing.T) {
	env, _, _ := testEnv(t, t.TempDir())
	for _, args := range [][]string{{"--version"}, {"-v"}, {"version"}} {
		code, stdout, stderr := runCode(env, args...)
		if code != 0 || !strings.HasPrefix(stdout, "ctm ") || strings.Count(stdout, "\n") != 1 {
			t.Errorf("ctm %s: exit %d, stdout %q, stderr %q; want 0 and one line", strings.Join(args, " "), code, stdout, stderr)
		}
	}
	if code, _, stderr := runCode(env, "version", "-h"); code != 0 || !strings.Contains(stderr, "usage: ctm version") {
		t.Errorf("ctm version -h: exit %d, stderr %q; want 0 and its usage", code, stderr)
	}
	if code, _, _ := runCode(env, "version", "extra"); code != 2 {
		t.Errorf("ctm version extra: exit %d, want 2", code)
	}
	for _, cmd := range []string{"daily", "session", "blocks", "export", "serve", "statusline", "version", "token"} {
		code, stdout, stderr := runCode(env, "help", cmd)
		if code != 0 || !strings.Contains(stderr, "usage: ctm "+cmd) || strings.Contains(stdout, "usage: ctm <command>") {
			t.Errorf("ctm help %s: exit %d, stderr %q, stdout %q; want 0 and the command's own usage", cmd, code, stderr, stdout)
		}
	}
	if code, stdout, _ := runCode(env, "help"); code != 0 || !strings.Contains(stdout, "usage: ctm <command>") {
		t.Errorf("ctm help: exit %d, stdout %q", code, stdout)
	}
	if code, _, stderr := runCode(env, "help", "frobnicate"); code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("ctm help frobnicate: exit %d, stderr %q", code, stderr)
	}
}

func TestClaudeDirMustExist(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "claude-typo")
	notClaude := t.TempDir()
	if err := os.WriteFile(filepath.Join(notClaude, "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, dir, want string
	}{
		{"missing", missing, missing + " does not exist"},
		{"no projects folder", notClaude, notClaude + " holds no projects/ folder"},
		{"one of two missing", filepath.Join(realDir(t), "claude-real") + "," + missing, missing + " does not exist"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env, _, _ := testEnv(t, tt.dir)
			for _, cmd := range []string{"daily", "session", "blocks", "export"} {
				code, stdout, stderr := runCode(env, cmd)
				if code == 0 || !strings.Contains(stderr, tt.want) {
					t.Errorf("ctm %s: exit %d, stderr %q; want non-zero and %q", cmd, code, stderr, tt.want)
				}
				if strings.Contains(stdout, "No usage found") {
					t.Errorf("ctm %s reported no usage instead of the bad directory: %q", cmd, stdout)
				}
			}
		})
	}
	t.Run("chosen empty dir", func(t *testing.T) {
		env, _, _ := testEnv(t, t.TempDir())
		if out := string(ctm(t, env, "daily")); !strings.Contains(out, "No usage found") {
			t.Errorf("ctm daily on an empty dir printed %q", out)
		}
	})
}

func TestDatabaseErrorsNameThePath(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "notes.db")
	if err := os.WriteFile(bad, bytes.Repeat([]byte("not a database\n"), 200), 0o644); err != nil {
		t.Fatal(err)
	}
	env, _, _ := testEnv(t, filepath.Join(realDir(t), "claude-real"), "DATABASE_PATH="+bad)
	code, _, stderr := runCode(env, "daily")
	if code == 0 || !strings.Contains(stderr, `DATABASE_PATH "`+bad+`" is not a SQLite database`) {
		t.Errorf("ctm daily on a text file: exit %d, stderr %q", code, stderr)
	}

	// The read-only cases cannot be staged for a root test process, which
	// may write anywhere, so explainDBError gets SQLite's error and a probe.
	readonly := errors.New("attempt to write a readonly database (1544)")
	path := "/data/ctm/monitor.db"
	denied := func(string) error { return os.ErrPermission }
	var probed []string
	allowed := func(dir string) error { probed = append(probed, dir); return nil }
	got := explainDBError(path, readonly, denied).Error()
	if want := `DATABASE_PATH "/data/ctm/monitor.db": the directory /data/ctm cannot be written`; !strings.Contains(got, want) {
		t.Errorf("read-only directory: %q, want %q", got, want)
	}
	got = explainDBError(path, readonly, allowed).Error()
	if want := `DATABASE_PATH "/data/ctm/monitor.db": the database file cannot be written`; !strings.Contains(got, want) || !slices.Equal(probed, []string{"/data/ctm"}) {
		t.Errorf("read-only file: %q after probing %v, want %q after probing /data/ctm", got, probed, want)
	}
	if got := explainDBError(path, errors.New("disk I/O error"), denied).Error(); !strings.Contains(got, path) {
		t.Errorf("other error %q does not name the database", got)
	}
	if err := dirWritable(t.TempDir()); err != nil {
		t.Errorf("dirWritable(temp dir) = %v", err)
	}
	if err := dirWritable(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("dirWritable(missing dir) = nil, want an error")
	}
}

// TestExportSaysWhyItIsEmpty: the corpus ends in 2026-03, so the default
// last 30 days hold nothing and the CSV is a header only.
func TestExportSaysWhyItIsEmpty(t *testing.T) {
	env, _, _ := testEnv(t, filepath.Join(realDir(t), "claude-real"))
	for _, format := range []string{"csv", "json"} {
		code, stdout, stderr := runCode(env, "export", "--format", format)
		if code != 0 {
			t.Fatalf("ctm export --format %s: exit %d: %s", format, code, stderr)
		}
		if !strings.Contains(stderr, "ctm export: no usage between ") ||
			!strings.Contains(stderr, "the data runs from 2025-08-14 to 2026-03-01") {
			t.Errorf("ctm export --format %s: stderr %q, want the empty range and the data's range", format, stderr)
		}
		if stdout == "" {
			t.Errorf("ctm export --format %s printed nothing on stdout, want the empty export", format)
		}
	}
	if _, _, stderr := runCode(env, "export", "--since", "2026-02-05", "--until", "2026-02-07"); strings.Contains(stderr, "no usage") {
		t.Errorf("an export with rows still says %q", stderr)
	}
	code, _, stderr := runCode(env, "export", "--since", "2025-09-01", "--until", "2025-09-30")
	if code != 0 || !strings.Contains(stderr, "no usage between 2025-09-01 and 2025-09-30; the data runs from 2025-08-14 to 2026-03-01") {
		t.Errorf("empty chosen range: exit %d, stderr %q", code, stderr)
	}
	empty, _, _ := testEnv(t, t.TempDir())
	if _, _, stderr := runCode(empty, "export"); !strings.Contains(stderr, "nothing is recorded yet") {
		t.Errorf("empty database: stderr %q", stderr)
	}
}

func TestSessionSort(t *testing.T) {
	env, _, _ := testEnv(t, filepath.Join(realDir(t), "claude-real"))
	sessions := func(args ...string) []row {
		t.Helper()
		var out struct {
			Sessions []row `json:"sessions"`
		}
		if err := json.Unmarshal(ctm(t, env, append([]string{"session", "--json"}, args...)...), &out); err != nil {
			t.Fatal(err)
		}
		if len(out.Sessions) < 10 {
			t.Fatalf("only %d sessions", len(out.Sessions))
		}
		return out.Sessions
	}
	byCost := sessions("--sort", "cost", "-o", "desc")
	if !slices.IsSortedFunc(byCost, func(a, b row) int { return -cmp.Compare(a.CostUSD, b.CostUSD) }) {
		t.Errorf("--sort cost -o desc is not by cost, largest first")
	}
	byLast := sessions()
	if byLast[0].SessionID == byCost[0].SessionID && byLast[len(byLast)-1].SessionID == byCost[len(byCost)-1].SessionID {
		t.Errorf("--sort cost gave the recency order")
	}
	byTokens := sessions("--sort", "tokens")
	if !slices.IsSortedFunc(byTokens, func(a, b row) int { return int(a.Total - b.Total) }) {
		t.Errorf("--sort tokens is not by total tokens, smallest first")
	}
	// The table follows the same order: the most expensive session first.
	out := string(ctm(t, env, "session", "--sort", "cost", "--order", "desc"))
	lines := strings.Split(out, "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[2], byCost[0].SessionID[:8]) {
		t.Errorf("table does not start with %s:\n%s", byCost[0].SessionID[:8], out)
	}
	if code, _, stderr := runCode(env, "session", "--sort", "price"); code != 2 || !strings.Contains(stderr, `--sort: "price" is not last, cost or tokens`) {
		t.Errorf("--sort price: exit %d, stderr %q", code, stderr)
	}
}
