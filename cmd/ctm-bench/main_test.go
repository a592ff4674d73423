package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/claude-token-monitor/ctm/internal/gen"
)

// TestHelperProcess is not a test: measure runs the test binary as a child
// that allocates and touches memory, so peak RSS can be checked.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("CTM_BENCH_HELPER") != "1" {
		t.Skip("helper process")
	}
	b := make([]byte, 32<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	fmt.Println("allocated", len(b))
	os.Exit(0)
}

func helperArgv(t *testing.T) []string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return []string{exe, "-test.run=^TestHelperProcess$"}
}

func TestMeasurePeakRSS(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("rusage units checked on Linux only")
	}
	env := []string{"CTM_BENCH_HELPER=1"}
	direct, err := measure(context.Background(), helperArgv(t), env, t.TempDir())
	if err != nil {
		t.Fatalf("measure(helper): %v", err)
	}
	if direct.MaxRSS < 32<<20 {
		t.Errorf("MaxRSS = %d, want >= 32 MiB for a child that touched 32 MiB", direct.MaxRSS)
	}
	if !bytes.Contains(direct.stdout, []byte("allocated 33554432")) {
		t.Errorf("stdout = %q, want the child's output", direct.stdout)
	}
	if direct.Wall <= 0 {
		t.Errorf("Wall = %s, want > 0", direct.Wall)
	}
	// Through a shell that does not exec: the peak of the largest
	// descendant is what rusage reports for the tree.
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	argv := helperArgv(t)
	wrapped, err := measure(context.Background(), []string{sh, "-c", `"$0" "$1"; true`, argv[0], argv[1]}, env, t.TempDir())
	if err != nil {
		t.Fatalf("measure(sh -c helper): %v", err)
	}
	if wrapped.MaxRSS < 32<<20 {
		t.Errorf("MaxRSS through sh = %d, want >= 32 MiB (the descendant's peak)", wrapped.MaxRSS)
	}
}

func TestMeasureFailure(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	_, err = measure(context.Background(), []string{sh, "-c", "echo something broke >&2; exit 3"}, nil, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "exited with 3") || !strings.Contains(err.Error(), "something broke") {
		t.Errorf("measure(failing) error = %v, want exit code and stderr", err)
	}
	_, err = measure(context.Background(), []string{filepath.Join(t.TempDir(), "missing")}, nil, t.TempDir())
	if err == nil {
		t.Errorf("measure(missing binary) succeeded, want an error")
	}
}

func TestTailBufferKeepsTheEnd(t *testing.T) {
	tb := &tailBuffer{max: 5}
	fmt.Fprint(tb, "abc")
	fmt.Fprint(tb, "defgh")
	if got := string(tb.buf); got != "defgh" {
		t.Errorf("tailBuffer = %q, want %q", got, "defgh")
	}
}

func TestChildEnvIsFresh(t *testing.T) {
	t.Setenv("CTM_BENCH_LEAK", "1")
	env := childEnv("/h", "/data", "/h/db", "/cc")
	for _, want := range []string{"HOME=/h", "CLAUDE_DIR=/data", "DATABASE_PATH=/h/db", "TZ=UTC", "CCUSAGE_HOME=/cc"} {
		if !slices.Contains(env, want) {
			t.Errorf("childEnv lacks %s: %q", want, env)
		}
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "CTM_BENCH_LEAK=") {
			t.Errorf("childEnv inherited %s", kv)
		}
	}
	if env := childEnv("/h", "/d", "/db", ""); slices.ContainsFunc(env, func(s string) bool { return strings.HasPrefix(s, "CCUSAGE_HOME=") }) {
		t.Errorf("childEnv without ccusage home sets CCUSAGE_HOME: %q", env)
	}
}

func TestInstallEnvKeepsTheMachinesSettings(t *testing.T) {
	t.Setenv("NODE_EXTRA_CA_CERTS", "/etc/ca.pem")
	t.Setenv("HTTPS_PROXY", "http://proxy:3128")
	t.Setenv("HOME", "/real-home")
	t.Setenv("CLAUDE_CONFIG_DIR", "/real-home/.claude")
	t.Setenv("TZ", "Europe/Paris")
	env := installEnv(childEnv("/h", "/data", "/h/db", "/cc"))
	for _, want := range []string{"NODE_EXTRA_CA_CERTS=/etc/ca.pem", "HTTPS_PROXY=http://proxy:3128",
		"HOME=/h", "CLAUDE_DIR=/data", "TZ=UTC", "CCUSAGE_HOME=/cc"} {
		if !slices.Contains(env, want) {
			t.Errorf("installEnv lacks %s: %q", want, env)
		}
	}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if kv == "HOME=/real-home" || kv == "TZ=Europe/Paris" || k == "CLAUDE_CONFIG_DIR" {
			t.Errorf("installEnv passed on %s", kv)
		}
	}
}

