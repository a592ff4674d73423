package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/claude-token-monitor/ctm/internal/storetest"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/ingest"
	"github.com/claude-token-monitor/ctm/internal/live"
	"github.com/claude-token-monitor/ctm/internal/pricing"
	"github.com/claude-token-monitor/ctm/internal/server"
	"github.com/claude-token-monitor/ctm/internal/sqlite"
	"github.com/claude-token-monitor/ctm/internal/watch"
	"github.com/coder/websocket"
)

// liveServer is a server with a WebSocket hub behind a real HTTP listener.
type liveServer struct {
	ts  *httptest.Server
	srv *server.Server
	hub *server.Hub
	ws  string // ws:// URL of the feed
	// close stops the hub, the listener and the store; it runs at
	// cleanup too, and only once.
	close func()
}

// liveConfig adjusts newLive.
type liveConfig struct {
	opts func(*server.Options)
	hub  server.HubOptions
	// smallBuffers shrinks the server's socket send buffers, so that a
	// client that stops reading backs up after a few messages.
	smallBuffers bool
	// stats says that the test reads stats_update messages, which carry
	// the server's /stats body unless hub.Stats is set.
	stats bool
}

// smallBufListener sets a small send buffer on every accepted connection.
type smallBufListener struct{ net.Listener }

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(8 << 10)
	}
	return c, err
}

// newLive starts a server over an empty SQLite store (unless cfg.opts sets
// another) with its WebSocket feed mounted.
func newLive(t *testing.T, cfg liveConfig) *liveServer {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ws.db"), storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	prices, err := pricing.Load(pricing.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts := server.Options{Store: st, Pricer: prices, Version: "test", WebSocket: &cfg.hub}
	if cfg.opts != nil {
		cfg.opts(&opts)
	}
	srv, err := server.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hub := srv.Hub()
	ts := httptest.NewUnstartedServer(srv.Handler())
	if cfg.smallBuffers {
		ts.Listener = smallBufListener{ts.Listener}
	}
	ts.Start()
	closeAll := sync.OnceFunc(func() {
		hub.Close()
		ts.Close()
		_ = st.Close()
	})
	t.Cleanup(closeAll)
	return &liveServer{ts: ts, srv: srv, hub: hub, close: closeAll,
		ws: "ws" + strings.TrimPrefix(ts.URL, "http") + srv.APIPrefix() + "/ws"}
}

// wsMsg is a received message with its data left raw.
type wsMsg struct {
	Type      string          `json:"type"`
	Data      json.RawMessage `json:"data"`
	Timestamp string          `json:"timestamp"`
}

// dial connects to the feed; hdr adds request headers (name, value, ...).
func dial(t testing.TB, url string, hdr ...string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := http.Header{}
	for i := 0; i+1 < len(hdr); i += 2 {
		h.Set(hdr[i], hdr[i+1])
	}
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h})
	if err == nil {
		t.Cleanup(func() { _ = c.CloseNow() })
	}
	return c, resp, err
}

// mustDial connects and reads the connected message.
func mustDial(t testing.TB, url string, hdr ...string) (*websocket.Conn, wsMsg) {
	t.Helper()
	c, _, err := dial(t, url, hdr...)
	if err != nil {
		t.Fatalf("Dial(%s) = %v", url, err)
	}
	m := readMsg(t, c)
	if m.Type != server.MsgConnected {
		t.Fatalf("first message type = %q, want %q", m.Type, server.MsgConnected)
	}
	return c, m
}

// readMsg reads one message, failing the test after 10 s.
func readMsg(t testing.TB, c *websocket.Conn) wsMsg {
	t.Helper()
	m, err := tryRead(c, 10*time.Second)
	if err != nil {
		t.Fatalf("read message: %v", err)
	}
	return m
}

func tryRead(c *websocket.Conn, timeout time.Duration) (wsMsg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	typ, b, err := c.Read(ctx)
	if err != nil {
		return wsMsg{}, err
	}
	if typ != websocket.MessageText {
		return wsMsg{}, fmt.Errorf("message type %v, want text", typ)
	}
	var m wsMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return wsMsg{}, fmt.Errorf("decode %q: %w", b, err)
	}
	if _, err := time.Parse(time.RFC3339Nano, m.Timestamp); err != nil {
		return wsMsg{}, fmt.Errorf("timestamp %q: %w", m.Timestamp, err)
	}
	return m, nil
}

func send(t testing.TB, c *websocket.Conn, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
}

