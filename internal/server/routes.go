package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/claude-token-monitor/ctm/internal/team"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// authRule is what a route asks of a request's credentials when
// AUTH_TOKEN is set (without it every route is open).
type authRule int

const (
	// authToken requires "Authorization: Bearer <AUTH_TOKEN>".
	authToken authRule = iota
	// authPublic is open; a request that carries the token is marked
	// authenticated, so that health tells it more than "alive".
	authPublic
	// authTokenOrQuery is authToken, or the token in ?token=, since
	// browsers cannot set headers on a WebSocket handshake.
	authTokenOrQuery
	// authPushToken leaves the check to the handler, which takes a team
	// user's push token as well as AUTH_TOKEN (the team routes).
	authPushToken
	// authDashboard is open for a GET or HEAD of a dashboard file and
	// authToken for anything else under the catch-all.
	authDashboard
)

func (a authRule) String() string {
	switch a {
	case authPublic:
		return "public"
	case authTokenOrQuery:
		return "token or ?token="
	case authPushToken:
		return "push token"
	case authDashboard:
		return "public files, else token"
	}
	return "token"
}

// route is one entry of the route table.
type route struct {
	pattern string
	auth    authRule
	handler http.HandlerFunc
	// doc describes the route in /openapi.json; nil leaves it out (the
	// dashboard's files, and routes added with Mount).
	doc *operation
}

// routeTable is every route the server serves, with who may call it and
// its OpenAPI description: the JSON API, the WebSocket feed, the team
// routes, metrics and the dashboard. The OpenAPI document is generated
// from it, and New mounts exactly these; only Mount adds to them.
func (s *Server) routeTable() []route {
	p := s.opts.APIPrefix
	d := s.docs()
	api := func(pattern string, auth authRule, h http.HandlerFunc) route {
		method, path, _ := strings.Cut(pattern, " ")
		op, ok := d[pattern]
		if !ok {
			// A programming error that every test run hits at once.
			panic("server: route " + pattern + " has no OpenAPI description")
		}
		return route{pattern: method + " " + p + path, auth: auth, handler: h, doc: &op}
	}
	table := []route{
		api("GET /health", authPublic, s.handleHealth),
		api("GET /stats", authToken, s.cached(s.scoped(s.handleStats))),
		api("GET /stats/models", authToken, s.cached(s.scoped(s.handleModels))),
		api("GET /stats/daily", authToken, s.cached(s.scoped(s.handleDaily))),
		api("GET /stats/trends", authToken, s.cached(s.scoped(s.handleTrends))),
		api("GET /stats/history", authToken, s.handleHistory),
		api("GET /stats/activity", authToken, s.cached(s.scoped(s.handleActivity))),
		api("GET /stats/cache", authToken, s.handleStatsCache),
		api("GET /sessions", authToken, s.cached(s.scoped(s.handleSessions))),
		api("GET /sessions/{id}", authToken, s.cached(s.scoped(s.handleSession))),
		api("GET /projects", authToken, s.cached(s.scoped(s.handleProjects))),
		api("GET /blocks", authToken, s.cached(s.scoped(s.handleBlocks))),
		api("GET /blocks/active", authToken, s.cached(s.scoped(s.handleActiveBlock))),
		api("GET /users", authToken, s.cached(s.handleUsers)),
		api("GET /breakdown", authToken, s.cached(s.scoped(s.handleBreakdown))),
		api("GET /prompts", authToken, s.cached(s.scoped(s.handlePrompts))),
		api("GET /export", authToken, s.scoped(s.handleExportGet)),
		api("POST /export", authToken, s.scoped(s.handleExportPost)),
		api("GET /config", authToken, s.handleConfig),
		api("GET /openapi.json", authToken, s.handleOpenAPI),
	}
	if s.hub != nil {
		table = append(table, api("GET /ws", authTokenOrQuery, s.handleWebSocket))
	}
	if s.opts.Team {
		// A team server: machines push records and Claude Code sends its
		// telemetry, each with a per-user token the handlers check.
		ts := s.opts.Store.(usage.TeamStore) // checked by New
		auth := team.TokenAuth(ts, s.opts.AuthToken)
		table = append(table,
			api("POST /ingest", authPushToken, s.afterPush(team.NewIngestHandler(s.opts.Store, s.opts.Logger, auth))),
			route{pattern: "POST /v1/logs", auth: authPushToken, doc: &otlpDoc,
				handler: s.afterPush(team.NewOTLPHandler(s.opts.Store, s.opts.Logger, auth))})
	}
	table = append(table, route{pattern: "GET /metrics", auth: authToken, doc: &metricsDoc,
		handler: s.metrics.handler().ServeHTTP})
	if s.opts.Static != nil {
		// The dashboard's files hold no usage data, and the page must load
		// to ask for the token at all (see isStaticFile).
		table = append(table, route{pattern: "GET /", auth: authDashboard, handler: s.handleDashboard()})
	}
	return table
}

