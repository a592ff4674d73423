package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/claude-token-monitor/ctm/internal/storetest"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/claude-token-monitor/ctm/internal/ingest"
	"github.com/claude-token-monitor/ctm/internal/pricing"
	"github.com/claude-token-monitor/ctm/internal/server"
	"github.com/claude-token-monitor/ctm/internal/sqlite"
	"github.com/claude-token-monitor/ctm/internal/web"
)

// corpusRoot is the real Claude Code data of ../shared/testdata.
const corpusRoot = "../../../../shared/testdata/claude-real"

// corpusNow is late on the corpus's last day (UTC), so that "today", the
// 7/30/90-day ranges and the comparison with yesterday all have data.
var corpusNow = time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)

// chromiumPath returns the browser to drive: $CHROMIUM, else Debian's.
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return ""
}

// requireChromium skips the test when no Chromium is installed.
func requireChromium(t *testing.T) string {
	t.Helper()
	p := chromiumPath()
	if p == "" {
		t.Skip("no Chromium found (install Debian's chromium package, or set CHROMIUM); browser tests skipped")
	}
	return p
}

// corpus is a real server over an ingested copy of Claude data.
type corpus struct {
	url    string
	srv    *server.Server
	ingest *ingest.Ingester
	stop   func()
}

// shared is the server over the real corpus that most tests share, because
// ingesting and starting it is the slow part. It is never written to.
var shared struct {
	once sync.Once
	c    *corpus
	err  error
}

// corpusDir returns corpusRoot made absolute, and skips t when it is not
// there: a clone without the shared corpus beside it cannot run t.
func corpusDir(t *testing.T) (string, error) {
	t.Helper()
	abs, err := filepath.Abs(corpusRoot)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(abs + ".expected.json"); err != nil {
		t.Skipf("real corpus not found at %s (the shared testdata folder beside the repository): %v", abs, err)
	}
	return abs, nil
}

// serverURL returns the base URL of the shared corpus server.
func serverURL(t *testing.T) string {
	t.Helper()
	root, err := corpusDir(t)
	if err != nil {
		t.Fatal(err)
	}
	shared.once.Do(func() {
		shared.c, shared.err = startCorpus(root, nil)
	})
	if shared.err != nil {
		t.Fatalf("start corpus server: %v", shared.err)
	}
	return shared.c.url
}

// startCorpus ingests the Claude directory root into a fresh SQLite store
// and serves it, with the dashboard, on 127.0.0.1. mount, when set, adds
// routes before the server opens.
func startCorpus(root string, mount func(*server.Server)) (*corpus, error) {
	return startCorpusWith(root, mount, nil)
}

// startCorpusWith is startCorpus with edit, when set, adjusting the
// server's options (its Store holds the ingested corpus) before New.
func startCorpusWith(root string, mount func(*server.Server), edit func(*server.Options) error) (*corpus, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ctm-browsertest")
	if err != nil {
		return nil, err
	}
	var closers []func()
	fail := func(err error) (*corpus, error) {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
		return nil, err
	}
	closers = append(closers, func() { _ = os.RemoveAll(dir) })
	store, err := sqlite.Open(ctx, filepath.Join(dir, "ctm.db"), storetest.Prices)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() { _ = store.Close() })
	logger := slog.New(slog.DiscardHandler)
	in := ingest.New(store, []string{root}, logger, ingest.Options{})
	if _, err := in.Run(ctx); err != nil {
		return fail(fmt.Errorf("ingest %s: %w", root, err))
	}
	prices, err := pricing.Load(pricing.Options{})
	if err != nil {
		return fail(err)
	}
	opts := server.Options{
		Store:       store,
		Pricer:      prices,
		DisplayName: prices.DisplayName,
		Logger:      logger,
		Location:    time.UTC,
		Host:        "127.0.0.1",
		Version:     "browsertest",
		DataSources: []string{root},
		StatsCache:  ingest.NewStatsCacheReader(filepath.Join(root, "stats-cache.json")),
		Static:      web.FS,
		Now:         func() time.Time { return corpusNow },
	}
	if edit != nil {
		if err := edit(&opts); err != nil {
			return fail(err)
		}
	}
	srv, err := server.New(opts)
	if err != nil {
		return fail(err)
	}
	if mount != nil {
		mount(srv)
	}
	if err := srv.Open(); err != nil {
		return fail(err)
	}
	closers = append(closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	stop := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	return &corpus{url: srv.URL(), srv: srv, ingest: in, stop: stop}, nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.c != nil {
		shared.c.stop()
	}
	os.Exit(code)
}

// browser is a headless Chromium tab with its console captured.
type browser struct {
	ctx     context.Context
	console *consoleLog
}

// consoleLog collects the tab's console messages as they arrive.
type consoleLog struct {
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

func (c *consoleLog) all() []chromedp.ConsoleMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]chromedp.ConsoleMessage(nil), c.msgs...)
}

// newBrowser starts Chromium with the flags that keep it offline and
// quiet, and opens one tab. Everything ends with the test.
func newBrowser(t *testing.T, width, height int) *browser {
	t.Helper()
	exe := requireChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	// One deadline for the whole test: a hung browser must not hang CI.
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		t.Fatalf("start chromium %s: %v", exe, err)
	}
	b := &browser{ctx: ctx, console: &consoleLog{}}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			b.console.mu.Lock()
			b.console.msgs = append(b.console.msgs, m)
			b.console.mu.Unlock()
		}
	}()
	return b
}

// open loads the dashboard and waits until its first render is complete.
func (b *browser) open(t *testing.T, url string) {
	t.Helper()
	if err := chromedp.Do(b.ctx,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(`html[data-ready="true"]`)),
	); err != nil {
		t.Fatalf("load %s: %v", url, err)
	}
}

// eval evaluates a JavaScript expression, awaiting a promise, into T.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript predicate until it is truthy.
func (b *browser) waitFor(t *testing.T, what, predicate string) {
	t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool]("Boolean("+predicate+")",
		chromedp.WithPollingInterval(50*time.Millisecond),
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("wait for %s (%s): %v", what, predicate, err)
	}
}

// click clicks the first element that matches a CSS selector.
func (b *browser) click(t *testing.T, sel string) {
	t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
}

// screenshot saves a full-page PNG as a test artifact and logs its path.
func (b *browser) screenshot(t *testing.T, name string) string {
	t.Helper()
	buf, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(artifactDir(t), name)
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	return path
}

// artifactDir is $CTM_ARTIFACTS (created if needed) or a per-test temp dir.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CTM_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// getAPI GETs an API route and decodes the envelope's data into v,
// keeping numbers exact.
func getAPI(t *testing.T, base, path string, v any) {
	t.Helper()
	resp, err := http.Get(base + "/api/v1" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", path, resp.StatusCode, body)
	}
	var env struct {
		Success bool            `json:"success"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil || !env.Success {
		t.Fatalf("GET %s: not a success envelope (%v): %s", path, err, body)
	}
	dec := json.NewDecoder(strings.NewReader(string(env.Data)))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("GET %s: decode: %v", path, err)
	}
}

// routeStatus returns the status of a plain GET, for optional routes.
func routeStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}
