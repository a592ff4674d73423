package live_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/ingest"
	"github.com/claude-token-monitor/ctm/internal/live"
	"github.com/claude-token-monitor/ctm/internal/sqlite"
	"github.com/claude-token-monitor/ctm/internal/storetest"
	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/watch"
)

// deadline bounds every wait: generous, because a loaded machine may take
// a while, and never a measure of speed.
const deadline = 10 * time.Second

// TestPipeline runs the pipeline on a real watcher over a temp Claude dir
// and a real SQLite store, with a recording callback.
func TestPipeline(t *testing.T) {
	for _, polling := range []bool{false, true} {
		name := "fsnotify"
		if polling {
			name = "polling"
		}
		t.Run(name, func(t *testing.T) { testPipeline(t, polling) })
	}
}

func testPipeline(t *testing.T, polling bool) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := t.TempDir()
	proj := filepath.Join(root, "projects", "-work-app")
	if err := os.MkdirAll(proj, 0o755); err != nil {
		t.Fatal(err)
	}
	transcript := filepath.Join(proj, "sess.jsonl")
	appendFile(t, transcript, line("a"))

	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "live.db"), storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	calls := make(chan ingest.Result, 16)
	p, err := live.New(live.Options{
		Ingester: ingest.New(st, []string{root}, nil, ingest.Options{}),
		Roots:    []string{root},
		Changed:  func(_ context.Context, res ingest.Result) { calls <- res },
		Watch:    watch.Options{ForcePolling: polling, PollInterval: 20 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case <-p.Ready():
	case err := <-done:
		t.Fatalf("Run returned %v before it was ready", err)
	case <-time.After(deadline):
		t.Fatal("not ready")
	}
	if p.LastIngest().IsZero() {
		t.Error("LastIngest is zero after the catch-up stored a record")
	}

	// The catch-up stored the line written before Run.
	expect(t, calls, 1)
	assertCount(t, st, 1)

	// One append is one batch: one call. Two lines in one write are
	// still one batch.
	appendFile(t, transcript, line("b"))
	expect(t, calls, 1)
	assertCount(t, st, 2)
	appendFile(t, transcript, line("c")+line("d"))
	expect(t, calls, 2)
	assertCount(t, st, 4)

	// A file that is not a transcript is not ingested and calls nothing.
	appendFile(t, filepath.Join(root, "settings.json"), "{}\n")
	appendFile(t, transcript, line("e"))
	expect(t, calls, 1)
	assertCount(t, st, 5)
	select {
	case res := <-calls:
		t.Fatalf("extra call with %+v, want one call per batch that stored records", res)
	default:
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(deadline):
		t.Fatal("Run did not return after cancel")
	}
	// Stopped: a later append is not ingested.
	appendFile(t, transcript, line("f"))
	time.Sleep(100 * time.Millisecond)
	assertCount(t, st, 5)
	select {
	case res := <-calls:
		t.Fatalf("call %+v after Run returned", res)
	default:
	}
}

func TestNewRequiresIngester(t *testing.T) {
	if _, err := live.New(live.Options{Roots: []string{t.TempDir()}}); err == nil {
		t.Error("New without Ingester succeeded, want an error")
	}
}

func TestRunReturnsWatcherError(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "live.db"), storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	root := t.TempDir()
	p, err := live.New(live.Options{Ingester: ingest.New(st, []string{root}, nil, ingest.Options{}), Roots: []string{root}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	<-p.Ready()
	// The watcher refuses a second Run; the pipeline must say so rather
	// than hang or report success.
	if err := p.Run(ctx); err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("second Run = %v, want the watcher's error", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("first Run = %v, want nil", err)
	}
}

// expect waits for the next call and checks how many records it stored.
func expect(t *testing.T, calls <-chan ingest.Result, written int64) {
	t.Helper()
	select {
	case res := <-calls:
		if res.Written != written {
			t.Fatalf("call wrote %d records, want %d", res.Written, written)
		}
	case <-time.After(deadline):
		t.Fatalf("no call within %s, want one that wrote %d records", deadline, written)
	}
}

func assertCount(t *testing.T, st *sqlite.Store, want int64) {
	t.Helper()
	n, err := st.CountRecords(context.Background(), usage.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Fatalf("store has %d records, want %d", n, want)
	}
}

// line is one assistant transcript line for a distinct API response.
func line(id string) string {
	b, _ := json.Marshal(map[string]any{
		"type": "assistant", "sessionId": "sess", "cwd": "/work/app", "uuid": "u-" + id, "requestId": "req_" + id,
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"message": map[string]any{
			"model": "claude-sonnet-4-5", "id": "msg_" + id, "type": "message", "role": "assistant",
			"usage": map[string]any{"input_tokens": 10, "output_tokens": 20},
		},
	})
	return string(b) + "\n"
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
