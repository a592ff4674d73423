package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/claude-token-monitor/ctm/internal/postgres"
	"github.com/claude-token-monitor/ctm/internal/postgres/pgtest"
	"github.com/claude-token-monitor/ctm/internal/sqlite"
	"github.com/claude-token-monitor/ctm/internal/storetest"
	"github.com/claude-token-monitor/ctm/internal/team"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// wantRoutes is every route of a server with the dashboard, the WebSocket
// feed and (team) the team routes, with its auth rule: the route table
// must hold exactly these.
func wantRoutes(team bool) map[string]authRule {
	want := map[string]authRule{
		"GET /api/v1/health":         authPublic,
		"GET /api/v1/stats":          authToken,
		"GET /api/v1/stats/models":   authToken,
		"GET /api/v1/stats/daily":    authToken,
		"GET /api/v1/stats/trends":   authToken,
		"GET /api/v1/stats/history":  authToken,
		"GET /api/v1/stats/activity": authToken,
		"GET /api/v1/stats/cache":    authToken,
		"GET /api/v1/sessions":       authToken,
		"GET /api/v1/sessions/{id}":  authToken,
		"GET /api/v1/projects":       authToken,
		"GET /api/v1/blocks":         authToken,
		"GET /api/v1/blocks/active":  authToken,
		"GET /api/v1/users":          authToken,
		"GET /api/v1/breakdown":      authToken,
		"GET /api/v1/prompts":        authToken,
		"GET /api/v1/export":         authToken,
		"POST /api/v1/export":        authToken,
		"GET /api/v1/config":         authToken,
		"GET /api/v1/openapi.json":   authToken,
		"GET /api/v1/ws":             authTokenOrQuery,
		"GET /metrics":               authToken,
		"GET /":                      authDashboard,
	}
	if team {
		want["POST /api/v1/ingest"] = authPushToken
		want["POST /v1/logs"] = authPushToken
	}
	return want
}

// TestRouteTableAuth checks that the route table holds every route, the
// WebSocket feed, team ingest, OTLP, metrics and the dashboard included,
// and that each route enforces its rule as the table states it, by real
// requests. The team routes need PostgreSQL (a team store).
func TestRouteTableAuth(t *testing.T) {
	static := fstest.MapFS{"index.html": {Data: []byte("<html></html>")}}
	t.Run("local", func(t *testing.T) {
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "routes.db"), storetest.Prices)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		checkRouteTable(t, Options{Store: st, Pricer: storetest.Prices, AuthToken: "secret",
			Static: static, WebSocket: &HubOptions{}}, "")
	})
	t.Run("team", func(t *testing.T) {
		st, err := postgres.Open(context.Background(), pgtest.FreshSchema(t), storetest.Prices)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		push, err := st.CreateToken(context.Background(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		checkRouteTable(t, Options{Store: st, Pricer: storetest.Prices, AuthToken: "secret",
			Static: static, WebSocket: &HubOptions{}, Team: true}, push)
	})
	t.Run("team needs a team store", func(t *testing.T) {
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "routes.db"), storetest.Prices)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, err := New(Options{Store: st, Pricer: storetest.Prices, Team: true}); err == nil ||
			!strings.Contains(err.Error(), "team store") {
			t.Errorf("New(Team) over SQLite = %v, want an error naming the team store", err)
		}
	})
}

// checkRouteTable builds a server from opts and checks its table against
// wantRoutes and every rule by requests; push is a team user's push token,
// "" without team routes.
func checkRouteTable(t *testing.T, opts Options, push string) {
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	want := wantRoutes(opts.Team)
	got := map[string]authRule{}
	for _, rt := range s.table {
		got[rt.pattern] = rt.auth
		if w, ok := want[rt.pattern]; !ok {
			t.Errorf("table has %s (%v), which the test does not know", rt.pattern, rt.auth)
		} else if w != rt.auth {
			t.Errorf("table[%s] = %v, want %v", rt.pattern, rt.auth, w)
		}
	}
	for pattern := range want {
		if _, ok := got[pattern]; !ok {
			t.Errorf("table lacks %s", pattern)
		}
	}

	for _, rt := range s.table {
		method, path, _ := strings.Cut(rt.pattern, " ")
		path = strings.ReplaceAll(path, "{id}", "x")
		t.Run(rt.pattern, func(t *testing.T) {
			code := serve(s, method, path, "")
			switch rt.auth {
			case authToken, authTokenOrQuery, authPushToken:
				if code != http.StatusUnauthorized {
					t.Errorf("%s without a token: %d, want 401 (%v)", rt.pattern, code, rt.auth)
				}
				if code := serve(s, method, path, "secret"); code == http.StatusUnauthorized {
					t.Errorf("%s with the token: 401, want it let through", rt.pattern)
				}
			case authPublic, authDashboard:
				if code == http.StatusUnauthorized {
					t.Errorf("%s without a token: 401, want it let through (%v)", rt.pattern, rt.auth)
				}
			}
			switch rt.auth {
			case authDashboard:
				if code := serve(s, http.MethodPost, path, ""); code != http.StatusUnauthorized {
					t.Errorf("POST %s without a token: %d, want 401: only reading files is open", path, code)
				}
			case authTokenOrQuery:
				if code := serve(s, method, path+"?token=secret", ""); code == http.StatusUnauthorized {
					t.Errorf("%s with ?token=: 401, want it let through", rt.pattern)
				}
			case authPushToken:
				// The handler checks: a user's push token passes, a wrong
				// one does not, and AUTH_TOKEN in the query is no token.
				if code := serve(s, method, path, push); code == http.StatusUnauthorized {
					t.Errorf("%s with a push token: 401, want it let through", rt.pattern)
				}
				if code := serve(s, method, path, "not-a-token"); code != http.StatusUnauthorized {
					t.Errorf("%s with a wrong token: %d, want 401", rt.pattern, code)
				}
				if code := serve(s, method, path+"?token=secret", ""); code != http.StatusUnauthorized {
					t.Errorf("%s with ?token=: %d, want 401", rt.pattern, code)
				}
			}
			if rt.auth != authPushToken && push != "" {
				// A push token opens no other route.
				if code := serve(s, method, path, push); rt.auth != authPublic && rt.auth != authDashboard && code != http.StatusUnauthorized {
					t.Errorf("%s with a push token: %d, want 401", rt.pattern, code)
				}
			}
		})
	}
	// Only the WebSocket route takes the token from the query string.
	if code := serve(s, http.MethodGet, "/api/v1/stats?token=secret", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/stats?token=: %d, want 401", code)
	}
	checkOpenAPIMatchesTable(t, s)
}

