package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestExportCommand(t *testing.T) {
	env, stdout, stderr := testEnv(t, filepath.Join(realDir(t), "claude-real"))
	ctm(t, env, "export", "--since", "2026-02-05", "--until", "2026-02-07", "--fields", "date,total_tokens,entries")
	rows, err := csv.NewReader(strings.NewReader(stdout.String())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"date", "total_tokens", "entries"}, {"2026-02-05", "2591034", "52"},
		{"2026-02-06", "1080294", "17"}, {"2026-02-07", "2742371", "58"}}
	if len(rows) != len(want) {
		t.Fatalf("CSV export = %q", rows)
	}
	for i := range want {
		if strings.Join(rows[i], ",") != strings.Join(want[i], ",") {
			t.Errorf("row %d = %v, want %v", i, rows[i], want[i])
		}
	}

	out := filepath.Join(t.TempDir(), "usage.json")
	ctm(t, env, "export", "--format", "json", "--breakdown", "--since", "2026-02-12", "--until", "2026-02-12", "-o", out)
	if !strings.Contains(stderr.String(), "wrote "+out) {
		t.Errorf("stderr = %q, want a note of the file written", stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Records []struct {
			Model string `json:"model"`
		} `json:"records"`
		Summary struct {
			Totals row `json:"totals"`
		} `json:"summary"`
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatalf("JSON export is not the bare export object: %v\n%s", err, b)
	}
	if len(exp.Records) != 3 || exp.Summary.Totals.Entries != 59 {
		t.Errorf("2026-02-12 by model: %d rows, %d entries; want 3 models, 59 entries", len(exp.Records), exp.Summary.Totals.Entries)
	}

	if code := run(context.Background(), []string{"export", "--fields", "nope"}, env); code != 2 || !strings.Contains(stderr.String(), `fields: "nope"`) {
		t.Errorf("bad field: exit %d, stderr %q", code, stderr)
	}
	if code := run(context.Background(), []string{"export", "-o", filepath.Join(t.TempDir(), "no", "such", "dir.csv")}, env); code != 1 {
		t.Errorf("unwritable output: exit %d, want 1", code)
	}
}

// syncBuffer is a bytes.Buffer safe for a server goroutine to write while
// the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeInProcess runs the serve command in this process, for the
// parts of it that a child process cannot report coverage for.
func TestServeInProcess(t *testing.T) {
	env, _, _ := testEnv(t, filepath.Join(realDir(t), "claude-real"), "BACKEND_PORT=0")
	logs := &syncBuffer{}
	env.stderr = logs
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() { code <- run(ctx, []string{"serve"}, env) }()
	var base string
	for deadline := time.Now().Add(20 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		base = servedAt(logs.String())
	}
	if base == "" {
		cancel()
		t.Fatalf("serve did not start:\n%s", logs)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(base + "/api/v1/stats/cache")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"total_sessions":1454`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats cache not served: %d %s", resp.StatusCode, body)
		}
	}
	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("serve exit = %d, want 0; log:\n%s", c, logs)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop after its context ended")
	}
	if !strings.Contains(logs.String(), "shutting down") {
		t.Errorf("no shutdown in the log:\n%s", logs)
	}
}

func TestServeRefusesBadConfig(t *testing.T) {
	env, _, stderr := testEnv(t, t.TempDir(), "HOST=0.0.0.0")
	if code := run(context.Background(), []string{"serve"}, env); code != 2 || !strings.Contains(stderr.String(), "AUTH_TOKEN") {
		t.Errorf("non-loopback HOST without a token: exit %d, stderr %q", code, stderr)
	}
}

func TestProgressBar(t *testing.T) {
	var b bytes.Buffer
	p := newProgressBar(&b, 100)
	p.update(10, 50) // below the threshold: silent
	if b.Len() != 0 {
		t.Fatalf("small catch-up drew %q", b.String())
	}
	p.update(0, 1<<30)
	p.update(1<<30, 1<<30)
	if out := b.String(); !strings.Contains(out, "100%") || !strings.Contains(out, "1.0 GB / 1.0 GB") {
		t.Errorf("bar = %q", out)
	}
	p.finish()
	if !strings.HasSuffix(b.String(), "\r\033[K") {
		t.Errorf("finish did not clear the line: %q", b.String())
	}
	var nilBar *progressBar
	nilBar.update(1, 2)
	nilBar.finish()
	for n, want := range map[int64]string{512: "512 B", 2048: "2.0 KB", 5 << 20: "5.0 MB"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestPushAndTokenErrors(t *testing.T) {
	dir := filepath.Join(realDir(t), "claude-real")
	tests := []struct {
		args  []string
		extra []string
		want  string
	}{
		{[]string{"token"}, nil, "usage: ctm token create"},
		{[]string{"token", "create"}, nil, "--user is required"},
		{[]string{"token", "create", "--user", "alice"}, nil, "DATABASE_URL"},
		{[]string{"push"}, nil, "--server is required"},
		{[]string{"push", "--server", "http://127.0.0.1:9"}, nil, "push token is required"},
		{[]string{"push", "--server", "http://127.0.0.1:9", "--token-file", "/nonexistent/token"}, nil, "--token-file"},
	}
	for _, tt := range tests {
		env, _, stderr := testEnv(t, dir, tt.extra...)
		if code := run(context.Background(), tt.args, env); code == 0 || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("ctm %v: exit %d, stderr %q, want it to mention %q", tt.args, code, stderr, tt.want)
		}
	}
}
