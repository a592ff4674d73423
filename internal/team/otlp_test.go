package team

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// otlpServer returns an OTLP handler on a fresh memStore; "ctm_ann" is
// user ann and "admin" the admin token.
func otlpServer() (*OTLPHandler, *memStore) {
	s := newMemStore()
	s.tokens["ctm_ann"] = "ann"
	h := NewOTLPHandler(s, discard, TokenAuth(s, "admin"))
	h.Now = fixedNow
	return h, s
}

// sendOTLP posts body with the content type and token.
func sendOTLP(h http.Handler, contentType, token string, body []byte, gz bool) *httptest.ResponseRecorder {
	if gz {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(body)
		zw.Close()
		body = buf.Bytes()
	}
	r := httptest.NewRequest("POST", OTLPLogsPath, bytes.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	if gz {
		r.Header.Set("Content-Encoding", "gzip")
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// fixtureRecords are the records the testdata fixtures hold, checked by
// hand against the JSON: two api_request events; the prompt and tool
// events are not usage.
func fixtureRecords(user1, user2 string) []usage.Record {
	return []usage.Record{
		{
			Key:       "otel:req_011CYfakeOtlpRequest0001",
			RequestID: "req_011CYfakeOtlpRequest0001",
			Timestamp: time.Date(2026, 3, 2, 10, 0, 12, 345_000_000, time.UTC),
			Model:     "claude-opus-4-6",
			SessionID: "5b1e3c2a-7d4f-4e8a-9c61-2f0d8a7b6e54",
			Version:   "2.1.50",
			User:      user1,
			Tokens:    usage.Tokens{Input: 1200, Output: 350, CacheRead: 45000, CacheCreation5m: 2048},
		},
		{
			Key:       "otel:req_011CYfakeOtlpRequest0002",
			RequestID: "req_011CYfakeOtlpRequest0002",
			// No event.timestamp: the log record's time.
			Timestamp: time.Unix(0, 1772445620500000000).UTC(),
			Model:     "claude-haiku-4-5-20251001",
			SessionID: "5b1e3c2a-7d4f-4e8a-9c61-2f0d8a7b6e54",
			Version:   "2.1.50",
			User:      user2,
			Tokens:    usage.Tokens{Input: 800, Output: 40, CacheCreation5m: 16},
		},
	}
}

// checkStored compares the store's records with want.
func checkStored(t *testing.T, s *memStore, want []usage.Record) {
	t.Helper()
	got := s.all(usage.Filter{})
	if len(got) != len(want) {
		t.Fatalf("stored %d records %+v, want %d", len(got), got, len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("record %d =\n%+v\nwant\n%+v", i, got[i], want[i])
		}
	}
}

func TestOTLPFixtures(t *testing.T) {
	for _, tc := range []struct {
		name, file, contentType string
		gzip                    bool
		token                   string
		want                    []usage.Record
	}{
		{"JSON", "otlp_logs.json", "application/json", false, "admin",
			fixtureRecords("ann@example.com", "0d6c1b1e-9f7a-4c55-8f1e-3b2a1c0d9e8f")},
		{"JSONGzip", "otlp_logs.json", "application/json; charset=utf-8", true, "admin",
			fixtureRecords("ann@example.com", "0d6c1b1e-9f7a-4c55-8f1e-3b2a1c0d9e8f")},
		{"Protobuf", "otlp_logs.pb", "application/x-protobuf", false, "admin",
			fixtureRecords("ann@example.com", "0d6c1b1e-9f7a-4c55-8f1e-3b2a1c0d9e8f")},
		{"ProtobufGzipUserToken", "otlp_logs.pb", "application/x-protobuf", true, "ctm_ann",
			fixtureRecords("ann", "ann")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, err := os.ReadFile("testdata/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			h, s := otlpServer()
			w := sendOTLP(h, tc.contentType, tc.token, body, tc.gzip)
			if w.Code != http.StatusOK {
				t.Fatalf("POST /v1/logs = %d %s, want 200", w.Code, w.Body)
			}
			if strings.HasPrefix(tc.contentType, "application/json") && strings.TrimSpace(w.Body.String()) != "{}" {
				t.Errorf("JSON response = %q, want {}", w.Body)
			}
			checkStored(t, s, tc.want)
			// An exporter retry of the same request stores nothing new.
			sendOTLP(h, tc.contentType, tc.token, body, tc.gzip)
			checkStored(t, s, tc.want)
		})
	}
}

// event builds an api_request log record with the given attributes.
func event(attrs map[string]*commonpb.AnyValue) *logspb.LogRecord {
	lr := &logspb.LogRecord{
		TimeUnixNano: uint64(t0.UnixNano()),
		Body:         &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: apiRequestEvent}},
	}
	for k, v := range attrs {
		lr.Attributes = append(lr.Attributes, &commonpb.KeyValue{Key: k, Value: v})
	}
	return lr
}

func sv(s string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
}
func iv(i int64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: i}}
}
func dv(f float64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: f}}
}
func bv(b bool) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: b}}
}

