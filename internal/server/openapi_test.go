package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/ingest"
)

// validator checks JSON values against the subset of JSON Schema the
// OpenAPI document uses: type (or a list of types), properties, required,
// items, additionalProperties, enum, anyOf and $ref to components.
type validator struct {
	schemas map[string]any
}

func (v *validator) validate(path string, schema map[string]any, value any) []string {
	if ref, ok := schema["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		target, ok := v.schemas[name].(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: unresolved $ref %s", path, ref)}
		}
		return v.validate(path, target, value)
	}
	if anyOf, ok := schema["anyOf"].([]any); ok {
		for _, alt := range anyOf {
			if len(v.validate(path, alt.(map[string]any), value)) == 0 {
				return nil
			}
		}
		return []string{fmt.Sprintf("%s: %v matches no anyOf alternative", path, value)}
	}
	var errs []string
	if t, ok := schema["type"]; ok {
		var types []string
		switch t := t.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, x := range t {
				types = append(types, x.(string))
			}
		}
		if !slices.ContainsFunc(types, func(t string) bool { return hasType(t, value) }) {
			return []string{fmt.Sprintf("%s: %s is not of type %v", path, short(value), types)}
		}
	}
	if enum, ok := schema["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return e == value }) {
		errs = append(errs, fmt.Sprintf("%s: %v is not in enum %v", path, value, enum))
	}
	switch value := value.(type) {
	case map[string]any:
		for _, r := range asStrings(schema["required"]) {
			if _, ok := value[r]; !ok {
				errs = append(errs, fmt.Sprintf("%s: required property %q missing", path, r))
			}
		}
		props, _ := schema["properties"].(map[string]any)
		extra, _ := schema["additionalProperties"].(map[string]any)
		closed := schema["additionalProperties"] == false
		for k, item := range value {
			switch {
			case props[k] != nil:
				errs = append(errs, v.validate(path+"."+k, props[k].(map[string]any), item)...)
			case extra != nil:
				errs = append(errs, v.validate(path+"."+k, extra, item)...)
			case closed:
				errs = append(errs, fmt.Sprintf("%s: property %q is not in the schema", path, k))
			}
		}
	case []any:
		if items, ok := schema["items"].(map[string]any); ok {
			for i, item := range value {
				errs = append(errs, v.validate(path+"["+strconv.Itoa(i)+"]", items, item)...)
			}
		}
	}
	return errs
}

func hasType(t string, v any) bool {
	switch t {
	case "null":
		return v == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == float64(int64(f))
	case "array":
		_, ok := v.([]any)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	}
	return false
}

func asStrings(v any) []string {
	var out []string
	if list, ok := v.([]any); ok {
		for _, x := range list {
			out = append(out, x.(string))
		}
	}
	return out
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 80 {
		b = append(b[:80], "..."...)
	}
	return string(b)
}

func TestValidatorRejects(t *testing.T) {
	// The validator must be able to fail, or the OpenAPI test proves
	// nothing.
	v := &validator{schemas: map[string]any{"T": map[string]any{
		"type": "object", "required": []any{"a"}, "additionalProperties": false,
		"properties": map[string]any{
			"a": map[string]any{"type": "integer"},
			"b": map[string]any{"type": "array", "items": map[string]any{"type": "string", "enum": []any{"x"}}},
			"c": map[string]any{"type": []any{"string", "null"}},
		},
	}}}
	ref := map[string]any{"$ref": "#/components/schemas/T"}
	for _, tc := range []struct {
		doc  string
		errs int
	}{
		{`{"a":1,"b":["x"],"c":null}`, 0},
		{`{"a":1.5}`, 1},
		{`{"b":[]}`, 1},
		{`{"a":1,"b":["y"]}`, 1},
		{`{"a":1,"c":3}`, 1},
		{`{"a":1,"d":3}`, 1},
		{`[]`, 1},
	} {
		var val any
		_ = json.Unmarshal([]byte(tc.doc), &val)
		if errs := v.validate("$", ref, val); len(errs) != tc.errs {
			t.Errorf("validate(%s) = %v, want %d errors", tc.doc, errs, tc.errs)
		}
	}
}

