package team

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/httpapi"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// ingestServer returns a handler on a fresh memStore where token
// "ctm_ann" is user ann and "admin" is the admin token.
func ingestServer() (*IngestHandler, *memStore) {
	s := newMemStore()
	s.tokens["ctm_ann"] = "ann"
	h := NewIngestHandler(s, discard, TokenAuth(s, "admin"))
	h.Now = fixedNow
	return h, s
}

// post sends body to h with token and returns the recorder.
func post(h http.Handler, token string, body []byte, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", "/api/v1/ingest", bytes.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	r.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// jsonBody marshals v.
func jsonBody(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// errorOf decodes an error envelope.
func errorOf(t *testing.T, w *httptest.ResponseRecorder) (code, msg string) {
	t.Helper()
	var env httpapi.Envelope
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || env.Success || env.Error == nil {
		t.Fatalf("response %s is not an error envelope (%v)", w.Body, err)
	}
	return env.Error.Code, env.Error.Message
}

func TestIngestStoresBatch(t *testing.T) {
	h, s := ingestServer()
	rs := records("a", 3)
	rs[1].Machine = "other-box"
	w := post(h, "ctm_ann", jsonBody(t, IngestRequest{Machine: "ann-laptop", Records: rs}))
	if w.Code != http.StatusOK {
		t.Fatalf("POST = %d %s, want 200", w.Code, w.Body)
	}
	var env struct {
		Success bool           `json:"success"`
		Data    IngestResponse `json:"data"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || !env.Success || env.Data != (IngestResponse{Accepted: 3, User: "ann"}) {
		t.Fatalf("response = %s (%v), want success with 3 accepted for ann", w.Body, err)
	}
	got := s.all(usage.Filter{})
	if len(got) != 3 {
		t.Fatalf("stored %d records, want 3", len(got))
	}
	for i, r := range got {
		want := rs[i]
		want.User = "ann"
		if i != 1 {
			want.Machine = "ann-laptop"
		}
		if !r.Timestamp.Equal(want.Timestamp) {
			t.Errorf("record %d timestamp = %v, want %v", i, r.Timestamp, want.Timestamp)
		}
		r.Timestamp = want.Timestamp
		if r != want {
			t.Errorf("stored record %d = %+v, want %+v", i, r, want)
		}
	}
	// The same batch again changes nothing.
	post(h, "ctm_ann", jsonBody(t, IngestRequest{Machine: "ann-laptop", Records: rs}))
	if tok, n := s.sum(); n != 3 || tok != sumOf(rs) {
		t.Errorf("after a repeat, totals = %+v over %d records, want %+v over 3", tok, n, sumOf(rs))
	}
}

func TestIngestGzip(t *testing.T) {
	h, s := ingestServer()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(jsonBody(t, IngestRequest{Machine: "m", Records: records("z", 2)}))
	zw.Close()
	if w := post(h, "ctm_ann", buf.Bytes(), "Content-Encoding", "gzip"); w.Code != http.StatusOK {
		t.Fatalf("gzipped POST = %d %s, want 200", w.Code, w.Body)
	}
	if _, n := s.sum(); n != 2 {
		t.Errorf("stored %d records, want 2", n)
	}
	for _, tc := range []struct{ name, enc, body string }{
		{"NotGzip", "gzip", "{}"},
		{"Brotli", "br", "{}"},
	} {
		w := post(h, "ctm_ann", []byte(tc.body), "Content-Encoding", tc.enc)
		if w.Code != http.StatusBadRequest {
			t.Errorf("%s: POST = %d, want 400", tc.name, w.Code)
		}
	}
	truncated := buf.Bytes()[:buf.Len()-6]
	if w := post(h, "ctm_ann", truncated, "Content-Encoding", "gzip"); w.Code != http.StatusBadRequest {
		t.Errorf("truncated gzip: POST = %d, want 400", w.Code)
	}
}

func TestIngestRejectsBadRecordWholeBatch(t *testing.T) {
	now := fixedNow()
	for _, tc := range []struct {
		name   string
		mutate func(r *usage.Record)
		field  string
	}{
		{"EmptyKey", func(r *usage.Record) { r.Key = "" }, "key"},
		{"KeyMismatch", func(r *usage.Record) { r.Key = "msg_x:req_y" }, "key"},
		{"LineKeyWithoutID", func(r *usage.Record) { r.MessageID, r.Key = "", "line:" }, "key"},
		{"KeyNotLine", func(r *usage.Record) { r.MessageID, r.Key = "", "abc" }, "key"},
		{"TelemetryKey", func(r *usage.Record) { r.MessageID, r.Key = "", "otel:req" }, "key"},
		{"LongKey", func(r *usage.Record) { r.MessageID = strings.Repeat("m", 600); r.Key = r.MessageID + ":" + r.RequestID }, "key"},
		{"Control", func(r *usage.Record) { r.Project = "/p/\n" }, "project"},
		{"ControlChar", func(r *usage.Record) { r.GitBranch = "main\x00" }, "git_branch"},
		{"Synthetic", func(r *usage.Record) { r.Model = "<synthetic>" }, "model"},
		{"LongModel", func(r *usage.Record) { r.Model = strings.Repeat("x", 201) }, "model"},
		{"ZeroTime", func(r *usage.Record) { r.Timestamp = time.Time{} }, "timestamp"},
		{"Future", func(r *usage.Record) { r.Timestamp = now.Add(25 * time.Hour) }, "future"},
		{"NegativeInput", func(r *usage.Record) { r.Input = -1 }, "input_tokens"},
		{"HugeOutput", func(r *usage.Record) { r.Output = MaxTokens + 1 }, "output_tokens"},
		{"NegativeCache5m", func(r *usage.Record) { r.CacheCreation5m = -5 }, "cache_creation_5m_tokens"},
		{"NegativeCache1h", func(r *usage.Record) { r.CacheCreation1h = -5 }, "cache_creation_1h_tokens"},
		{"NegativeRead", func(r *usage.Record) { r.CacheRead = -5 }, "cache_read_tokens"},
		{"NegativeSearch", func(r *usage.Record) { r.WebSearchRequests = -1 }, "web_search_requests"},
		{"OtherUser", func(r *usage.Record) { r.User = "bob" }, "user"},
		{"BadMachine", func(r *usage.Record) { r.Machine = " padded" }, "machine"},
		{"LongSession", func(r *usage.Record) { r.SessionID = strings.Repeat("s", 513) }, "session_id"},
		{"LongVersion", func(r *usage.Record) { r.Version = strings.Repeat("1", 201) }, "version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, s := ingestServer()
			rs := records("b", 3)
			tc.mutate(&rs[2])
			w := post(h, "ctm_ann", jsonBody(t, IngestRequest{Machine: "m", Records: rs}))
			if w.Code != http.StatusBadRequest {
				t.Fatalf("POST = %d %s, want 400", w.Code, w.Body)
			}
			code, msg := errorOf(t, w)
			if code != "INVALID_PARAMS" || !strings.Contains(msg, "records[2]") || !strings.Contains(msg, tc.field) {
				t.Errorf("error = %s %q, want INVALID_PARAMS naming records[2] and %s", code, msg, tc.field)
			}
			if _, n := s.sum(); n != 0 || s.applies != 0 {
				t.Errorf("after a rejected batch, %d records stored in %d applies, want none", n, s.applies)
			}
		})
	}
}

func TestIngestRequestErrors(t *testing.T) {
	good := IngestRequest{Machine: "m", Records: records("c", 1)}
	for _, tc := range []struct {
		name   string
		token  string
		method string
		body   string
		status int
		code   string
	}{
		{"NoToken", "", "POST", "{}", 401, "UNAUTHORIZED"},
		{"WrongToken", "ctm_bob", "POST", "{}", 401, "UNAUTHORIZED"},
		{"GET", "ctm_ann", "GET", "", 400, "INVALID_PARAMS"},
		{"NotJSON", "ctm_ann", "POST", "records", 400, "INVALID_PARAMS"},
		{"Empty", "ctm_ann", "POST", "", 400, "INVALID_PARAMS"},
		{"UnknownField", "ctm_ann", "POST", `{"machine":"m","recs":[]}`, 400, "INVALID_PARAMS"},
		{"WrongType", "ctm_ann", "POST", `{"machine":"m","records":[{"input_tokens":"12"}]}`, 400, "INVALID_PARAMS"},
		{"TrailingData", "ctm_ann", "POST", `{"machine":"m"} {}`, 400, "INVALID_PARAMS"},
		{"BadMachine", "ctm_ann", "POST", `{"machine":"a\u0007b"}`, 400, "INVALID_PARAMS"},
		{"BadUTF8", "ctm_ann", "POST", "{\"machine\":\"\xff\"}", 400, "INVALID_PARAMS"},
		{"OtherUser", "ctm_ann", "POST", `{"machine":"m","user":"bob"}`, 403, "FORBIDDEN"},
		{"AdminWithoutUser", "admin", "POST", string(jsonBody(t, good)), 400, "INVALID_PARAMS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, s := ingestServer()
			r := httptest.NewRequest(tc.method, "/api/v1/ingest", strings.NewReader(tc.body))
			if tc.token != "" {
				r.Header.Set("Authorization", "Bearer "+tc.token)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("%s = %d %s, want %d", tc.name, w.Code, w.Body, tc.status)
			}
			if code, _ := errorOf(t, w); code != tc.code {
				t.Errorf("error code = %s, want %s", code, tc.code)
			}
			if _, n := s.sum(); n != 0 {
				t.Errorf("%d records stored, want none", n)
			}
		})
	}
}

func TestIngestTooLarge(t *testing.T) {
	h, _ := ingestServer()
	rs := make([]usage.Record, MaxBatchRecords+1)
	for i := range rs {
		rs[i] = testRecord("big", i%10)
	}
	w := post(h, "ctm_ann", jsonBody(t, IngestRequest{Machine: "m", Records: rs}))
	if code, msg := errorOf(t, w); w.Code != 400 || !strings.Contains(msg, "at most") {
		t.Errorf("oversized batch = %d %s %q, want 400 naming the limit", w.Code, code, msg)
	}
	huge := bytes.Repeat([]byte(" "), MaxBodyBytes+10)
	w = post(h, "ctm_ann", huge)
	if code, msg := errorOf(t, w); w.Code != http.StatusRequestEntityTooLarge || code != "PAYLOAD_TOO_LARGE" || !strings.Contains(msg, "32 MiB") {
		t.Errorf("oversized body = %d %s %q, want 413 naming 32 MiB", w.Code, code, msg)
	}
	// Behind the API server's smaller limit, the message names the limit
	// that was enforced.
	limited := http.MaxBytesHandler(h, 1<<20)
	w = post(limited, "ctm_ann", bytes.Repeat([]byte(" "), 1<<20+10))
	if code, msg := errorOf(t, w); w.Code != http.StatusRequestEntityTooLarge || code != "PAYLOAD_TOO_LARGE" ||
		!strings.Contains(msg, "1 MiB") || strings.Contains(msg, "32") {
		t.Errorf("body over the server's 1 MiB = %d %s %q, want 413 naming 1 MiB", w.Code, code, msg)
	}
}

func TestIngestAdminNamesUser(t *testing.T) {
	h, s := ingestServer()
	w := post(h, "admin", jsonBody(t, IngestRequest{Machine: "ci", User: "carol", Records: records("d", 2)}))
	if w.Code != http.StatusOK {
		t.Fatalf("admin POST = %d %s, want 200", w.Code, w.Body)
	}
	for _, r := range s.all(usage.Filter{}) {
		if r.User != "carol" || r.Machine != "ci" {
			t.Errorf("stored user/machine = %q/%q, want carol/ci", r.User, r.Machine)
		}
	}
}

func TestIngestStoreError(t *testing.T) {
	h, s := ingestServer()
	s.fail = errors.New("disk on fire")
	w := post(h, "ctm_ann", jsonBody(t, IngestRequest{Machine: "m", Records: records("e", 1)}))
	code, msg := errorOf(t, w)
	if w.Code != 500 || code != "INTERNAL_ERROR" || strings.Contains(msg, "fire") {
		t.Errorf("store failure = %d %s %q, want 500 INTERNAL_ERROR without internals", w.Code, code, msg)
	}
}
