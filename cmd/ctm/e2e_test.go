package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/gen"
	"github.com/coder/websocket"
)

// The test binary doubles as the ctm binary: with CTM_TEST_MAIN=1 it runs
// main's code path on its arguments, so end-to-end tests exercise a real
// process (signals, exit codes, kill -9) without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv("CTM_TEST_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// ctmProcess starts the ctm "binary" with args in a private environment.
func ctmProcess(t *testing.T, vars []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append([]string{"CTM_TEST_MAIN=1", "PATH=" + os.Getenv("PATH")}, vars...)
	cmd.Dir = t.TempDir() // no stray .env
	return cmd
}

// copyTree copies the directory src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// servingURL finds the server's address in its log, text or JSON.
var servingURL = regexp.MustCompile(`msg=serving url=(http://\S+)|"msg":"serving","url":"(http://[^"]+)"`)

// servedAt returns the URL in the log's "serving" line, or "".
func servedAt(log string) string {
	m := servingURL.FindStringSubmatch(log)
	if m == nil {
		return ""
	}
	return m[1] + m[2]
}

// startServe runs "ctm serve" on a free port and returns its base URL; the
// process is stopped with SIGTERM at the end of the test, which must make
// it exit 0.
func startServe(t *testing.T, vars []string) string {
	t.Helper()
	cmd := ctmProcess(t, append(vars, "BACKEND_PORT=0", "LOG_FORMAT=text"), "serve")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if u := servedAt(sc.Text()); u != "" {
				urls <- u
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("ctm serve did not exit cleanly on SIGTERM: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("ctm serve did not stop within 10s of SIGTERM")
		}
	})
	select {
	case u := <-urls:
		return u
	case <-time.After(30 * time.Second):
		t.Fatal("ctm serve did not start within 30s")
		return ""
	}
}

