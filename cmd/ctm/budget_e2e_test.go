package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// serveProcess runs ctm serve until stop is called, which sends SIGTERM
// and requires a clean exit.
func serveProcess(t *testing.T, vars []string) (base string, stop func()) {
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
	var logMu sync.Mutex
	var logText strings.Builder
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logMu.Lock()
			logText.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			if u := servedAt(sc.Text()); u != "" {
				urls <- u
			}
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					<-logDone
					logMu.Lock()
					t.Errorf("ctm serve did not exit cleanly: %v; its log:\n%s", err, logText.String())
					logMu.Unlock()
				}
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				t.Error("ctm serve did not stop within 10s of SIGTERM")
			}
		})
	}
	t.Cleanup(stop)
	select {
	case base = <-urls:
	case <-time.After(30 * time.Second):
		t.Fatal("ctm serve did not start within 30s")
	}
	return base, stop
}

// TestServeBudgetNotifications runs the real server with a budget and a
// local webhook receiver: a response appended to a transcript crosses the
// budget, the receiver gets one notification and a WebSocket client one
// budget_alert; after a restart on the same database nothing is sent
// again.
func TestServeBudgetNotifications(t *testing.T) {
	var mu sync.Mutex
	var got []map[string]any
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a map[string]any
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &a); err != nil {
			t.Errorf("webhook body %q: %v", b, err)
		}
		mu.Lock()
		got = append(got, a)
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer rcv.Close()
	received := func() []map[string]any {
		mu.Lock()
		defer mu.Unlock()
		return append([]map[string]any{}, got...)
	}

	home := t.TempDir()
	claude := filepath.Join(home, "claude")
	session := "e2e-budget-session"
	transcript := filepath.Join(claude, "projects", "-work-budget", session+".jsonl")
	if err := os.MkdirAll(filepath.Dir(transcript), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(transcript, nil, 0o644)
	budgets := filepath.Join(home, "budgets.json")
	os.WriteFile(budgets, []byte(fmt.Sprintf(`{"budgets":[{"id":"daily","period":"daily","amount_usd":0.5}],
		"targets":[{"name":"hook","type":"webhook","url":%q}]}`, rcv.URL)), 0o600)
	vars := []string{"HOME=" + home, "CLAUDE_DIR=" + claude, "DATABASE_PATH=" + filepath.Join(home, "m.db"),
		"TZ=UTC", "BUDGETS_FILE=" + budgets}
	base, stop := serveProcess(t, vars)
	api := base + "/api/v1"

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, strings.Replace(api, "http", "ws", 1)+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	// 100k Opus 4.6 output tokens: $2.50, 500 % of the budget.
	line := `{"type":"assistant","sessionId":"` + session + `","cwd":"/work/budget","uuid":"b-1",` +
		`"timestamp":"` + time.Now().UTC().Format(time.RFC3339Nano) + `","requestId":"req_b1",` +
		`"message":{"id":"msg_b1","model":"claude-opus-4-6","usage":{"input_tokens":0,"output_tokens":100000,"cache_read_input_tokens":0,"cache_creation_input_tokens":0}}}` + "\n"
	appendFile(t, transcript, line)
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("no budget_alert: %v", err)
		}
		var msg struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		json.Unmarshal(b, &msg)
		if msg.Type == "budget_alert" {
			if msg.Data["budget_id"] != "daily" || msg.Data["threshold"] != float64(100) || msg.Data["status"] != "over" {
				t.Errorf("budget_alert = %v", msg.Data)
			}
			break
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(received()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	var bs struct {
		Status  string `json:"status"`
		Budgets []struct {
			Percent float64 `json:"percent"`
		} `json:"budgets"`
	}
	getData(t, api+"/budgets", &bs)
	if bs.Status != "over" || len(bs.Budgets) != 1 || bs.Budgets[0].Percent != 500 {
		t.Errorf("GET /budgets = %+v, want over at 500%%", bs)
	}
	conn.CloseNow()
	stop()

	// Restart: the alerter checks at once; nothing is sent again.
	base, stop = serveProcess(t, vars)
	getData(t, base+"/api/v1/budgets", &bs)
	time.Sleep(500 * time.Millisecond)
	stop()
	r := received()
	if len(r) != 1 || r[0]["budget_id"] != "daily" || r[0]["threshold"] != float64(100) {
		t.Errorf("webhook received %v, want one notification at 100%%", r)
	}
}