func decode[T any](t testing.TB, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

func TestWSProtocol(t *testing.T) {
	l := newLive(t, liveConfig{})
	c, hello := mustDial(t, l.ws)
	data := decode[server.ConnectedData](t, hello.Data)
	if len(data.ClientID) != 16 {
		t.Errorf("client_id = %q, want 16 hex digits", data.ClientID)
	}
	if st, err := time.Parse(time.RFC3339Nano, data.ServerTime); err != nil || time.Since(st).Abs() > time.Minute {
		t.Errorf("server_time = %q (%v), want about now", data.ServerTime, err)
	}
	_, hello2 := mustDial(t, l.ws)
	if id2 := decode[server.ConnectedData](t, hello2.Data).ClientID; id2 == data.ClientID {
		t.Errorf("two clients share client_id %q", id2)
	}

	for _, tc := range []struct {
		name, send string
		wantType   string
		wantCode   string
	}{
		{"ping", `{"type":"ping"}`, server.MsgPong, ""},
		{"ping with data", `{"type":"ping","data":{"n":1}}`, server.MsgPong, ""},
		{"unknown type", `{"type":"subscribe"}`, server.MsgError, "UNKNOWN_TYPE"},
		{"no type", `{}`, server.MsgError, "UNKNOWN_TYPE"},
		{"not json", `hello`, server.MsgError, "INVALID_MESSAGE"},
		{"not an object", `[1,2]`, server.MsgError, "INVALID_MESSAGE"},
		{"oversized", `{"type":"ping","data":"` + strings.Repeat("x", server.DefaultWSMaxMessageBytes) + `"}`, server.MsgError, "MESSAGE_TOO_LARGE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			send(t, c, tc.send)
			m := readMsg(t, c)
			if m.Type != tc.wantType {
				t.Fatalf("reply type = %q (%s), want %q", m.Type, m.Data, tc.wantType)
			}
			if tc.wantCode != "" {
				e := decode[server.ErrorData](t, m.Data)
				if e.Code != tc.wantCode || e.Message == "" {
					t.Errorf("error = %+v, want code %s with a message", e, tc.wantCode)
				}
			}
		})
	}

	t.Run("pong is not answered", func(t *testing.T) {
		send(t, c, `{"type":"pong"}`)
		send(t, c, `{"type":"ping"}`)
		if m := readMsg(t, c); m.Type != server.MsgPong {
			t.Errorf("after pong+ping got %q, want only the pong reply", m.Type)
		}
	})
	t.Run("block_update and alert", func(t *testing.T) {
		if err := l.hub.BroadcastBlockUpdate(map[string]int{"tokens": 7}); err != nil {
			t.Fatal(err)
		}
		if err := l.hub.BroadcastAlert(map[string]string{"level": "warning"}); err != nil {
			t.Fatal(err)
		}
		if m := readMsg(t, c); m.Type != server.MsgBlockUpdate || string(m.Data) != `{"tokens":7}` {
			t.Errorf("got %q %s, want block_update {\"tokens\":7}", m.Type, m.Data)
		}
		if m := readMsg(t, c); m.Type != server.MsgAlert || string(m.Data) != `{"level":"warning"}` {
			t.Errorf("got %q %s, want alert", m.Type, m.Data)
		}
		if err := l.hub.Broadcast("x", func() {}); err == nil {
			t.Error("Broadcast(unencodable data) succeeded, want error")
		}
	})
	t.Run("huge message closes", func(t *testing.T) {
		send(t, c, strings.Repeat("y", 16*server.DefaultWSMaxMessageBytes+1))
		_, err := tryRead(c, 10*time.Second)
		if got := websocket.CloseStatus(err); got != websocket.StatusMessageTooBig {
			t.Errorf("close status = %v (%v), want StatusMessageTooBig", got, err)
		}
	})
}

func TestWSHeartbeat(t *testing.T) {
	l := newLive(t, liveConfig{hub: server.HubOptions{HeartbeatInterval: 30 * time.Millisecond}})
	c, _ := mustDial(t, l.ws)
	m := readMsg(t, c)
	if m.Type != server.MsgHeartbeat {
		t.Fatalf("got %q, want heartbeat", m.Type)
	}
	if hb := decode[server.HeartbeatData](t, m.Data); hb.Clients != 1 || hb.ServerTime == "" {
		t.Errorf("heartbeat = %+v, want 1 client and a server time", hb)
	}
}