func TestOpenAPI(t *testing.T) {
	reader := ingest.NewStatsCacheReader(filepath.Join(corpusRoot, "stats-cache.json"))
	s := newServer(t, func(o *options) { o.StatsCache = reader; o.WebSocket = &hubOptions{} })
	t.Cleanup(s.Hub().Close)
	h := s.Handler()
	r := do(t, h, http.MethodGet, "/api/v1/openapi.json", nil)
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q", doc.OpenAPI)
	}
	v := &validator{schemas: doc.Components.Schemas}
	// At blockNow the corpus has an active block; a plan makes its limit
	// status non-null.
	blockNow := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	active := newServer(t, func(o *options) {
		o.Now = func() time.Time { return blockNow }
		o.Limits = mustLimits(t, "max5", 0, 0)
	}).Handler()
	// One real request per documented operation, including error cases.
	requests := []struct {
		method, target, body string
		h                    http.Handler // nil for h
	}{
		{"GET", "/api/v1/health", "", nil},
		{"GET", "/api/v1/stats", "", nil},
		{"GET", "/api/v1/stats/models?period=all", "", nil},
		{"GET", "/api/v1/stats/daily?start_date=2026-01-01&end_date=2026-01-07", "", nil},
		{"GET", "/api/v1/stats/trends?period=all&granularity=week", "", nil},
		{"GET", "/api/v1/stats/trends?metrics=cost", "", nil},
		{"GET", "/api/v1/stats/history?start_time=2000-01-01T00:00:00Z", "", nil},
		{"GET", "/api/v1/stats/activity?period=all", "", nil},
		{"GET", "/api/v1/stats/activity?period=7d", "", nil},
		{"GET", "/api/v1/stats/activity?start_date=2026-02-01&end_date=2026-02-28", "", nil},
		{"GET", "/api/v1/stats/cache", "", nil},
		{"GET", "/api/v1/sessions", "", nil},
		{"GET", "/api/v1/sessions/132b2f66-ee5f-46f6-8904-32d9dc4d36c3", "", nil},
		{"GET", "/api/v1/sessions/missing", "", nil},
		{"GET", "/api/v1/projects", "", nil},
		{"GET", "/api/v1/export?format=json&breakdown=model&start_date=2026-01-01&end_date=2026-03-01", "", nil},
		{"POST", "/api/v1/export", `{"format":"json","fields":["date","cost_usd"]}`, nil},
		{"POST", "/api/v1/export", `{"format":"json","bogus":1}`, nil},
		{"GET", "/api/v1/config", "", nil},
		{"GET", "/api/v1/blocks", "", nil},
		{"GET", "/api/v1/blocks?recent=true&start_date=2026-02-01", "", active},
		{"GET", "/api/v1/blocks?active=maybe", "", nil},
		{"GET", "/api/v1/blocks/active", "", nil},
		{"GET", "/api/v1/blocks/active", "", active},
		{"GET", "/api/v1/users", "", nil},
		{"GET", "/api/v1/stats?user=%20bad", "", nil},
		{"GET", "/api/v1/breakdown?by=branch", "", nil},
		{"GET", "/api/v1/breakdown?by=agent&since=2026-02-01&until=2026-02-28", "", nil},
		{"GET", "/api/v1/breakdown?by=colour", "", nil},
		{"GET", "/api/v1/breakdown?by=skill&project=no-such-project", "", nil},
		{"GET", "/api/v1/prompts?top=5", "", nil},
		{"GET", "/api/v1/prompts?session=132b2f66-ee5f-46f6-8904-32d9dc4d36c3&sort=time&top=10000", "", nil},
		{"GET", "/api/v1/prompts?top=0", "", nil},
	}
	covered := map[string]bool{}
	for _, req := range requests {
		rh := h
		if req.h != nil {
			rh = req.h
		}
		res := do(t, rh, req.method, req.target, strings.NewReader(req.body))
		path, _, _ := strings.Cut(req.target, "?")
		if strings.HasPrefix(path, "/api/v1/sessions/") {
			path = "/api/v1/sessions/{id}"
		}
		op := doc.Paths[path][strings.ToLower(req.method)]
		if op == nil {
			t.Errorf("%s %s is not documented", req.method, path)
			continue
		}
		covered[req.method+" "+path] = true
		resp, _ := op["responses"].(map[string]any)[strconv.Itoa(res.Code)].(map[string]any)
		if resp == nil {
			t.Errorf("%s %s: status %d is not documented", req.method, req.target, res.Code)
			continue
		}
		schema := resp["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)
		var val any
		if err := json.Unmarshal(res.Body, &val); err != nil {
			t.Fatalf("%s %s: %v", req.method, req.target, err)
		}
		for _, e := range v.validate("$", schema, val) {
			t.Errorf("%s %s (%d): %s", req.method, req.target, res.Code, e)
		}
	}
	// Every documented operation was exercised (besides the document
	// itself and metrics) and is actually routed.
	for path, ops := range doc.Paths {
		for method := range ops {
			key := strings.ToUpper(method) + " " + path
			if path == "/api/v1/openapi.json" || path == "/metrics" || path == "/api/v1/ws" {
				continue // not JSON; the WebSocket is checked below
			}
			if !covered[key] {
				t.Errorf("%s is documented but not validated", key)
			}
		}
	}
	if len(doc.Paths) != 21 {
		t.Errorf("documented paths = %d, want 21", len(doc.Paths))
	}
	// The WebSocket feed is part of the API: its upgrade and messages.
	ws := doc.Paths["/api/v1/ws"]["get"]
	if ws == nil {
		t.Fatal("GET /api/v1/ws is not documented")
	}
	if _, ok := ws["responses"].(map[string]any)["101"]; !ok {
		t.Errorf("GET /api/v1/ws documents no 101 Switching Protocols: %v", ws["responses"])
	}
	for _, msg := range []string{"connected", "stats_update", "heartbeat", "block_update", "alert", "ping", "pong"} {
		if !strings.Contains(ws["summary"].(string), msg) {
			t.Errorf("GET /api/v1/ws summary does not name the %s message", msg)
		}
	}
	// The request body schema rejects unknown members, like the handler.
	body := doc.Paths["/api/v1/export"]["post"]["requestBody"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)
	var bad any
	_ = json.Unmarshal([]byte(`{"format":"json","include_models":true}`), &bad)
	if errs := v.validate("$", body, bad); len(errs) == 0 {
		t.Errorf("request schema accepts an unknown member")
	}
}