// checkOpenAPIMatchesTable checks, both ways, that /openapi.json documents
// the routes of the table, each with its auth rule, and nothing else: only
// the dashboard's files are left out.
func checkOpenAPIMatchesTable(t *testing.T, s *Server) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/api/v1/openapi.json", nil)
	r.Header.Set("Authorization", "Bearer secret")
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	var doc struct {
		Paths map[string]map[string]struct {
			Auth     string `json:"x-auth"`
			Security []map[string]any
		} `json:"paths"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	documented := map[string]string{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			documented[strings.ToUpper(method)+" "+path] = op.Auth
			if len(op.Security) == 0 {
				t.Errorf("%s %s documents no security", method, path)
			}
		}
	}
	routed := map[string]bool{}
	for _, rt := range s.table {
		routed[rt.pattern] = true
		auth, ok := documented[rt.pattern]
		switch {
		case rt.pattern == "GET /":
			if ok {
				t.Errorf("the dashboard catch-all is documented")
			}
		case !ok:
			t.Errorf("%s is routed but not in /openapi.json", rt.pattern)
		case auth != rt.auth.String():
			t.Errorf("%s: /openapi.json says auth %q, the table %q", rt.pattern, auth, rt.auth)
		}
	}
	for op := range documented {
		if !routed[op] {
			t.Errorf("%s is in /openapi.json but not routed", op)
		}
	}
}

// TestTeamPushReachesReaders pushes a batch through the real team ingest
// route and checks that the next read sees it at once (the cache was
// dropped) and that the feed's clients are told (a stats_update).
func TestTeamPushReachesReaders(t *testing.T) {
	ctx := context.Background()
	st, err := postgres.Open(ctx, pgtest.FreshSchema(t), storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	push, err := st.CreateToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	stats := make(chan struct{}, 16)
	var s *Server
	s, err = New(Options{Store: st, Pricer: storetest.Prices, AuthToken: "secret", Team: true,
		CacheTTL: time.Hour,
		WebSocket: &HubOptions{StatsInterval: time.Millisecond, Stats: func(ctx context.Context) (any, error) {
			stats <- struct{}{}
			return s.StatsSummary(ctx)
		}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	entries := func() int64 {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/api/v1/stats", nil)
		r.Header.Set("Authorization", "Bearer secret")
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		var env struct {
			Data struct {
				Summary struct {
					Entries int64 `json:"entries"`
				} `json:"summary"`
			} `json:"data"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || w.Code != http.StatusOK {
			t.Fatalf("GET /stats: %d %s (%v)", w.Code, w.Body, err)
		}
		return env.Data.Summary.Entries
	}
	if n := entries(); n != 0 {
		t.Fatalf("entries before the push = %d, want 0", n)
	}
	// A client, so that the hub computes stats updates at all.
	c := newClient(4)
	if _, _, ok := s.hub.register(c); !ok {
		t.Fatal("register")
	}
	defer s.hub.unregister(c)
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	body, err := json.Marshal(team.IngestRequest{Machine: "laptop", Records: []usage.Record{{
		Key:       usage.RecordKey("msg_1", "req_1", ""),
		MessageID: "msg_1", RequestID: "req_1", Timestamp: at, Model: "claude-sonnet-4-5",
		SessionID: "s1", Project: "/work/a", Tokens: usage.Tokens{Input: 100, Output: 10},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/api/v1/ingest", bytes.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+push)
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("push: %d %s", w.Code, w.Body)
	}
	if n := entries(); n != 1 {
		t.Errorf("entries right after the push = %d, want 1: the cache was not dropped", n)
	}
	select {
	case <-stats:
	case <-time.After(10 * time.Second):
		t.Error("no stats_update computed after the push")
	}
}

// serve sends one request without a body (an empty JSON object to the
// OTLP receiver, which checks the media type first) and returns the
// status.
func serve(s *Server, method, target, token string) int {
	var r *http.Request
	if strings.HasPrefix(target, "/v1/logs") {
		r = httptest.NewRequest(method, "http://127.0.0.1"+target, strings.NewReader("{}"))
		r.Header.Set("Content-Type", "application/json")
	} else {
		r = httptest.NewRequest(method, "http://127.0.0.1"+target, nil)
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	return w.Code
}