func TestWSDeadPeerClosed(t *testing.T) {
	l := newLive(t, liveConfig{hub: server.HubOptions{PingInterval: 20 * time.Millisecond, PongTimeout: 50 * time.Millisecond}})
	c, _ := mustDial(t, l.ws)
	// A client that answers pings stays connected: control frames are
	// answered while a read is pending.
	go func() { _, _, _ = c.Read(context.Background()) }()
	time.Sleep(150 * time.Millisecond)
	if n := l.hub.Clients(); n != 1 {
		t.Fatalf("Clients() = %d with a live peer, want 1", n)
	}
	// A peer that stops answering (no reader, so no pongs) is closed.
	c2, _ := mustDial(t, l.ws)
	_ = c2
	waitFor(t, "the silent peer to be closed", func() bool { return l.hub.Clients() == 1 })
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWSOrigin(t *testing.T) {
	l := newLive(t, liveConfig{opts: func(o *server.Options) { o.CORSOrigins = []string{"http://localhost:5173"} }})
	host := strings.TrimPrefix(l.ts.URL, "http://")
	for _, tc := range []struct {
		name, origin string
		ok           bool
	}{
		{"no origin (not a browser)", "", true},
		{"same origin", "http://" + host, true},
		{"configured CORS origin", "http://localhost:5173", true},
		{"other site", "https://evil.example", false},
		{"same host other scheme", "https://" + host, false},
		{"other port", "http://127.0.0.1:1", false},
		{"opaque origin", "null", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.origin != "" {
				hdr = []string{"Origin", tc.origin}
			}
			c, resp, err := dial(t, l.ws, hdr...)
			if tc.ok {
				if err != nil {
					t.Fatalf("Dial with Origin %q = %v, want success", tc.origin, err)
				}
				if m := readMsg(t, c); m.Type != server.MsgConnected {
					t.Errorf("first message %q, want connected", m.Type)
				}
				return
			}
			if err == nil {
				t.Fatalf("Dial with Origin %q succeeded, want 403", tc.origin)
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("Dial with Origin %q: response %v, want 403", tc.origin, resp)
			}
		})
	}
}

func TestWSAuth(t *testing.T) {
	const token = "s3cret-token"
	l := newLive(t, liveConfig{opts: func(o *server.Options) { o.AuthToken = token }})
	for _, tc := range []struct {
		name  string
		query string
		hdr   []string
		ok    bool
	}{
		{"no token", "", nil, false},
		{"bearer header", "", []string{"Authorization", "Bearer " + token}, true},
		{"wrong header", "", []string{"Authorization", "Bearer nope"}, false},
		{"query parameter", "?token=" + token, nil, true},
		{"wrong query parameter", "?token=nope", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, resp, err := dial(t, l.ws+tc.query, tc.hdr...)
			if tc.ok {
				if err != nil {
					t.Fatalf("Dial = %v, want success", err)
				}
				readMsg(t, c)
				return
			}
			if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("Dial = %v (response %v), want 401", err, resp)
			}
		})
	}
}

