package team_test

// End-to-end tests of team mode on PostgreSQL: the push client and the
// handlers over HTTP into the real store. They are skipped without
// CTM_TEST_POSTGRES_DSN. (A test-only import of internal/postgres: the
// team package itself depends on no store.)

import (
	"bytes"
	"context"
	"fmt"
	"github.com/claude-token-monitor/ctm/internal/storetest"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/postgres"
	"github.com/claude-token-monitor/ctm/internal/postgres/pgtest"
	"github.com/claude-token-monitor/ctm/internal/team"
	"github.com/claude-token-monitor/ctm/internal/usage"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
)

// openPostgres opens a store on a fresh schema, or skips the test.
func openPostgres(t *testing.T) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), pgtest.FreshSchema(t), storetest.Prices)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// server mounts the ingest and OTLP handlers of s; wrap may wrap ingest.
func server(t *testing.T, s *postgres.Store, wrap func(http.Handler) http.Handler) *httptest.Server {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	auth := team.TokenAuth(s, "admin-secret")
	var ingest http.Handler = team.NewIngestHandler(s, logger, auth)
	if wrap != nil {
		ingest = wrap(ingest)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /api/v1/ingest", ingest)
	mux.Handle("POST /v1/logs", team.NewOTLPHandler(s, logger, auth))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// source is a push source: records in memory, in timestamp order.
type source []usage.Record

func (s source) Records(_ context.Context, f usage.Filter, p usage.Page) ([]usage.Record, error) {
	var out []usage.Record
	for i := range s {
		if f.Contains(&s[i]) {
			out = append(out, s[i])
		}
	}
	if p.Offset >= len(out) {
		return nil, nil
	}
	out = out[p.Offset:]
	if p.Limit > 0 && p.Limit < len(out) {
		out = out[:p.Limit]
	}
	return out, nil
}

func (s source) Aggregate(_ context.Context, f usage.Filter, _ usage.Dimension) ([]usage.Bucket, error) {
	var b usage.Bucket
	for i := range s {
		if f.Contains(&s[i]) {
			b.Tokens, b.Entries = b.Tokens.Add(s[i].Tokens), b.Entries+1
		}
	}
	return []usage.Bucket{b}, nil
}

func (s source) LatestTimestamp(context.Context) (time.Time, error) {
	if len(s) == 0 {
		return time.Time{}, nil
	}
	return s[len(s)-1].Timestamp, nil
}

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// machineRecords returns n records of one machine, one a second.
func machineRecords(machine, n int) source {
	rs := make(source, n)
	for i := range rs {
		msg, req := fmt.Sprintf("msg_%02d_%05d", machine, i), fmt.Sprintf("req_%02d_%05d", machine, i)
		rs[i] = usage.Record{
			Key: usage.RecordKey(msg, req, ""), MessageID: msg, RequestID: req,
			Timestamp: t0.Add(time.Duration(i) * time.Second), Model: "claude-sonnet-4-5",
			SessionID: fmt.Sprintf("s%d", i%11), Project: "/p/x",
			Tokens: usage.Tokens{Input: int64(i%97 + 1), Output: int64(machine + 1), CacheRead: int64(i % 1000), CacheCreation5m: 3},
		}
	}
	return rs
}

// totals sums the store, per user when user is set.
func totals(t *testing.T, s usage.Store, user string) (usage.Tokens, int64) {
	t.Helper()
	bs, err := s.Aggregate(t.Context(), usage.Filter{User: user}, usage.ByNothing)
	if err != nil {
		t.Fatalf("Aggregate() = %v", err)
	}
	var tok usage.Tokens
	var n int64
	for _, b := range bs {
		tok, n = tok.Add(b.Tokens), n+b.Entries
	}
	return tok, n
}

func sum(rs source) usage.Tokens {
	var t usage.Tokens
	for _, r := range rs {
		t = t.Add(r.Tokens)
	}
	return t
}

func TestConcurrentPushers(t *testing.T) {
	s := openPostgres(t)
	srv := server(t, s, nil)
	const pushers, perPusher = 20, 10_000
	sources := make([]source, pushers)
	tokens := make([]string, pushers)
	var want usage.Tokens
	for i := range pushers {
		sources[i] = machineRecords(i, perPusher)
		want = want.Add(sum(sources[i]))
		var err error
		if tokens[i], err = s.CreateToken(t.Context(), fmt.Sprintf("user%02d", i%5)); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, pushers)
	for i := range pushers {
		wg.Go(func() {
			_, err := team.Push(context.Background(), sources[i], srv.URL, tokens[i],
				team.PushOptions{Machine: fmt.Sprintf("m%02d", i), BatchSize: 2000})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Push() = %v", err)
		}
	}
	got, n := totals(t, s, "")
	if got != want || n != pushers*perPusher {
		t.Errorf("server totals = %+v over %d records, want %+v over %d", got, n, want, pushers*perPusher)
	}
	// Each user holds the records of their four machines.
	for u := range 5 {
		var w usage.Tokens
		for i := u; i < pushers; i += 5 {
			w = w.Add(sum(sources[i]))
		}
		if got, n := totals(t, s, fmt.Sprintf("user%02d", u)); got != w || n != 4*perPusher {
			t.Errorf("user%02d totals = %+v over %d, want %+v over %d", u, got, n, w, 4*perPusher)
		}
	}
}

func TestPushInterruptedOnPostgres(t *testing.T) {
	s := openPostgres(t)
	var mu sync.Mutex
	calls := 0
	srv := server(t, s, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			calls++
			kill := calls == 5 // call 1 checks the token
			mu.Unlock()
			if kill {
				// Store the batch, then drop the connection unanswered.
				next.ServeHTTP(httptest.NewRecorder(), r)
				if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
					conn.Close()
				}
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	tok, _ := s.CreateToken(t.Context(), "ann")
	src := machineRecords(1, 5000)
	opts := team.PushOptions{Machine: "m", BatchSize: 500, Retries: -1}
	if _, err := team.Push(t.Context(), src, srv.URL, tok, opts); err == nil {
		t.Fatalf("Push() through a dropped connection = nil error")
	}
	if _, n := totals(t, s, ""); n != 2000 {
		t.Fatalf("after the interruption, %d records stored, want 2000", n)
	}
	for range 2 {
		if _, err := team.Push(t.Context(), src, srv.URL, tok, opts); err != nil {
			t.Fatalf("repeated Push() = %v", err)
		}
	}
	if got, n := totals(t, s, ""); got != sum(src) || n != 5000 {
		t.Errorf("after repeating, totals = %+v over %d, want exactly %+v over 5000", got, n, sum(src))
	}
	if _, err := team.Push(t.Context(), src, srv.URL, "ctm_wrong", opts); usage.ErrorCode(err) != usage.EUNAUTHORIZED {
		t.Errorf("Push(wrong token) = %v, want EUNAUTHORIZED", err)
	}
}

func TestPushAndTelemetryCountedOnce(t *testing.T) {
	s := openPostgres(t)
	srv := server(t, s, nil)
	tok, _ := s.CreateToken(t.Context(), "ann")

	// The transcript copy of the fixture's first response, as a machine
	// would push it; the telemetry fixture reports it too.
	pushed := usage.Record{
		Key:       usage.RecordKey("msg_01OtlpFixture", "req_011CYfakeOtlpRequest0001", ""),
		MessageID: "msg_01OtlpFixture", RequestID: "req_011CYfakeOtlpRequest0001",
		Timestamp: time.Date(2026, 3, 2, 10, 0, 11, 0, time.UTC), Model: "claude-opus-4-6",
		SessionID: "5b1e3c2a-7d4f-4e8a-9c61-2f0d8a7b6e54", Project: "/home/ann/app", CWD: "/home/ann/app",
		Tokens: usage.Tokens{Input: 1200, Output: 350, CacheRead: 45000, CacheCreation1h: 2048},
	}
	js, err := os.ReadFile("testdata/otlp_logs.json")
	if err != nil {
		t.Fatal(err)
	}
	var data logspb.LogsData
	if err := protojson.Unmarshal(js, &data); err != nil {
		t.Fatal(err)
	}
	pb, _ := proto.Marshal(&data)
	sendOTLP := func() {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/v1/logs", bytesReader(pb))
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("POST /v1/logs = %v, %v; want 200", resp, err)
		}
		resp.Body.Close()
	}
	push := func() {
		t.Helper()
		if _, err := team.Push(t.Context(), source{pushed}, srv.URL, tok, team.PushOptions{Machine: "laptop"}); err != nil {
			t.Fatalf("Push() = %v", err)
		}
	}
	// Both orders, each twice: telemetry then push, push then telemetry.
	sendOTLP()
	push()
	sendOTLP()
	push()
	got, n := totals(t, s, "ann")
	// Two responses: the shared one once (the transcript copy, with its
	// 1-hour cache split) and the telemetry-only haiku one.
	want := pushed.Tokens.Add(usage.Tokens{Input: 800, Output: 40, CacheCreation5m: 16})
	if n != 2 || got != want {
		t.Errorf("totals = %+v over %d records, want %+v over 2", got, n, want)
	}
	rs, err := s.Records(t.Context(), usage.Filter{Model: "claude-opus-4-6"}, usage.Page{})
	if err != nil || len(rs) != 1 || rs[0].Key != pushed.Key || rs[0].Project != "/home/ann/app" || rs[0].Machine != "laptop" {
		t.Errorf("the shared response is stored as %+v (%v), want the pushed transcript copy", rs, err)
	}
	users, err := s.Users(t.Context())
	if err != nil || len(users) != 1 || users[0].User != "ann" || users[0].Entries != 2 || users[0].TokenCount != 1 {
		t.Errorf("Users() = %+v, %v; want ann with 2 records and 1 token", users, err)
	}
}

// bytesReader returns a fresh reader over b.
func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func TestPushCannotTakeOverAnotherUsersRecord(t *testing.T) {
	s := openPostgres(t)
	srv := server(t, s, nil)
	aliceTok, _ := s.CreateToken(t.Context(), "alice")
	bobTok, _ := s.CreateToken(t.Context(), "bob")
	rec := machineRecords(1, 1)[0]
	if _, err := team.Push(t.Context(), source{rec}, srv.URL, aliceTok, team.PushOptions{Machine: "a"}); err != nil {
		t.Fatalf("alice Push() = %v", err)
	}
	// Bob pushes Alice's key with far more output, with his own token.
	forged := rec
	forged.Output = 1_000_000
	if _, err := team.Push(t.Context(), source{forged}, srv.URL, bobTok, team.PushOptions{Machine: "b"}); err != nil {
		t.Fatalf("bob Push() = %v", err)
	}
	rs, err := s.Records(t.Context(), usage.Filter{}, usage.Page{})
	if err != nil || len(rs) != 1 || rs[0].User != "alice" || rs[0].Output != rec.Output {
		t.Errorf("records = %+v, %v; want alice's record unchanged", rs, err)
	}
	if _, n := totals(t, s, "bob"); n != 0 {
		t.Errorf("bob has %d records, want 0", n)
	}
}
