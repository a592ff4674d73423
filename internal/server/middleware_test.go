package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/server"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

func TestAuth(t *testing.T) {
	h := newServer(t, func(o *options) { o.AuthToken = "s3cret" }).Handler()
	for _, tc := range []struct {
		name, target, auth string
		want               int
	}{
		{"health needs no token", "/api/v1/health", "", http.StatusOK},
		{"missing token", "/api/v1/stats", "", http.StatusUnauthorized},
		{"wrong token", "/api/v1/stats", "Bearer nope", http.StatusUnauthorized},
		{"prefix of token", "/api/v1/stats", "Bearer s3cre", http.StatusUnauthorized},
		{"wrong scheme", "/api/v1/stats", "Basic s3cret", http.StatusUnauthorized},
		{"right token", "/api/v1/stats", "Bearer s3cret", http.StatusOK},
		{"scheme in lower case", "/api/v1/stats", "bearer s3cret", http.StatusOK},
		{"scheme in upper case", "/api/v1/stats", "BEARER s3cret", http.StatusOK},
		{"empty token", "/api/v1/stats", "Bearer ", http.StatusUnauthorized},
		{"metrics need a token", "/metrics", "", http.StatusUnauthorized},
		{"unknown route needs a token", "/api/v1/nope", "", http.StatusUnauthorized},
		{"query token only for WebSocket handshakes", "/api/v1/stats?token=s3cret", "", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, h, http.MethodGet, tc.target, nil, "Authorization", tc.auth)
			if r.Code != tc.want {
				t.Fatalf("status = %d, want %d: %s", r.Code, tc.want, r.Body)
			}
			if tc.want == http.StatusUnauthorized {
				wantError(t, r, http.StatusUnauthorized, "UNAUTHORIZED", "Authorization")
				if r.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("no WWW-Authenticate header")
				}
			}
		})
	}

	t.Run("health says only alive without the token", func(t *testing.T) {
		for _, auth := range []string{"", "Bearer nope"} {
			r := do(t, h, http.MethodGet, "/api/v1/health", nil, "Authorization", auth)
			var data map[string]any
			if err := json.Unmarshal(r.Env.Data, &data); err != nil {
				t.Fatal(err)
			}
			if r.Code != http.StatusOK || len(data) != 1 || data["status"] != "alive" {
				t.Errorf("health with %q = %d %s, want 200 and only status alive", auth, r.Code, r.Env.Data)
			}
		}
		var full struct {
			Status  string `json:"status"`
			Version string `json:"version"`
		}
		r := do(t, h, http.MethodGet, "/api/v1/health", nil, "Authorization", "bearer s3cret")
		if err := json.Unmarshal(r.Env.Data, &full); err != nil || full.Status != "healthy" || full.Version != "test" {
			t.Errorf("health with the token = %s, want the full report", r.Env.Data)
		}
	})

	t.Run("off by default", func(t *testing.T) {
		r := do(t, newServer(t, nil).Handler(), http.MethodGet, "/api/v1/stats", nil)
		if r.Code != http.StatusOK {
			t.Errorf("status = %d, want 200 without a configured token", r.Code)
		}
	})
}

func TestHostCheck(t *testing.T) {
	h := newServer(t, nil).Handler()
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"localhost", true},
		{"localhost:51888", true},
		{"127.0.0.1:8080", true},
		{"[::1]:51888", true},
		{"[::1]", true},
		{"LOCALHOST:1", true},
		{"evil.example.com", false},
		{"evil.example.com:51888", false},
		{"127.0.0.1.nip.io", false},
		{"", false},
	} {
		t.Run(tc.host, func(t *testing.T) {
			r := do(t, h, http.MethodGet, "/api/v1/health", nil, "Host", tc.host)
			if tc.ok && r.Code != http.StatusOK {
				t.Errorf("Host %q: status %d, want 200", tc.host, r.Code)
			}
			if !tc.ok {
				wantError(t, r, http.StatusForbidden, "FORBIDDEN", "host")
			}
		})
	}

	t.Run("not applied on a public address", func(t *testing.T) {
		h := newServer(t, func(o *options) { o.Host = "0.0.0.0"; o.AuthToken = "x" }).Handler()
		r := do(t, h, http.MethodGet, "/api/v1/health", nil, "Host", "monitor.example.com")
		if r.Code != http.StatusOK {
			t.Errorf("status = %d, want 200", r.Code)
		}
	})
}

