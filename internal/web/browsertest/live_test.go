package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/claude-token-monitor/ctm/internal/server"
)

// liveTranscript is a corpus transcript the live tests append to, and the
// session and cwd its lines carry.
const (
	liveTranscript = "projects/-tmp-test/d4795640-2a89-4fa4-92fb-29e4e357bebf.jsonl"
	liveSession    = "d4795640-2a89-4fa4-92fb-29e4e357bebf"
	liveTokens     = 1500 // input + output of the appended response
)

// appendResponse appends one complete assistant line with usage to the
// transcript under root, as Claude Code does while it runs.
func appendResponse(t *testing.T, root string, at time.Time, id string) {
	t.Helper()
	line := map[string]any{
		"type": "assistant", "uuid": "ctm-live-" + id, "parentUuid": nil,
		"sessionId": liveSession, "timestamp": at.UTC().Format("2006-01-02T15:04:05.000Z"),
		"cwd": "/tmp/test", "version": "2.1.34", "isSidechain": false, "userType": "external",
		"requestId": "req_ctm_live_" + id,
		"message": map[string]any{
			"id": "msg_ctm_live_" + id, "type": "message", "role": "assistant", "model": "claude-opus-4-6",
			"content": []any{map[string]any{"type": "text", "text": "done"}},
			"usage": map[string]any{
				"input_tokens": 1000, "output_tokens": liveTokens - 1000,
				"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
			},
		},
	}
	buf, err := json.Marshal(line)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(root, liveTranscript), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(append(buf, '\n')); err != nil {
		t.Fatal(err)
	}
}

// copyCorpus copies the real corpus into a temporary Claude directory that
// the test may append to.
func copyCorpus(t *testing.T) string {
	t.Helper()
	src, err := corpusDir(t)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "claude")
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// testFeed stands in for the live WebSocket hub: it speaks the documented
// protocol ({type, data, timestamp}; connected, stats_update) so the page's
// live path can be tested with real ingest and a real server.
type testFeed struct {
	mu    sync.Mutex
	conns map[*websocket.Conn]bool
}

func (f *testFeed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	ctx := c.CloseRead(r.Context())
	f.mu.Lock()
	f.conns[c] = true
	f.mu.Unlock()
	_ = f.send(ctx, c, "connected", map[string]any{"client_id": "test", "server_time": time.Now().UTC()})
	<-ctx.Done()
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
}

func (f *testFeed) send(ctx context.Context, c *websocket.Conn, typ string, data any) error {
	msg, err := json.Marshal(map[string]any{"type": typ, "data": data, "timestamp": time.Now().UTC()})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return c.Write(ctx, websocket.MessageText, msg)
}

// broadcast sends a message to every client and returns how many got it.
func (f *testFeed) broadcast(typ string, data any) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for c := range f.conns {
		if f.send(context.Background(), c, typ, data) == nil {
			n++
		}
	}
	return n
}

// dropAll closes every connection, as a restarting server would.
func (f *testFeed) dropAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		_ = c.Close(websocket.StatusGoingAway, "restart")
	}
}

const todayTokens = `document.querySelector('[data-metric="today.total_tokens"]').dataset.value`

