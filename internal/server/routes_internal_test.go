package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/claude-token-monitor/ctm/internal/sqlite"
	"github.com/claude-token-monitor/ctm/internal/storetest"
)

// TestRouteTableAuth checks that the route table holds every route,
// mounted ones included, and that the middleware enforces each route's
// rule as the table states it.
func TestRouteTableAuth(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "routes.db"), storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := New(Options{Store: st, Pricer: storetest.Prices, AuthToken: "secret",
		Static: fstest.MapFS{"index.html": {Data: []byte("<html></html>")}}})
	if err != nil {
		t.Fatal(err)
	}
	hub := NewHub(HubOptions{Stats: s.StatsSummary})
	defer hub.Close()
	s.MountWebSocket(hub)
	s.MountSelfAuthenticated("POST /api/v1/ingest", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))

	want := map[string]authRule{
		"GET /api/v1/health":  authPublic,
		"GET /api/v1/stats":   authToken,
		"GET /metrics":        authToken,
		"GET /api/v1/ws":      authTokenOrQuery,
		"POST /api/v1/ingest": authPushToken,
		"GET /":               authDashboard,
	}
	got := map[string]authRule{}
	for _, rt := range s.table {
		got[rt.pattern] = rt.auth
	}
	for pattern, rule := range want {
		if r, ok := got[pattern]; !ok || r != rule {
			t.Errorf("table[%q] = %v (listed %v), want %v", pattern, r, ok, rule)
		}
	}

	for _, rt := range s.table {
		method, path, _ := strings.Cut(rt.pattern, " ")
		path = strings.ReplaceAll(path, "{id}", "x")
		t.Run(rt.pattern, func(t *testing.T) {
			code := serve(s, method, path, "")
			switch rt.auth {
			case authToken, authTokenOrQuery:
				if code != http.StatusUnauthorized {
					t.Errorf("%s without a token: %d, want 401 (%v)", rt.pattern, code, rt.auth)
				}
				if code := serve(s, method, path, "secret"); code == http.StatusUnauthorized {
					t.Errorf("%s with the token: 401, want it let through", rt.pattern)
				}
			case authPublic, authPushToken, authDashboard:
				if code == http.StatusUnauthorized {
					t.Errorf("%s without a token: 401, want it let through (%v)", rt.pattern, rt.auth)
				}
			}
			if rt.auth == authDashboard {
				if code := serve(s, http.MethodPost, path, ""); code != http.StatusUnauthorized {
					t.Errorf("POST %s without a token: %d, want 401: only reading files is open", path, code)
				}
			}
			if rt.auth == authTokenOrQuery {
				if code := serve(s, method, path+"?token=secret", ""); code == http.StatusUnauthorized {
					t.Errorf("%s with ?token=: 401, want it let through", rt.pattern)
				}
			}
		})
	}
	// Only the WebSocket route takes the token from the query string.
	if code := serve(s, http.MethodGet, "/api/v1/stats?token=secret", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/stats?token=: %d, want 401", code)
	}
}

func serve(s *Server, method, target, token string) int {
	r := httptest.NewRequest(method, "http://127.0.0.1"+target, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	return w.Code
}