// logsOf wraps log records in a request.
func logsOf(lrs ...*logspb.LogRecord) *logspb.LogsData {
	return &logspb.LogsData{ResourceLogs: []*logspb.ResourceLogs{{
		ScopeLogs: []*logspb.ScopeLogs{{LogRecords: lrs}},
	}}}
}

// goodAttrs returns a valid event's attributes.
func goodAttrs() map[string]*commonpb.AnyValue {
	return map[string]*commonpb.AnyValue{
		"model": sv("claude-sonnet-4-5"), "request_id": sv("req_ok"), "session.id": sv("s1"),
		"input_tokens": iv(5), "output_tokens": sv("7"), "cache_read_tokens": dv(3),
		"cache_creation_tokens": iv(0), "event.timestamp": sv("2026-03-02T10:00:00Z"),
	}
}

func TestOTLPMalformed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(a map[string]*commonpb.AnyValue)
		want   string
	}{
		{"NegativeTokens", func(a map[string]*commonpb.AnyValue) { a["input_tokens"] = iv(-1) }, "input_tokens"},
		{"FractionalTokens", func(a map[string]*commonpb.AnyValue) { a["output_tokens"] = dv(1.5) }, "output_tokens"},
		{"TextTokens", func(a map[string]*commonpb.AnyValue) { a["cache_read_tokens"] = sv("many") }, "cache_read_tokens"},
		{"BoolTokens", func(a map[string]*commonpb.AnyValue) { a["cache_creation_tokens"] = bv(true) }, "cache_creation_tokens"},
		{"HugeTokens", func(a map[string]*commonpb.AnyValue) { a["input_tokens"] = iv(MaxTokens + 1) }, "input_tokens"},
		{"NoModel", func(a map[string]*commonpb.AnyValue) { delete(a, "model") }, "model"},
		{"ModelNotString", func(a map[string]*commonpb.AnyValue) { a["model"] = bv(false) }, "model"},
		{"BadTimestamp", func(a map[string]*commonpb.AnyValue) { a["event.timestamp"] = sv("yesterday") }, "event.timestamp"},
		{"FutureTimestamp", func(a map[string]*commonpb.AnyValue) { a["event.timestamp"] = sv("2030-01-01T00:00:00Z") }, "future"},
		{"BadUser", func(a map[string]*commonpb.AnyValue) { a["user.email"] = sv("a\tb") }, "user"},
		{"ControlInSession", func(a map[string]*commonpb.AnyValue) { a["session.id"] = sv("s\n1") }, "session_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := goodAttrs()
			tc.mutate(bad)
			bad["request_id"] = sv("req_bad")
			// A good event first: it must not be stored either.
			body, err := proto.Marshal(logsOf(event(goodAttrs()), event(bad)))
			if err != nil {
				t.Fatal(err)
			}
			h, s := otlpServer()
			w := sendOTLP(h, "application/x-protobuf", "admin", body, false)
			if w.Code != http.StatusBadRequest {
				t.Fatalf("POST = %d, want 400", w.Code)
			}
			code, msg := decodeStatus(t, w.Body.Bytes())
			if code != 3 || !strings.Contains(msg, "logRecords[1]") || !strings.Contains(msg, tc.want) {
				t.Errorf("status = %d %q, want 3 naming logRecords[1] and %s", code, msg, tc.want)
			}
			if _, n := s.sum(); n != 0 {
				t.Errorf("%d records stored after a malformed request, want none", n)
			}
		})
	}
}

// decodeStatus decodes a protobuf google.rpc.Status.
func decodeStatus(t *testing.T, b []byte) (code int, msg string) {
	t.Helper()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("bad status tag")
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			code, b = int(v), b[n:]
		case num == 2 && typ == protowire.BytesType:
			v, n := protowire.ConsumeString(b)
			msg, b = v, b[n:]
		default:
			t.Fatalf("unexpected status field %d", num)
		}
	}
	return code, msg
}