// TestLiveUpdateFromFeed appends a response to a transcript, ingests it
// and announces it on the WebSocket: today's KPI and the chart must follow
// without a reload. The watcher and hub are stand-ins here; the ctm serve
// test below runs the real ones.
func TestLiveUpdateFromFeed(t *testing.T) {
	requireChromium(t)
	root := copyCorpus(t)
	feed := &testFeed{conns: map[*websocket.Conn]bool{}}
	c, err := startCorpus(root, func(s *server.Server) { s.Mount("GET "+s.APIPrefix()+"/ws", feed) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	b := newBrowser(t, 1280, 900)
	b.open(t, c.url+"/")
	b.waitFor(t, "live status", `document.querySelector('#live').dataset.state === 'live'`)
	before, err := strconv.ParseInt(eval[string](t, b, todayTokens), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	chartBefore := eval[string](t, b, `document.querySelector('#trend-chart').dataset.totalTokens`)
	eval[int](t, b, `window.ctmNoReload = 1`)

	appendResponse(t, root, corpusNow.Add(-30*time.Minute), "feed1")
	res, err := c.ingest.IngestFiles(context.Background(), []string{filepath.Join(root, liveTranscript)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Written != 1 {
		t.Fatalf("ingest wrote %d records, want the 1 appended", res.Written)
	}
	// As the live pipeline does after each ingest: cached reads are stale.
	c.srv.Invalidate()
	var stats map[string]any
	getAPI(t, c.url, "/stats", &stats)
	if n := feed.broadcast("stats_update", stats); n != 1 {
		t.Fatalf("stats_update reached %d clients, want 1", n)
	}
	want := before + liveTokens
	b.waitFor(t, "today's KPI to update", fmt.Sprintf(`%s === %q`, todayTokens, strconv.FormatInt(want, 10)))
	wantChart, _ := strconv.ParseInt(chartBefore, 10, 64)
	b.waitFor(t, "the trend chart to update", fmt.Sprintf(`document.querySelector('#trend-chart').dataset.totalTokens === %q`, strconv.FormatInt(wantChart+liveTokens, 10)))
	if eval[int](t, b, `window.ctmNoReload || 0`) != 1 {
		t.Errorf("the page reloaded; it must update in place")
	}

	// A dropped connection shows as offline and comes back by itself.
	feed.dropAll()
	b.waitFor(t, "reconnect after a drop", `document.querySelector('#live').dataset.state === 'live' && document.querySelector('#live-text').textContent === 'Live'`)
	if errs := consoleErrors(t, b, c.url); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestLiveUpdateCTMServe runs the real pipeline: ctm serve watching a copy
// of the corpus, its WebSocket, and the page. It appends a response with
// the current time and expects today's KPI to follow without a reload.
func TestLiveUpdateCTMServe(t *testing.T) {
	requireChromium(t)
	if testing.Short() {
		t.Skip("builds and runs the ctm binary; skipped with -short")
	}
	bin := buildCTM(t)
	root := copyCorpus(t)
	home := t.TempDir()
	port := freePort(t)
	base := "http://127.0.0.1:" + port
	var out bytes.Buffer
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"HOME="+home, // never read the user's own Claude or config directories
		"CLAUDE_DIR="+root,
		"DATABASE_PATH="+filepath.Join(home, "ctm.db"),
		"HOST=127.0.0.1",
		"BACKEND_PORT="+port,
		"TIMEZONE=UTC",
		"LOG_LEVEL=WARN",
	)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Skipf("ctm serve is not available yet (exited: %v):\n%s", err, out.String())
		default:
		}
		if resp, err := http.Get(base + "/api/v1/health"); err == nil {
			_ = resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ctm serve did not answer on %s within 60s:\n%s", base, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if !strings.Contains(string(page), "<title>Claude Token Monitor</title>") {
		t.Skip("ctm serve does not mount the dashboard at / yet (server.Options.Static = web.FS)")
	}
	if routeStatus(t, base+"/api/v1/ws") == http.StatusNotFound {
		t.Skip("ctm serve has no WebSocket at /api/v1/ws yet; the live pipeline is missing")
	}

	b := newBrowser(t, 1280, 900)
	b.open(t, base+"/")
	b.waitFor(t, "live status", `document.querySelector('#live').dataset.state === 'live'`)
	before, err := strconv.ParseInt(eval[string](t, b, todayTokens), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	eval[int](t, b, `window.ctmNoReload = 1`)
	appendResponse(t, root, time.Now(), "serve1")
	want := strconv.FormatInt(before+liveTokens, 10)
	b.waitFor(t, "today's KPI to update", fmt.Sprintf(`%s === %q`, todayTokens, want))
	var stats struct {
		Today struct {
			TotalTokens int64 `json:"total_tokens"`
		} `json:"today"`
	}
	getAPI(t, base, "/stats", &stats)
	if got := strconv.FormatInt(stats.Today.TotalTokens, 10); got != want {
		t.Errorf("/stats today.total_tokens = %s, want %s", got, want)
	}
	if eval[int](t, b, `window.ctmNoReload || 0`) != 1 {
		t.Errorf("the page reloaded; it must update in place")
	}
}

// buildCTM builds the ctm binary from this module into a temp dir.
func buildCTM(t *testing.T) string {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Skipf("no go tool to build ctm: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "ctm")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/ctm")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cmd/ctm does not build yet: %v\n%s", err, out)
	}
	return bin
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