func TestCORS(t *testing.T) {
	h := newServer(t, func(o *options) { o.CORSOrigins = []string{"http://localhost:3000"} }).Handler()

	r := do(t, h, http.MethodOptions, "/api/v1/stats", nil,
		"Origin", "http://localhost:3000", "Access-Control-Request-Method", "GET")
	if r.Code != http.StatusNoContent {
		t.Fatalf("preflight status = %d, want 204", r.Code)
	}
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != "http://localhost:3000" {
		t.Errorf("Allow-Origin = %q", got)
	}
	if !strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("Allow-Methods = %q", r.Header.Get("Access-Control-Allow-Methods"))
	}

	r = do(t, h, http.MethodGet, "/api/v1/stats", nil, "Origin", "http://localhost:3000")
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != "http://localhost:3000" || r.Code != http.StatusOK {
		t.Errorf("GET: status %d, Allow-Origin %q", r.Code, got)
	}

	r = do(t, h, http.MethodGet, "/api/v1/stats", nil, "Origin", "http://evil.example")
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("other origin got Allow-Origin %q", got)
	}
	r = do(t, h, http.MethodOptions, "/api/v1/stats", nil, "Origin", "http://evil.example", "Access-Control-Request-Method", "GET")
	wantError(t, r, http.StatusForbidden, "FORBIDDEN", "origin")

	t.Run("wildcard", func(t *testing.T) {
		h := newServer(t, func(o *options) { o.CORSOrigins = []string{"*"} }).Handler()
		r := do(t, h, http.MethodGet, "/api/v1/health", nil, "Origin", "http://any.example")
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != "http://any.example" {
			t.Errorf("Allow-Origin = %q", got)
		}
	})
	t.Run("off by default", func(t *testing.T) {
		h := newServer(t, nil).Handler()
		r := do(t, h, http.MethodGet, "/api/v1/health", nil, "Origin", "http://localhost:3000")
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("Allow-Origin = %q without configured origins", got)
		}
		r = do(t, h, http.MethodOptions, "/api/v1/health", nil, "Origin", "http://localhost:3000", "Access-Control-Request-Method", "GET")
		if r.Code != http.StatusMethodNotAllowed {
			t.Errorf("preflight without CORS = %d, want 405", r.Code)
		}
	})
}

func TestGzip(t *testing.T) {
	h := newServer(t, nil).Handler()
	r := do(t, h, http.MethodGet, "/api/v1/stats", nil, "Accept-Encoding", "gzip, deflate")
	if r.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding = %q, want gzip", r.Header.Get("Content-Encoding"))
	}
	if !r.Env.Success { // do decompressed and decoded it
		t.Errorf("gzipped body did not decode to a success envelope")
	}
	if !strings.Contains(r.Header.Get("Vary"), "Accept-Encoding") {
		t.Errorf("Vary = %q", r.Header.Get("Vary"))
	}
	for _, ae := range []string{"", "identity", "gzip;q=0"} {
		r = do(t, h, http.MethodGet, "/api/v1/stats", nil, "Accept-Encoding", ae)
		if r.Header.Get("Content-Encoding") != "" {
			t.Errorf("Accept-Encoding %q: Content-Encoding = %q", ae, r.Header.Get("Content-Encoding"))
		}
	}
	// CSV downloads are not JSON and stay uncompressed.
	r = do(t, h, http.MethodGet, "/api/v1/export", nil, "Accept-Encoding", "gzip")
	if r.Header.Get("Content-Encoding") != "" || !bytes.HasPrefix(r.Body, []byte("date,")) {
		t.Errorf("CSV export: Content-Encoding %q, body %q", r.Header.Get("Content-Encoding"), r.Body[:min(20, len(r.Body))])
	}
}

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRequestIDAndLogging(t *testing.T) {
	var logs syncBuffer
	s := newServer(t, func(o *options) { o.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
	s.Mount("GET /api/v1/test/log", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		server.Logger(r.Context()).Info("inside handler")
		w.WriteHeader(http.StatusNoContent)
	}))
	h := s.Handler()

	r := do(t, h, http.MethodGet, "/api/v1/test/log", nil, "X-Request-ID", "abc-123")
	if got := r.Header.Get("X-Request-ID"); got != "abc-123" {
		t.Errorf("echoed X-Request-ID = %q, want abc-123", got)
	}
	var lines int
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if entry["request_id"] != "abc-123" {
			t.Errorf("log line without the request id: %s", line)
		}
		if entry["msg"] == "http request" {
			if entry["status"] != float64(204) || entry["route"] != "GET /api/v1/test/log" || entry["method"] != "GET" {
				t.Errorf("access log = %s", line)
			}
		}
		lines++
	}
	if lines != 2 {
		t.Errorf("log lines = %d, want 2 (handler + access log)", lines)
	}

	for _, bad := range []string{"", "has space", strings.Repeat("x", 200), "semi;colon"} {
		r := do(t, h, http.MethodGet, "/api/v1/health", nil, "X-Request-ID", bad)
		got := r.Header.Get("X-Request-ID")
		if got == bad || len(got) != 24 {
			t.Errorf("X-Request-ID %q: echoed %q, want a generated 24-char id", bad, got)
		}
	}
}