func TestStatsSummaryIsStatsBody(t *testing.T) {
	l := newLive(t, liveConfig{})
	got, err := l.srv.StatsSummary(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(l.ts.URL + l.srv.APIPrefix() + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	gotJSON, _ := json.Marshal(got)
	if string(gotJSON) != string(env.Data) {
		t.Errorf("StatsSummary = %s\nwant GET /stats data %s", gotJSON, env.Data)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.srv.StatsSummary(ctx); err == nil {
		t.Error("StatsSummary(cancelled ctx) succeeded, want error")
	}
}

// assistantLine is a transcript line as Claude Code writes it for one API
// response.
func assistantLine(id string, input, output int64, cwd string) string {
	line := map[string]any{
		"parentUuid": nil, "isSidechain": false, "userType": "external", "cwd": cwd,
		"sessionId": "sess-live", "version": "2.1.50", "gitBranch": "main", "type": "assistant",
		"uuid": "u-" + id, "requestId": "req_" + id, "timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"message": map[string]any{
			"model": "claude-sonnet-4-5", "id": "msg_" + id, "type": "message", "role": "assistant",
			"content": []any{map[string]any{"type": "text", "text": "ok"}},
			"usage":   map[string]any{"input_tokens": input, "output_tokens": output, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
		},
	}
	b, _ := json.Marshal(line)
	return string(b)
}

func appendFile(t testing.TB, path, s string) {
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

// statsUpdate is the part of a stats_update the tests check.
type statsUpdate struct {
	Summary struct {
		InputTokens  int64 `json:"input_tokens"`
		OutputTokens int64 `json:"output_tokens"`
		TotalTokens  int64 `json:"total_tokens"`
		Entries      int64 `json:"entries"`
		SessionCount int   `json:"session_count"`
	} `json:"summary"`
}

// nextStats reads until a stats_update, skipping heartbeats.
func nextStats(t testing.TB, c *websocket.Conn, timeout time.Duration) (statsUpdate, error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m, err := tryRead(c, time.Until(deadline))
		if err != nil {
			return statsUpdate{}, err
		}
		if m.Type == server.MsgStatsUpdate {
			return decode[statsUpdate](t, m.Data), nil
		}
	}
}

// statsReaching reads stats_update messages until one counts at least
// entries records, skipping earlier ones: the hub may send the catch-up's
// update to a client that connected just after it, or send a state twice
// when an ingest lands while an update is being computed, so an update
// from before the step under test is expected, not a fault.
func statsReaching(t testing.TB, c *websocket.Conn, timeout time.Duration, entries int64) (statsUpdate, error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		su, err := nextStats(t, c, time.Until(deadline))
		if err != nil || su.Summary.Entries >= entries {
			return su, err
		}
		t.Logf("skipping an update from before this step: %+v", su.Summary)
	}
}

// TestLivePipeline wires what ctm serve wires: a watcher over a Claude dir
// feeding the real ingester and SQLite store, whose ingests drive
// stats_update messages to a WebSocket client.
func TestLivePipeline(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := t.TempDir()
	proj := filepath.Join(root, "projects", "-work-app")
	if err := os.MkdirAll(proj, 0o755); err != nil {
		t.Fatal(err)
	}
	transcript := filepath.Join(proj, "sess-live.jsonl")
	appendFile(t, transcript, assistantLine("a", 100, 10, "/work/app")+"\n")

	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "live.db"), storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l := newLive(t, liveConfig{stats: true, opts: func(o *server.Options) { o.Store = st }})
	p, err := live.New(live.Options{
		Ingester: ingest.New(st, []string{root}, slog.New(slog.DiscardHandler), ingest.Options{}),
		Roots:    []string{root},
		Changed:  func(context.Context, ingest.Result) { l.hub.NotifyIngest() },
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = p.Run(ctx)
	}()
	defer func() { cancel(); <-done }()
	<-p.Ready() // the watches are in place and the catch-up ctm serve runs is done

	c, _ := mustDial(t, l.ws)
	parent := t
	t.Run("append", func(t *testing.T) {
		appendFile(t, transcript, assistantLine("b", 200, 20, "/work/app")+"\n")
		su, err := statsReaching(t, c, 10*time.Second, 2)
		if err != nil {
			t.Fatal(err)
		}
		if s := su.Summary; s.Entries != 2 || s.InputTokens != 300 || s.OutputTokens != 30 || s.TotalTokens != 330 {
			t.Errorf("summary = %+v, want 2 entries, 300 in, 30 out, 330 total", s)
		}
	})
	t.Run("torn line", func(t *testing.T) {
		line := assistantLine("c", 1000, 100, "/work/app")
		appendFile(t, transcript, line[:len(line)/2])
		// An update may repeat the state before the torn line (an ingest
		// that raced the previous update); none may count the torn line.
		if su, err := statsReaching(t, c, 500*time.Millisecond, 3); err == nil {
			t.Fatalf("torn line gave a stats_update %+v, want none until the line is complete", su.Summary)
		}
		// The read timed out, which closes a coder/websocket connection.
		c, _ = mustDial(parent, l.ws)
		appendFile(t, transcript, line[len(line)/2:]+"\n")
		su, err := statsReaching(t, c, 10*time.Second, 3)
		if err != nil {
			t.Fatal(err)
		}
		if s := su.Summary; s.Entries != 3 || s.TotalTokens != 1430 {
			t.Errorf("summary = %+v, want 3 entries and 1430 tokens", s)
		}
	})
	t.Run("new project folder", func(t *testing.T) {
		sub := filepath.Join(root, "projects", "-work-other", "sess-2", "subagents")
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		appendFile(t, filepath.Join(sub, "agent-x.jsonl"), assistantLine("d", 5, 5, "/work/other")+"\n")
		su, err := statsReaching(t, c, 10*time.Second, 4)
		if err != nil {
			t.Fatal(err)
		}
		if s := su.Summary; s.Entries != 4 || s.TotalTokens != 1440 {
			t.Errorf("summary = %+v, want 4 entries and 1440 tokens", s)
		}
	})
	if errors.Is(ctx.Err(), context.Canceled) {
		t.Fatal("context cancelled early")
	}
}

func TestHealthReportsWatchMode(t *testing.T) {
	mode := watch.ModePolling
	l := newLive(t, liveConfig{opts: func(o *server.Options) { o.WatchMode = func() string { return mode } }})
	resp, err := http.Get(l.ts.URL + l.srv.APIPrefix() + "/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Data struct {
			WatchMode string `json:"watch_mode"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	if env.Data.WatchMode != mode {
		t.Errorf("health watch_mode = %q, want %q", env.Data.WatchMode, mode)
	}
}
