package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/claude-token-monitor/ctm/internal/server"
	"github.com/claude-token-monitor/ctm/internal/web"
)

// maxFuzzResponse bounds any response to a fuzzed request: the largest
// honest answers (3,660 days, 500 sessions, 10,000 trend points) are a
// few megabytes.
const maxFuzzResponse = 16 << 20

// fuzzRoute is one method and path of the API.
type fuzzRoute struct{ method, path string }

// apiRoutes lists every route the server documents in /openapi.json,
// which is generated from the route table (metrics and the WebSocket
// handshake included), plus the dashboard and an unknown path, in a fixed
// order. The team routes have FuzzTeamRoutes.
func apiRoutes(t testing.TB, h http.Handler) []fuzzRoute {
	t.Helper()
	r := do(t, h, http.MethodGet, "/api/v1/openapi.json", nil)
	var spec struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(r.Body, &spec); err != nil || len(spec.Paths) == 0 {
		t.Fatalf("openapi.json: %v (%d paths)", err, len(spec.Paths))
	}
	routes := []fuzzRoute{{"GET", "/"}, {"GET", "/api/v1/nope"}}
	for p, ops := range spec.Paths {
		for m := range ops {
			routes = append(routes, fuzzRoute{strings.ToUpper(m), p})
		}
	}
	slices.SortFunc(routes, func(a, b fuzzRoute) int { return strings.Compare(a.method+a.path, b.method+b.path) })
	return routes
}

// FuzzRouter sends every route random path parameters, query strings and
// bodies: the server must answer without a 5xx, without a panic (the
// recovery middleware would turn one into a 500) and within a bounded
// size. Plain `go test` runs the seeds, which cover every route.
func FuzzRouter(f *testing.F) {
	s := newServer(f, func(o *options) { o.WebSocket = &server.HubOptions{}; o.Static = web.FS })
	f.Cleanup(s.Hub().Close)
	h := s.Handler()
	routes := apiRoutes(f, h)
	queries := []string{
		"",
		"start_date=0001-01-01&end_date=9999-12-31",
		"start_date=0001-01-01&end_date=0001-01-02",
		"start_date=9999-12-31",
		"end_date=0001-01-01",
		"offset=9223372036854775807&limit=500",
		"offset=-1&limit=99999999999999999999",
		"period=all&granularity=hour&metrics=all",
		"start_time=0001-01-01T00:00:00Z&end_time=9999-12-31T23:59:59Z",
		"granularity=hour&start_date=2016-01-01&end_date=2026-01-06&breakdown=model&format=json",
		"user=%00&project=%ff&model=" + strings.Repeat("m", 300),
		"%zz&=&&;",
		"sort=cost&order=asc&active=true&recent=true",
	}
	bodies := []string{"", "[]", "null", `{"format":"json","granularity":"hour","start_date":"0001-01-01","end_date":"0010-12-31"}`, "{\"fields\":[\"\xff\"]}"}
	for i := range routes {
		for j, q := range queries {
			f.Add(uint8(i), "a0a54b0e-1f5c-4a8e-9b7d-000000000000", q, []byte(bodies[j%len(bodies)]))
		}
	}
	f.Fuzz(func(t *testing.T, ri uint8, arg, query string, body []byte) {
		rt := routes[int(ri)%len(routes)]
		path := strings.ReplaceAll(rt.path, "{id}", url.PathEscape(arg))
		req := httptest.NewRequest(rt.method, "/", bytes.NewReader(body))
		req.URL.Path, req.URL.RawPath, req.URL.RawQuery = path, "", query
		req.RequestURI = req.URL.RequestURI()
		req.Host = "127.0.0.1:51888"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s?%s (body %q) = %d: %s", rt.method, path, query, body, rec.Code, rec.Body.Bytes())
		}
		if n := rec.Body.Len(); n > maxFuzzResponse {
			t.Fatalf("%s %s?%s = %d bytes, over %d", rt.method, path, query, n, maxFuzzResponse)
		}
	})
}