func TestRecovery(t *testing.T) {
	var logs syncBuffer
	s := newServer(t, func(o *options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	s.Mount("GET /api/v1/test/panic", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("secret internal detail")
	}))
	r := do(t, s.Handler(), http.MethodGet, "/api/v1/test/panic", nil, "X-Request-ID", "panic-1")
	wantError(t, r, http.StatusInternalServerError, "INTERNAL_ERROR")
	if bytes.Contains(r.Body, []byte("secret")) {
		t.Errorf("body leaks the panic: %s", r.Body)
	}
	if out := logs.String(); !strings.Contains(out, "secret internal detail") || !strings.Contains(out, "request_id=panic-1") {
		t.Errorf("panic not logged with its request id:\n%s", out)
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	h := newServer(t, nil).Handler()
	r := do(t, h, http.MethodGet, "/api/v1/nope", nil)
	wantError(t, r, http.StatusNotFound, "NOT_FOUND", "/api/v1/nope")
	r = do(t, h, http.MethodGet, "/", nil)
	wantError(t, r, http.StatusNotFound, "NOT_FOUND")

	r = do(t, h, http.MethodDelete, "/api/v1/stats", nil)
	wantError(t, r, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "DELETE")
	if allow := r.Header.Get("Allow"); !strings.Contains(allow, "GET") {
		t.Errorf("Allow = %q", allow)
	}
	r = do(t, h, http.MethodPut, "/api/v1/export", nil)
	if r.Code != http.StatusMethodNotAllowed || !strings.Contains(r.Header.Get("Allow"), "POST") {
		t.Errorf("PUT /export = %d, Allow %q", r.Code, r.Header.Get("Allow"))
	}
}

// failingStore fails every query, as a broken database would.
type failingStore struct{ usage.Store }

var errBroken = errors.New("disk I/O error at /secret/path")

func (failingStore) Aggregate(context.Context, usage.Filter, usage.Dimension) ([]usage.Bucket, error) {
	return nil, errBroken
}
func (failingStore) Records(context.Context, usage.Filter, usage.Page) ([]usage.Record, error) {
	return nil, errBroken
}
func (failingStore) LatestTimestamp(context.Context) (time.Time, error) {
	return time.Time{}, errBroken
}
func (failingStore) Snapshots(context.Context, time.Time, time.Time, usage.Page) ([]usage.Snapshot, int64, error) {
	return nil, 0, errBroken
}
func (failingStore) SaveSnapshot(context.Context, usage.Snapshot) (usage.Snapshot, error) {
	return usage.Snapshot{}, errBroken
}
func (failingStore) PruneSnapshots(context.Context, time.Time) (int64, error) { return 0, errBroken }

func TestStoreFailures(t *testing.T) {
	h := newServer(t, func(o *options) { o.Store = failingStore{fixture.store} }).Handler()
	for _, target := range []string{
		"/api/v1/stats", "/api/v1/stats/models", "/api/v1/stats/daily", "/api/v1/stats/trends",
		"/api/v1/stats/history", "/api/v1/stats/activity", "/api/v1/sessions", "/api/v1/sessions/x",
		"/api/v1/projects", "/api/v1/stats/models?period=all",
	} {
		r := do(t, h, http.MethodGet, target, nil)
		wantError(t, r, http.StatusInternalServerError, "INTERNAL_ERROR")
		if bytes.Contains(r.Body, []byte("secret")) {
			t.Errorf("%s leaks the internal error: %s", target, r.Body)
		}
	}
	r := do(t, h, http.MethodGet, "/api/v1/export", nil)
	wantError(t, r, http.StatusInternalServerError, "EXPORT_FAILED")

	r = do(t, h, http.MethodGet, "/api/v1/health", nil)
	var health struct {
		Status   string `json:"status"`
		Database struct {
			Status string `json:"status"`
		} `json:"database"`
	}
	if err := json.Unmarshal(r.Env.Data, &health); err != nil {
		t.Fatal(err)
	}
	if r.Code != http.StatusServiceUnavailable || health.Status != "unhealthy" || health.Database.Status != "error" {
		t.Errorf("health = %d %+v, want 503 unhealthy", r.Code, health)
	}
}