func TestOTLPRequestErrors(t *testing.T) {
	good, _ := proto.Marshal(logsOf(event(goodAttrs())))
	for _, tc := range []struct {
		name, contentType, token, body string
		status                         int
	}{
		{"NotProtobuf", "application/x-protobuf", "admin", "\xff\xff\xff", 400},
		{"NotJSON", "application/json", "admin", "{resourceLogs", 400},
		{"WrongJSONType", "application/json", "admin", `{"resourceLogs": 5}`, 400},
		{"TextPlain", "text/plain", "admin", "hi", 415},
		{"NoToken", "application/x-protobuf", "", string(good), 401},
		{"WrongToken", "application/json", "ctm_bob", "{}", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, s := otlpServer()
			w := sendOTLP(h, tc.contentType, tc.token, []byte(tc.body), false)
			if w.Code != tc.status {
				t.Fatalf("POST = %d %s, want %d", w.Code, w.Body, tc.status)
			}
			if _, n := s.sum(); n != 0 {
				t.Errorf("%d records stored, want none", n)
			}
		})
	}
	h, _ := otlpServer()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", OTLPLogsPath, nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET = %d, want 405", w.Code)
	}
}

func TestOTLPEventVariants(t *testing.T) {
	// event_name field, event.name attribute without body, a request
	// without request id (keyed by session, time and sequence), and
	// other events, which are ignored.
	a := goodAttrs()
	a["request_id"] = sv("req_named")
	named := event(a)
	named.Body, named.EventName = nil, apiRequestEvent

	b := goodAttrs()
	b["request_id"] = sv("req_attr")
	b["event.name"] = sv("api_request")
	byAttr := event(b)
	byAttr.Body = nil

	c := goodAttrs()
	delete(c, "request_id")
	delete(c, "event.timestamp")
	c["event.sequence"] = iv(7)
	c["host.name"] = sv("build-box")
	noID := event(c)
	noID.TimeUnixNano, noID.ObservedTimeUnixNano = 0, uint64(t0.Add(time.Second).UnixNano())

	other := event(goodAttrs())
	other.Body = sv("claude_code.api_error")

	h, s := otlpServer()
	body, _ := proto.Marshal(logsOf(named, byAttr, noID, other))
	if w := sendOTLP(h, "application/x-protobuf", "ctm_ann", body, false); w.Code != 200 {
		t.Fatalf("POST = %d %s, want 200", w.Code, w.Body)
	}
	got := s.all(usage.Filter{})
	keys := map[string]usage.Record{}
	for _, r := range got {
		keys[r.Key] = r
	}
	wantNoID := "otel:s1:" + itoa(int(t0.Add(time.Second).UnixNano())) + ":7"
	if len(got) != 3 || keys["otel:req_named"].Key == "" || keys["otel:req_attr"].Key == "" || keys[wantNoID].Key == "" {
		t.Fatalf("stored keys %v, want otel:req_named, otel:req_attr and %s", keys, wantNoID)
	}
	if r := keys[wantNoID]; r.Machine != "build-box" || !r.Timestamp.Equal(t0.Add(time.Second)) || r.User != "ann" {
		t.Errorf("record without request id = %+v, want machine build-box, observed time, user ann", r)
	}
	if r := keys["otel:req_named"]; r.Tokens != (usage.Tokens{Input: 5, Output: 7, CacheRead: 3}) {
		t.Errorf("tokens = %+v, want input 5, output 7, cache read 3", r.Tokens)
	}

	// No time at all is malformed.
	d := goodAttrs()
	delete(d, "event.timestamp")
	untimed := event(d)
	untimed.TimeUnixNano = 0
	body, _ = proto.Marshal(logsOf(untimed))
	if w := sendOTLP(h, "application/x-protobuf", "ctm_ann", body, false); w.Code != 400 {
		t.Errorf("event without a time = %d, want 400", w.Code)
	}
}

func TestOTLPStoreError(t *testing.T) {
	h, s := otlpServer()
	s.fail = usage.Errorf(usage.EINTERNAL, "boom")
	body, _ := proto.Marshal(logsOf(event(goodAttrs())))
	if w := sendOTLP(h, "application/json", "admin", []byte(`{"resourceLogs":[]}`), false); w.Code != 200 {
		t.Errorf("empty request = %d, want 200 without touching the store", w.Code)
	}
	if w := sendOTLP(h, "application/x-protobuf", "admin", body, false); w.Code != 500 {
		t.Errorf("store failure = %d, want 500", w.Code)
	}
}