// getData fetches an API route and decodes the data of its envelope.
func getData(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	var env struct {
		Success bool            `json:"success"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil || !env.Success {
		t.Fatalf("GET %s: bad envelope %s (%v)", url, body, err)
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// TestServeEndToEnd starts the real server process on the real corpus and
// checks that the API tells the same truth as the CLI, that an appended
// response reaches a WebSocket client, and that SIGTERM stops it cleanly.
func TestServeEndToEnd(t *testing.T) {
	claude := filepath.Join(t.TempDir(), "claude")
	copyTree(t, filepath.Join(realDir(t), "claude-real"), claude)
	home := t.TempDir()
	vars := []string{"HOME=" + home, "CLAUDE_DIR=" + claude, "DATABASE_PATH=" + filepath.Join(home, "m.db"), "TZ=UTC"}
	base := startServe(t, vars)
	api := base + "/api/v1"

	var health struct {
		Status    string `json:"status"`
		WatchMode string `json:"watch_mode"`
	}
	getData(t, api+"/health", &health)
	if health.Status != "healthy" {
		t.Errorf("health status = %q, want healthy", health.Status)
	}

	// The server indexes in the background: wait for the whole corpus.
	var stats struct {
		Summary row `json:"summary"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for getData(t, api+"/stats", &stats); stats.Summary.Entries != 1119 && time.Now().Before(deadline); getData(t, api+"/stats", &stats) {
		time.Sleep(50 * time.Millisecond)
	}

	// One truth: the CLI over the same database gives the same figures.
	env, _, _ := testEnv(t, claude, "DATABASE_PATH="+filepath.Join(home, "m.db"))
	var cli struct {
		Daily  []row `json:"daily"`
		Totals row   `json:"totals"`
	}
	if err := json.Unmarshal(ctm(t, env, "daily", "--json"), &cli); err != nil {
		t.Fatal(err)
	}
	if stats.Summary.Total != cli.Totals.Total || stats.Summary.Entries != cli.Totals.Entries ||
		stats.Summary.CostUSD != cli.Totals.CostUSD {
		t.Errorf("/stats summary %+v, CLI totals %+v", stats.Summary, cli.Totals)
	}
	var daily struct {
		Days []row `json:"days"`
	}
	getData(t, api+"/stats/daily?start_date=2025-08-01&end_date=2026-03-31", &daily)
	apiDays := map[string]row{}
	for _, d := range daily.Days {
		if d.Entries > 0 {
			apiDays[d.Date] = d
		}
	}
	if len(apiDays) != len(cli.Daily) {
		t.Errorf("API has %d active days, CLI %d", len(apiDays), len(cli.Daily))
	}
	for _, c := range cli.Daily {
		a := apiDays[c.Date]
		if a.Total != c.Total || a.Entries != c.Entries || a.CostUSD != c.CostUSD {
			t.Errorf("day %s: API %d tokens %d entries $%s, CLI %d / %d / $%s", c.Date, a.Total, a.Entries, a.CostUSD, c.Total, c.Entries, c.CostUSD)
		}
	}

	// Live: an appended response reaches a WebSocket client.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, strings.Replace(api, "http", "ws", 1)+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	transcript := filepath.Join(claude, "projects", "-tmp-test", "d4795640-2a89-4fa4-92fb-29e4e357bebf.jsonl")
	line := `{"type":"assistant","sessionId":"d4795640-2a89-4fa4-92fb-29e4e357bebf","cwd":"/tmp/test","uuid":"e2e-1",` +
		`"timestamp":"` + time.Now().UTC().Format(time.RFC3339Nano) + `","requestId":"req_e2e",` +
		`"message":{"id":"msg_e2e","model":"claude-opus-4-6","usage":{"input_tokens":100,"output_tokens":50,"cache_read_input_tokens":0,"cache_creation_input_tokens":0}}}` + "\n"
	appendFile(t, transcript, line)
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("no stats_update after the append: %v", err)
		}
		var msg struct {
			Type string `json:"type"`
			Data struct {
				Summary row `json:"summary"`
				Today   row `json:"today"`
			} `json:"data"`
		}
		if err := json.Unmarshal(b, &msg); err != nil {
			t.Fatal(err)
		}
		if msg.Type == "stats_update" && msg.Data.Summary.Entries == 1120 {
			if msg.Data.Today.Total != 150 {
				t.Errorf("today's total after the append = %d, want 150", msg.Data.Today.Total)
			}
			break
		}
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestKillDuringIngest kills the indexing process with SIGKILL at several
// points, then lets a run finish: the totals must equal those of a clean
// run and the generator's own accounting.
func TestKillDuringIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 40 MB data set")
	}
	dir := t.TempDir()
	m, err := gen.Generate(context.Background(), gen.Config{Dir: dir, Size: 40 << 20, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	db := filepath.Join(home, "killed.db")
	vars := []string{"HOME=" + home, "CLAUDE_DIR=" + dir, "DATABASE_PATH=" + db, "TZ=UTC"}
	kills := 0
	for _, delay := range []time.Duration{30, 80, 150, 250, 400} {
		cmd := ctmProcess(t, vars, "daily", "--json")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay * time.Millisecond)
		if cmd.Process.Signal(syscall.SIGKILL) == nil {
			kills++
		}
		_ = cmd.Wait()
	}
	t.Logf("killed %d runs mid-way", kills)

	total := func(dbPath string) row {
		env, _, _ := testEnv(t, dir, "DATABASE_PATH="+dbPath)
		var out struct {
			Totals row `json:"totals"`
		}
		if err := json.Unmarshal(ctm(t, env, "daily", "--json"), &out); err != nil {
			t.Fatal(err)
		}
		return out.Totals
	}
	got := total(db)
	clean := total(filepath.Join(home, "clean.db"))
	// Costs are exact integers, so every figure must be the same.
	if fmt.Sprint(got) != fmt.Sprint(clean) {
		t.Errorf("after kill -9 and restart: %+v\nclean run: %+v", got, clean)
	}
	want := m.Totals
	if got.Input != want.Input || got.Output != want.Output || got.CacheRead != want.CacheRead ||
		got.CW5 != want.CacheCreation5m || got.CW1 != want.CacheCreation1h || got.Entries != m.UniqueResponses {
		t.Errorf("after kill -9 and restart: %+v\ngenerator's accounting: %+v, %d responses", got, want, m.UniqueResponses)
	}
}
