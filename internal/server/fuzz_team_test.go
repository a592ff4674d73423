package server_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/claude-token-monitor/ctm/internal/postgres"
	"github.com/claude-token-monitor/ctm/internal/postgres/pgtest"
	"github.com/claude-token-monitor/ctm/internal/server"
	"github.com/claude-token-monitor/ctm/internal/storetest"
)

// FuzzTeamRoutes is FuzzRouter for the two team routes, which need a team
// store (PostgreSQL): random bodies, media types, encodings and tokens
// must get an answer below 500, of bounded size, without a panic.
func FuzzTeamRoutes(f *testing.F) {
	ctx := context.Background()
	st, err := postgres.Open(ctx, pgtest.FreshSchema(f), storetest.Prices)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = st.Close() })
	push, err := st.CreateToken(ctx, "alice")
	if err != nil {
		f.Fatal(err)
	}
	s, err := server.New(server.Options{Store: st, Pricer: storetest.Prices, AuthToken: "secret", Team: true,
		WebSocket: &server.HubOptions{}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close(ctx) })
	h := s.Handler()
	paths := []string{"/api/v1/ingest", "/v1/logs"}
	tokens := []string{"", "secret", push, "wrong"}
	types := []string{"application/json", "application/x-protobuf", "text/plain", ""}
	encodings := []string{"", "gzip", "br"}
	record := `{"key":"m1:r1","message_id":"m1","request_id":"r1","timestamp":"2026-01-02T03:04:05Z","model":"claude-sonnet-4-5",` +
		`"session_id":"s1","project":"/p","input_tokens":1,"output_tokens":2}`
	bodies := []string{
		"",
		"{}",
		`{"records":[]}`,
		`{"machine":"m","records":[` + record + `]}`,
		`{"user":"bob","machine":"m","records":[` + record + `]}`,
		`{"machine":"m\u0000","records":[` + record + `]}`,
		`{"records":[{"key":"k\u0000","timestamp":"0001-01-01T00:00:00Z","model":"\ud800","input_tokens":-1}]}`,
		`{"records":[{"key":"k2","timestamp":"9999-12-31T23:59:59Z","input_tokens":9223372036854775807,"output_tokens":9223372036854775807}]}`,
		`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":[{"key":"event.name","value":{"stringValue":"api_request"}}]}]}]}]}`,
		"\x1f\x8b\x08\x00garbage",
		"\x0a\x05\x12\x03\x12\x01\x00",
	}
	// The team package's real OTLP exports, JSON and protobuf.
	for _, name := range []string{"otlp_logs.json", "otlp_logs.pb"} {
		b, err := os.ReadFile(filepath.Join("..", "team", "testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		bodies = append(bodies, string(b))
	}
	for pi := range paths {
		for ti := range tokens {
			for bi, b := range bodies {
				f.Add(uint8(pi), uint8(ti), uint8(bi%len(types)), uint8(bi%len(encodings)), []byte(b))
			}
		}
	}
	f.Fuzz(func(t *testing.T, pi, ti, ci, ei uint8, body []byte) {
		path := paths[int(pi)%len(paths)]
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1"+path, bytes.NewReader(body))
		if tok := tokens[int(ti)%len(tokens)]; tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		if ct := types[int(ci)%len(types)]; ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if enc := encodings[int(ei)%len(encodings)]; enc != "" {
			req.Header.Set("Content-Encoding", enc)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("POST %s (%s, %q) = %d: %s", path, req.Header, body, rec.Code, rec.Body.Bytes())
		}
		if n := rec.Body.Len(); n > maxFuzzResponse {
			t.Fatalf("POST %s = %d bytes, over %d", path, n, maxFuzzResponse)
		}
	})
}
