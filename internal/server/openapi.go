package server

import (
	"encoding/json"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/httpapi"
	"github.com/claude-token-monitor/ctm/internal/team"
	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

// operation documents one route for the OpenAPI document.
type operation struct {
	summary string
	params  []param
	// response is a value of the data type of a successful response; nil
	// means the route does not answer JSON (metrics).
	response any
	// body is a value of the JSON request body type, if any.
	body any
	// csv marks routes that can answer text/csv.
	csv bool
	// nullable marks routes whose data can be null.
	nullable bool
	// errors lists the error statuses the route can answer besides 400
	// and 401/403, which every route can.
	errors []int
	// responses, when set, are the route's responses as written, for the
	// routes that do not answer the JSON envelope (WebSocket, metrics).
	responses map[string]any
	// id is the operationId when the path does not make a good one.
	id string
}

// param is one query or path parameter.
type param struct {
	name, in, description string
	schema                map[string]any
	required              bool
}

func query(name, description string, schema map[string]any) param {
	return param{name: name, in: "query", description: description, schema: schema}
}

func strSchema() map[string]any { return map[string]any{"type": "string"} }

func dateSchema() map[string]any { return map[string]any{"type": "string", "format": "date"} }

func timeSchema() map[string]any { return map[string]any{"type": "string", "format": "date-time"} }

func enumSchema(values ...string) map[string]any {
	return map[string]any{"type": "string", "enum": values}
}

func intSchema(lo, hi int) map[string]any {
	s := map[string]any{"type": "integer", "minimum": lo}
	if hi > 0 {
		s["maximum"] = hi
	}
	return s
}

var (
	periodParam = func(def string) param {
		return query("period", "Time range ending today; default "+def+".", enumSchema("7d", "30d", "90d", "all"))
	}
	startDateParam = query("start_date", "First day, YYYY-MM-DD, inclusive, in the server's time zone.", dateSchema())
	endDateParam   = query("end_date", "Last day, YYYY-MM-DD, inclusive.", dateSchema())
	limitParam     = query("limit", "Page size, 1..500.", intSchema(1, 500))
	offsetParam    = query("offset", "Items to skip.", intSchema(0, 0))
)

// userQueryParam documents the user parameter of the per-user views.
var userQueryParam = query("user", "Only this user's records (team mode); default every user.", strSchema())

// userViews are the routes that take userQueryParam (see Server.scoped).
var userViews = []string{"GET /stats", "GET /stats/models", "GET /stats/daily", "GET /stats/trends",
	"GET /stats/activity", "GET /sessions", "GET /sessions/{id}", "GET /projects", "GET /export",
	"POST /export", "GET /blocks", "GET /blocks/active"}

// docs describes every route, keyed by its pattern without the prefix.
func (s *Server) docs() map[string]operation {
	ops := s.baseDocs()
	for k, op := range insightDocs() {
		ops[k] = op
	}
	for _, k := range append(userViews, insightViews...) {
		op := ops[k]
		op.params = append(op.params, userQueryParam)
		ops[k] = op
	}
	return ops
}

// baseDocs describes every route but the user parameter.
func (s *Server) baseDocs() map[string]operation {
	return map[string]operation{
		"GET /health": {summary: "Service health: status, uptime, data sources, database, stats cache. With AUTH_TOKEN set, a request without it gets only {\"status\":\"alive\"}.",
			response: healthResponse{}, errors: []int{503}},
		"GET /stats": {summary: "All-time summary, today, and today compared with yesterday and the last-7-days average.",
			response: statsResponse{}},
		"GET /stats/models": {summary: "Usage per model over a period.",
			params: []param{periodParam("30d")}, response: modelsResponse{}},
		"GET /stats/daily": {summary: "Every day of a range, empty days included, with a summary. Default: the last 7 days.",
			params: []param{startDateParam, endDateParam}, response: dailyResponse{}},
		"GET /stats/trends": {summary: "Chart series over a period at a granularity.",
			params: []param{periodParam("7d"),
				query("granularity", "Point size; default day.", enumSchema("hour", "day", "week", "month")),
				query("metrics", "Comma list of tokens, cost, cache_hit, or all (default).", strSchema())},
			response: trendsResponse{}},
		"GET /stats/history": {summary: "Stored snapshots of the all-time totals, newest first. Default: the last 24 hours.",
			params: []param{query("start_time", "RFC 3339, inclusive.", timeSchema()),
				query("end_time", "RFC 3339, exclusive.", timeSchema()), limitParam, offsetParam},
			response: historyResponse{}},
		"GET /stats/activity": {summary: "Weekday × hour heatmap of records and tokens, with peak hours.",
			params: []param{periodParam("7d"), startDateParam, endDateParam}, response: activityResponse{}},
		"GET /stats/cache": {summary: "Claude Code's parsed stats-cache.json, served as its own view.",
			response: statsCacheResponse{}, errors: []int{404, 500}},
		"GET /sessions": {summary: "Sessions with totals, filtered, sorted and paged.",
			params: []param{startDateParam, endDateParam,
				query("project", "Exact project path.", strSchema()),
				query("model", "Exact model id; totals then count that model only.", strSchema()),
				query("sort", "Sort key; default last_activity.", enumSchema("last_activity", "first_activity", "cost", "tokens")),
				query("order", "Sort order; default desc.", enumSchema("asc", "desc")),
				limitParam, offsetParam},
			response: sessionsResponse{}},
		"GET /sessions/{id}": {summary: "One session: totals, per-model breakdown and request timeline.",
			params:   []param{{name: "id", in: "path", description: "Session id.", schema: strSchema(), required: true}},
			response: sessionDetail{}, errors: []int{404}},
		"GET /projects": {summary: "Projects with totals, session counts and last activity.",
			params: []param{startDateParam, endDateParam}, response: projectsResponse{}},
		"GET /export": {summary: "Download usage as CSV or JSON. Default: csv, the last 30 days, by day.",
			params: []param{query("format", "Default csv.", enumSchema("csv", "json")), startDateParam, endDateParam,
				query("granularity", "Row period; default day.", enumSchema("day", "hour")),
				query("fields", "Comma list of: "+views.ExportFieldNames()+".", strSchema()),
				query("breakdown", "model gives one row per period and model.", enumSchema("none", "model"))},
			response: exportResponse{}, csv: true, errors: []int{500}},
		"POST /export": {summary: "Download usage as CSV or JSON; the body takes the GET parameters, fields as an array.",
			body: exportRequest{}, response: exportResponse{}, csv: true, errors: []int{500}},
		"GET /blocks": {summary: "5-hour usage blocks with limit status, the rolling week and Claude's own rate limits.",
			params: []param{query("active", "true: only the active block.", enumSchema("true", "false")),
				query("recent", "true: only blocks that started in the last 3 days.", enumSchema("true", "false")),
				query("start_date", "Only blocks that started on or after this day, YYYY-MM-DD.", dateSchema()),
				query("end_date", "Only blocks that started on or before this day, YYYY-MM-DD.", dateSchema())},
			response: blocksResponse{}},
		"GET /blocks/active": {summary: "The active 5-hour block with burn rate, projection and limit status; data is null when none is active.",
			response: usage.Block{}, nullable: true},
		"GET /users": {summary: "Users with their totals (team mode); records without a user are listed under \"\".",
			response: views.Users{}},
		"GET /config":       {summary: "Effective configuration, without secrets.", response: configResponse{}},
		"GET /openapi.json": {summary: "This document."},
		"GET /ws": {summary: "WebSocket feed. The server sends connected {client_id, server_time}, stats_update (the /stats " +
			"summary after new records), heartbeat every 30 s, block_update (the active block, absent when none), " +
			"alert (80% and 100% of the block limit) and error; a client may send ping (answered by pong) and pong. " +
			"Every message is {type, data, timestamp}. Past the client limit a connection is closed at once with " +
			"status 1013 (try again later).",
			params: []param{query("token", "Bearer token, for browsers that cannot set the Authorization header on a WebSocket.", strSchema())},
			responses: map[string]any{
				"101": map[string]any{"description": "Switching Protocols: the WebSocket is open."},
				"400": errorResponse("Not a WebSocket upgrade"),
				"401": errorResponse("Missing or wrong bearer token"),
				"403": errorResponse("Host or origin not allowed"),
			}},
		"POST /ingest": {summary: "Team server: store a batch of records pushed by ctm push. The bearer token is a team user's push token " +
			"(records are stored as that user) or AUTH_TOKEN (the body's user says whose they are). One invalid record rejects " +
			"the batch; a batch sent twice changes nothing.",
			body: team.IngestRequest{}, response: team.IngestResponse{}, errors: []int{413, 500}},
	}
}

// otlpDoc describes POST /v1/logs, the OTLP/HTTP logs receiver of a team
// server; its path is OTLP's, not the API's.
var otlpDoc = operation{
	summary: "Team server: OTLP/HTTP logs receiver for Claude Code's telemetry (OTEL_EXPORTER_OTLP_ENDPOINT pointing at this " +
		"server, protocol http/protobuf or http/json), authenticated by a team user's push token. Each api_request event " +
		"becomes a record. Answers as OTLP does: an ExportLogsServiceResponse, or a google.rpc.Status on failure.",
	id: "postOtlpLogs",
	responses: map[string]any{
		"200": map[string]any{"description": "OK: an ExportLogsServiceResponse, partial_success naming rejected events.",
			"content": map[string]any{"application/x-protobuf": map[string]any{"schema": strSchema()},
				"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}},
		"400": map[string]any{"description": "Malformed request (a google.rpc.Status)"},
		"401": map[string]any{"description": "Missing or wrong push token (a google.rpc.Status)"},
		"413": map[string]any{"description": "Body too large (a google.rpc.Status)"},
		"415": map[string]any{"description": "Neither application/x-protobuf nor application/json"},
	},
}

// metricsDoc describes GET /metrics.
var metricsDoc = operation{
	summary: "Prometheus metrics in the text exposition format.",
	id:      "getMetrics",
	responses: map[string]any{"200": map[string]any{"description": "OK",
		"content": map[string]any{"text/plain": map[string]any{"schema": strSchema()}}}},
}

// errorResponse is an error answer with the Error envelope.
func errorResponse(desc string) map[string]any {
	return map[string]any{"description": desc, "content": map[string]any{
		"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
}

// security is what an auth rule asks, in OpenAPI's terms: alternatives,
// of which an empty one means none.
func (a authRule) security() []any {
	bearer := map[string]any{"bearer": []any{}}
	switch a {
	case authPublic:
		return []any{map[string]any{}, bearer}
	case authTokenOrQuery:
		return []any{bearer, map[string]any{"queryToken": []any{}}}
	case authPushToken:
		return []any{map[string]any{"pushToken": []any{}}, bearer}
	}
	return []any{bearer}
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	doc, err := s.openAPI()
	if err != nil {
		writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(doc)
}

// openAPI returns the OpenAPI 3.1 document, built once from the route
// docs and the Go response types, so the schemas cannot drift from the
// JSON the handlers write.
func (s *Server) openAPI() ([]byte, error) {
	s.openAPIOnce.Do(func() {
		s.openAPIDoc, s.openAPIErr = json.MarshalIndent(s.buildOpenAPI(), "", "  ")
	})
	return s.openAPIDoc, s.openAPIErr
}

func (s *Server) buildOpenAPI() map[string]any {
	g := &schemaGen{defs: map[string]any{}, names: map[reflect.Type]string{}}
	g.defs["Error"] = map[string]any{
		"type":                 "object",
		"additionalProperties": false,
		"required":             []string{"success", "error", "timestamp"},
		"properties": map[string]any{
			"success": map[string]any{"type": "boolean", "enum": []any{false}},
			"error": map[string]any{
				"type":                 "object",
				"additionalProperties": false,
				"required":             []string{"code", "message"},
				"properties": map[string]any{
					"code":    enumSchema(httpapi.Codes...),
					"message": strSchema(),
				},
			},
			"timestamp": timeSchema(),
		},
	}
	paths := map[string]any{}
	for _, rt := range s.table {
		if rt.doc == nil {
			continue
		}
		op := *rt.doc
		method, path, _ := strings.Cut(rt.pattern, " ")
		id := op.id
		if id == "" {
			id = operationID(method, path)
		}
		o := map[string]any{
			"summary":     op.summary,
			"operationId": id,
			"security":    rt.auth.security(),
			"x-auth":      rt.auth.String(),
		}
		var params []any
		for _, p := range op.params {
			pm := map[string]any{"name": p.name, "in": p.in, "description": p.description, "schema": p.schema}
			if p.required {
				pm["required"] = true
			}
			params = append(params, pm)
		}
		if params != nil {
			o["parameters"] = params
		}
		if op.body != nil {
			o["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(op.body), false)}}}
		}
		if op.responses != nil {
			o["responses"] = op.responses
			addOperation(paths, path, method, o)
			continue
		}
		ok := map[string]any{"description": "OK"}
		content := map[string]any{}
		if op.response != nil {
			env := g.envelope(reflect.TypeOf(op.response))
			if op.nullable {
				props := env["properties"].(map[string]any)
				props["data"] = map[string]any{"anyOf": []any{props["data"], map[string]any{"type": "null"}}}
			}
			content["application/json"] = map[string]any{"schema": env}
		} else {
			content["application/json"] = map[string]any{"schema": map[string]any{"type": "object"}}
		}
		if op.csv {
			content["text/csv"] = map[string]any{"schema": strSchema()}
		}
		ok["content"] = content
		responses := map[string]any{"200": ok, "400": errorResponse("Invalid parameters"),
			"401": errorResponse("Missing or wrong bearer token"), "403": errorResponse("Host or origin not allowed")}
		for _, st := range op.errors {
			if st == http.StatusServiceUnavailable {
				responses[strconv.Itoa(st)] = map[string]any{"description": "Unhealthy", "content": map[string]any{
					"application/json": map[string]any{"schema": g.envelope(reflect.TypeOf(op.response))}}}
				continue
			}
			responses[strconv.Itoa(st)] = errorResponse(http.StatusText(st))
		}
		o["responses"] = responses
		addOperation(paths, path, method, o)
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "Claude Token Monitor API",
			"version":     s.opts.Version,
			"description": "Token usage and cost of Claude Code, exactly accounted. Every response is wrapped in {success, data, timestamp}; errors in {success:false, error:{code,message}, timestamp}.",
		},
		"servers": []any{map[string]any{"url": "/"}},
		"paths":   paths,
		"components": map[string]any{
			"schemas": g.defs,
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer",
					"description": "AUTH_TOKEN, when the server has one."},
				"queryToken": map[string]any{"type": "apiKey", "in": "query", "name": "token",
					"description": "AUTH_TOKEN in the query string: only the WebSocket handshake takes it."},
				"pushToken": map[string]any{"type": "http", "scheme": "bearer",
					"description": "A team user's push token (ctm token), or AUTH_TOKEN."},
			},
		},
	}
}

// addOperation adds o as path's method to paths.
func addOperation(paths map[string]any, path, method string, o map[string]any) {
	item, _ := paths[path].(map[string]any)
	if item == nil {
		item = map[string]any{}
		paths[path] = item
	}
	item[strings.ToLower(method)] = o
}

// operationID derives a stable id such as getStatsDaily.
func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, part := range strings.FieldsFunc(path, func(r rune) bool { return r == '/' || r == '_' || r == '.' }) {
		part = strings.Trim(part, "{}")
		if part == "" || part == "api" || (len(part) == 2 && part[0] == 'v') {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// schemaGen builds JSON Schemas from Go types the way encoding/json
// marshals them: named structs become components, embedded structs are
// flattened, omitempty fields are optional.
type schemaGen struct {
	defs  map[string]any
	names map[reflect.Type]string
}

var timeType = reflect.TypeFor[time.Time]()

// envelope returns the schema of a success envelope around data type t.
func (g *schemaGen) envelope(t reflect.Type) map[string]any {
	return map[string]any{
		"type":                 "object",
		"additionalProperties": false,
		"required":             []string{"success", "data", "timestamp"},
		"properties": map[string]any{
			"success":   map[string]any{"type": "boolean", "enum": []any{true}},
			"data":      g.schema(t, false),
			"timestamp": timeSchema(),
			// Only on responses served from the cache.
			"computed_at": timeSchema(),
		},
	}
}

// moneyType is written as an exact decimal number (usage.Money).
var moneyType = reflect.TypeFor[usage.Money]()

// usagePkg is the import path of package usage.
var usagePkg = moneyType.PkgPath()

// schema returns the schema of t; nullable allows JSON null (nil pointers,
// slices and maps that are not omitted).
func (g *schemaGen) schema(t reflect.Type, nullable bool) map[string]any {
	var s map[string]any
	switch {
	case t == timeType:
		s = timeSchema()
	case t == moneyType:
		s = map[string]any{"type": "number", "description": "US dollars, an exact decimal with at most 10 places"}
	case t.Kind() == reflect.Pointer:
		return g.schema(t.Elem(), nullable)
	case t.Kind() == reflect.String:
		s = strSchema()
	case t.Kind() == reflect.Bool:
		s = map[string]any{"type": "boolean"}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		s = map[string]any{"type": "integer"}
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		s = map[string]any{"type": "number"}
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		s = map[string]any{"type": "array", "items": g.schema(t.Elem(), false)}
	case t.Kind() == reflect.Map:
		s = map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem(), false)}
	case t.Kind() == reflect.Struct:
		return g.ref(t, nullable)
	default:
		return map[string]any{} // any value
	}
	if nullable {
		s["type"] = []any{s["type"], "null"}
	}
	return s
}

// ref registers struct t as a component and returns a reference to it.
func (g *schemaGen) ref(t reflect.Type, nullable bool) map[string]any {
	name, ok := g.names[t]
	if !ok {
		name = capitalize(t.Name())
		if _, taken := g.defs[name]; taken {
			pkg := t.PkgPath()[strings.LastIndex(t.PkgPath(), "/")+1:]
			name = capitalize(pkg) + name
		}
		g.names[t] = name
		g.defs[name] = map[string]any{} // placeholder against recursion
		props := map[string]any{}
		var required []string
		g.fields(t, props, &required)
		// Handlers write exactly these members and the request decoder
		// rejects unknown ones, so objects are closed.
		def := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			sort.Strings(required)
			def["required"] = required
		}
		g.defs[name] = def
	}
	r := map[string]any{"$ref": "#/components/schemas/" + name}
	if nullable {
		return map[string]any{"anyOf": []any{r, map[string]any{"type": "null"}}}
	}
	return r
}

// fields adds t's JSON fields, flattening embedded structs.
func (g *schemaGen) fields(t reflect.Type, props map[string]any, required *[]string) {
	for f := range t.Fields() {
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			g.fields(f.Type, props, required)
			continue
		}
		if name == "" {
			name = f.Name
		}
		omit := strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")
		// nil pointers, slices and maps marshal as null unless omitted;
		// this package and package views never leave them nil, but types
		// from package usage may.
		k := f.Type.Kind()
		nullable := !omit && (k == reflect.Pointer ||
			((k == reflect.Slice || k == reflect.Map) && f.Type.PkgPath() == "" && t.PkgPath() == usagePkg))
		ps := g.schema(f.Type, nullable)
		if enum := f.Tag.Get("enum"); enum != "" {
			ps = map[string]any{"type": "string", "enum": strings.Split(enum, ",")}
		}
		props[name] = ps
		if !omit {
			*required = append(*required, name)
		}
	}
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