// fakeTools writes stand-in ccusage and ctm scripts into dir. Both check
// the environment the harness must give them and log every call; ctm
// behaves like an indexer: it records whether its database already existed.
func fakeTools(t *testing.T, dir, ccJSON, ctmJSON string) (ccusage, ctm, log string) {
	t.Helper()
	log = filepath.Join(dir, "calls.log")
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("#!/bin/sh\nset -eu\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	check := fmt.Sprintf(`[ "$TZ" = UTC ] || { echo "TZ=$TZ" >&2; exit 9; }
[ "$HOME" != %q ] || { echo "real HOME leaked" >&2; exit 9; }
[ -n "$CLAUDE_DIR" ] && [ -d "${CLAUDE_DIR%%,*}" ] || { echo "bad CLAUDE_DIR" >&2; exit 9; }
[ "$(pwd)" = "$HOME" ] || { echo "cwd $(pwd) is not the sandbox" >&2; exit 9; }
`, os.Getenv("HOME"))
	ccFile := filepath.Join(dir, "cc.json")
	ctmFile := filepath.Join(dir, "ctm.json")
	for path, body := range map[string]string{ccFile: ccJSON, ctmFile: ctmJSON} {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ccusage = write("ccusage.sh", check+fmt.Sprintf(`[ "$1" = "$CLAUDE_DIR" ] && [ "$2 $3 $4" = "claude daily --json" ] || exit 8
echo "ccusage $HOME" >> %q
cat %q
`, log, ccFile))
	ctm = write("ctm", check+fmt.Sprintf(`[ "$1 $2" = "daily --json" ] || exit 8
if [ -e "$DATABASE_PATH" ]; then state=indexed; else state=new; echo db > "$DATABASE_PATH"; fi
echo "ctm $state $DATABASE_PATH" >> %q
cat %q
`, log, ctmFile))
	return ccusage, ctm, log
}

func TestRunMeasuresAllScenarios(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	tools := t.TempDir()
	data := t.TempDir()
	m, err := gen.Generate(context.Background(), gen.Config{Dir: data, Size: 128 << 10, Seed: 5})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	// Both stand-ins print the generator's exact totals on one day.
	e := manifestTokens(m)
	ctmJSON := fmt.Sprintf(`{"daily":[{"date":"2026-01-10","input_tokens":%d,"output_tokens":%d,"cache_creation_tokens":%d,"cache_read_tokens":%d,"total_tokens":%d,"cost_usd":1}],"totals":{"input_tokens":%[1]d,"output_tokens":%[2]d,"cache_creation_tokens":%[3]d,"cache_read_tokens":%[4]d,"total_tokens":%[5]d,"cost_usd":1}}`,
		e.Input, e.Output, e.CacheCreation, e.CacheRead, e.Total)
	ccJSON := fmt.Sprintf(`{"daily":[{"date":"2026-01-10","inputTokens":%d,"outputTokens":%d,"cacheCreationTokens":%d,"cacheReadTokens":%d,"totalTokens":%d,"totalCost":1}],"totals":{"inputTokens":%[1]d,"outputTokens":%[2]d,"cacheCreationTokens":%[3]d,"cacheReadTokens":%[4]d,"totalTokens":%[5]d,"totalCost":1}}`,
		e.Input, e.Output, e.CacheCreation, e.CacheRead, e.Total)
	ccusage, ctm, log := fakeTools(t, tools, ccJSON, ctmJSON)
	out := filepath.Join(tools, "results.json")

	var stdout, stderr bytes.Buffer
	code := runMain(context.Background(), []string{"-data", data, "-ctm", ctm, "-ccusage", ccusage, "-runs", "2", "-repeat", "3", "-json", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("runMain = %d, stderr:\n%s", code, stderr.String())
	}

	calls, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Split(strings.TrimSpace(string(calls)), "\n")
	// ccusage and the ctm first index alternate after ccusage's warm-up.
	if len(all) != 3+2+3+3 || !strings.HasPrefix(all[0], "ccusage") || !strings.HasPrefix(all[1], "ccusage") ||
		!strings.HasPrefix(all[2], "ctm new") || !strings.HasPrefix(all[3], "ccusage") || !strings.HasPrefix(all[4], "ctm new") {
		t.Fatalf("calls = %q, want 3 ccusage (1 warm-up) alternating with 2 first-index runs, then 3 unchanged and 3 after-append ctm runs", all)
	}
	lines := append([]string{all[0], all[1], all[3], all[2], all[4]}, all[5:]...)
	homes := map[string]bool{}
	for _, l := range lines[:3] {
		homes[l] = true
	}
	if len(homes) != 3 {
		t.Errorf("ccusage runs shared a HOME: %q", lines[:3])
	}
	first1, first2 := strings.Fields(lines[3]), strings.Fields(lines[4])
	if first1[1] != "new" || first2[1] != "new" || first1[2] == first2[2] {
		t.Errorf("first-index runs = %q, %q; want two fresh databases", lines[3], lines[4])
	}
	for _, l := range lines[5:] {
		if f := strings.Fields(l); f[1] != "indexed" || f[2] != first2[2] {
			t.Errorf("unchanged run = %q, want the indexed database %s", l, first2[2])
		}
	}

	var r results
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("read -json output: %v", err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("parse -json output: %v", err)
	}
	if len(r.CCUsage.Runs) != 2 || len(r.CTMFirst.Runs) != 2 || len(r.CTMAgain.Runs) != 3 {
		t.Errorf("runs = %d ccusage, %d first, %d unchanged; want 2, 2, 3", len(r.CCUsage.Runs), len(r.CTMFirst.Runs), len(r.CTMAgain.Runs))
	}
	if len(r.Differences) != 0 {
		t.Errorf("Differences = %q, want none", r.Differences)
	}
	if r.Generated == nil || r.Generated.UniqueResponses != m.UniqueResponses || r.Generated.Shape != gen.ShapeDefault {
		t.Errorf("Generated = %+v, want the manifest's %d unique responses in the default shape", r.Generated, m.UniqueResponses)
	}
	if len(r.Goals) != 6 || r.Goals[0].Result == resultNA || len(r.CTMAppend.Runs) != 3 {
		t.Errorf("Goals = %+v, want 6 rows, the first measured, and 3 after-append runs", r.Goals)
	}
	// The stand-in ctm cannot serve: the status line row is n/a.
	if r.CTMStatus.Error == "" || r.Goals[5].Result != resultNA {
		t.Errorf("statusline with a ctm that cannot serve = %+v, %+v; want an error and n/a", r.CTMStatus, r.Goals[5])
	}
	text := stdout.String()
	for _, want := range []string{"first index wall", "unchanged report wall", "<= 0.03x", "<= 40 ms", "all sources agree", "expected", "unique responses"} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
}

func TestRunReportsDisagreementAndFailures(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	tools, data := t.TempDir(), t.TempDir()
	ccusage, ctm, _ := fakeTools(t, tools, ccusageSample, strings.Replace(ctmSample, `"output_tokens":22`, `"output_tokens":23`, 1))

	var stdout, stderr bytes.Buffer
	if code := runMain(context.Background(), []string{"-data", data, "-ctm", ctm, "-ccusage", ccusage, "-runs", "1", "-repeat", "1"}, &stdout, &stderr); code != 0 {
		t.Fatalf("runMain = %d, stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "totals output: 23 vs 22 (-1) (ctm vs ccusage)") {
		t.Errorf("report does not show the output difference:\n%s", stdout.String())
	}
	if !strings.Contains(stdout.String(), "no generator manifest") {
		t.Errorf("report does not say the data set has no manifest:\n%s", stdout.String())
	}

	// A ctm that fails: ccusage is still reported, the exit code is 1.
	broken := filepath.Join(tools, "broken-ctm")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\necho 'database locked' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	if code := runMain(context.Background(), []string{"-data", data, "-ctm", broken, "-ccusage", ccusage, "-runs", "1"}, &stdout, &stderr); code != 1 {
		t.Errorf("runMain with failing ctm = %d, want 1", code)
	}
	for _, want := range []string{"ctm first index failed", "database locked", "n/a"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, stdout.String())
		}
	}

	// ccusage only, as while ctm does not build yet.
	stdout.Reset()
	if code := runMain(context.Background(), []string{"-data", data, "-ccusage", ccusage, "-runs", "1"}, &stdout, &stderr); code != 0 {
		t.Errorf("runMain with ccusage only = %d, want 0; stderr: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "nothing to compare") {
		t.Errorf("ccusage-only report:\n%s", stdout.String())
	}
}

// flakyCCUsage writes a wrapper around ccusage that fails its first fails
// calls, as ccusage did on its first run after being installed, and
// counts every call in the file it returns.
func flakyCCUsage(t *testing.T, dir, ccusage string, fails int) (wrapper, count string) {
	t.Helper()
	count = filepath.Join(dir, "flaky.count")
	wrapper = filepath.Join(dir, "flaky-ccusage.sh")
	body := fmt.Sprintf(`#!/bin/sh
n=$(cat %[1]q 2>/dev/null || echo 0)
n=$((n + 1))
echo $n > %[1]q
if [ $n -le %[2]d ]; then echo "installed; first run failed" >&2; exit 1; fi
exec %[3]q "$@"
`, count, fails, ccusage)
	if err := os.WriteFile(wrapper, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return wrapper, count
}

func TestWarmUpIsTriedTwice(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	tools, data := t.TempDir(), t.TempDir()
	ccusage, ctm, _ := fakeTools(t, tools, ccusageSample, ctmSample)

	// A warm-up that fails once: the second attempt counts, and every
	// measured run happens.
	once, count := flakyCCUsage(t, t.TempDir(), ccusage, 1)
	var stdout, stderr bytes.Buffer
	if code := runMain(context.Background(), []string{"-data", data, "-ctm", ctm, "-ccusage", once, "-runs", "2", "-repeat", "1"}, &stdout, &stderr); code != 0 {
		t.Fatalf("runMain with a warm-up that fails once = %d, stderr:\n%s", code, stderr.String())
	}
	if b, _ := os.ReadFile(count); strings.TrimSpace(string(b)) != "4" {
		t.Errorf("ccusage calls = %s, want 4: two warm-ups and two measured runs", b)
	}
	if !strings.Contains(stderr.String(), "warm-up failed, trying again") || !strings.Contains(stderr.String(), "first run failed") {
		t.Errorf("log does not tell of the failed warm-up:\n%s", stderr.String())
	}
	if strings.Contains(stdout.String(), "ccusage failed") {
		t.Errorf("report says ccusage failed after a successful retry:\n%s", stdout.String())
	}

	// A ccusage that keeps failing is tried twice, then reported.
	always, count := flakyCCUsage(t, t.TempDir(), ccusage, 1000)
	stdout.Reset()
	stderr.Reset()
	runMain(context.Background(), []string{"-data", data, "-ctm", ctm, "-ccusage", always, "-runs", "2", "-repeat", "1"}, &stdout, &stderr)
	if b, _ := os.ReadFile(count); strings.TrimSpace(string(b)) != "2" {
		t.Errorf("calls of a ccusage that always fails = %s, want 2 warm-ups and no measured run", b)
	}
	if !strings.Contains(stdout.String(), "ccusage failed") || !strings.Contains(stdout.String(), "first run failed") {
		t.Errorf("report does not say why ccusage failed:\n%s", stdout.String())
	}
}

func TestWarmCacheReadsEveryFile(t *testing.T) {
	data := t.TempDir()
	m, err := gen.Generate(context.Background(), gen.Config{Dir: data, Size: 256 << 10, Seed: 3})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	// A file longer than the read buffer, which one read cannot take.
	if err := os.WriteFile(filepath.Join(data, "big.jsonl"), bytes.Repeat([]byte("x"), 5<<20/2+3), 0o644); err != nil {
		t.Fatal(err)
	}
	var want int64
	err = filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			want += fi.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := warmCache(context.Background(), data)
	if err != nil {
		t.Fatalf("warmCache: %v", err)
	}
	if got != want || got < m.Bytes {
		t.Errorf("warmCache read %d bytes, want %d (the transcripts alone are %d)", got, want, m.Bytes)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := warmCache(ctx, data); !errors.Is(err, context.Canceled) {
		t.Errorf("warmCache(cancelled) = %v, want context.Canceled", err)
	}
	if _, _, err := warmCache(context.Background(), filepath.Join(data, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("warmCache(missing dir) = %v, want an error naming it", err)
	}
}

func TestParseFlagsErrors(t *testing.T) {
	data := t.TempDir()
	file := filepath.Join(data, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
	}{
		{"no data", []string{}},
		{"data not a dir", []string{"-data", file}},
		{"missing data", []string{"-data", filepath.Join(data, "nope")}},
		{"zero runs", []string{"-data", data, "-runs", "0"}},
		{"nothing to run", []string{"-data", data, "-ccusage", ""}},
		{"missing ctm", []string{"-data", data, "-ctm", filepath.Join(data, "nope")}},
		{"extra arg", []string{"-data", data, "extra"}},
		{"bad flag", []string{"-nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := runMain(context.Background(), tt.args, &bytes.Buffer{}, &stderr); code != 2 {
				t.Errorf("runMain(%q) = %d, want 2 (stderr %q)", tt.args, code, stderr.String())
			}
		})
	}
	if code := runMain(context.Background(), []string{"-h"}, &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
		t.Errorf("runMain(-h) = %d, want 0", code)
	}
}