// handleDashboard serves the dashboard's files.
func (s *Server) handleDashboard() http.HandlerFunc {
	files := http.FileServerFS(s.opts.Static)
	return func(w http.ResponseWriter, r *http.Request) {
		// The dashboard catch-all must not turn unknown API paths into
		// HTML 404 pages.
		if r.URL.Path == s.opts.APIPrefix || strings.HasPrefix(r.URL.Path, s.opts.APIPrefix+"/") {
			writeError(w, r, usage.Errorf(usage.ENOTFOUND, "no route for %s %s", r.Method, r.URL.Path))
			return
		}
		files.ServeHTTP(w, r)
	}
}

// handleWebSocket serves the hub's feed. A browser handshake is accepted
// only from the server's own origin or one of CORSOrigins; a handshake
// without Origin (not a browser) is accepted.
func (s *Server) handleWebSocket(w http.ResponseWriter, r *http.Request) {
	if origin := r.Header.Get("Origin"); origin != "" && !s.originAllowed(r, origin) {
		// A page on another site must not read a local user's usage
		// through their browser (cross-site WebSocket hijacking).
		loggerFrom(r.Context()).Warn("websocket origin refused", slog.String("origin", origin))
		writeErrorStatus(w, r, http.StatusForbidden, codeForbidden,
			fmt.Sprintf("origin %q is not allowed", origin))
		return
	}
	s.hub.serve(w, r)
}

// afterPush serves h and, when it stored something (a 2xx answer), tells
// the cache and the live feed: the team routes write to the store behind
// the ingester's back.
func (s *Server) afterPush(h http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if sw.status >= 200 && sw.status < 300 {
			s.Changed()
		}
	}
}

// Mount adds a route to the table for a Go 1.22 ServeMux pattern such as
// "GET /api/v1/extra", requiring AUTH_TOKEN, behind the same middleware
// (request id, logging, host check, CORS, auth) as the built-in routes;
// it is left out of /openapi.json. Use APIPrefix to build paths. It
// panics, like http.ServeMux.Handle, on a malformed or conflicting
// pattern, which is a programming error.
func (s *Server) Mount(pattern string, h http.Handler) { s.mount(pattern, authToken, h.ServeHTTP) }

// mount adds a route to the table and the mux.
func (s *Server) mount(pattern string, auth authRule, h http.HandlerFunc) {
	s.mountRoute(route{pattern: pattern, auth: auth, handler: h})
}

func (s *Server) mountRoute(rt route) {
	_, path, _ := strings.Cut(rt.pattern, " ")
	if path == "" {
		path = rt.pattern
	}
	s.table = append(s.table, rt)
	s.authOf[path] = rt.auth
	pattern, h := rt.pattern, rt.handler
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info := requestInfoFrom(r.Context()); info != nil {
			info.route = pattern
		}
		h(w, r)
	}))
}
