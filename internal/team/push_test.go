package team

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// teamServer serves the ingest route of dest on an httptest server; wrap,
// when set, wraps the handler.
func teamServer(t *testing.T, dest Applier, users TokenResolver, wrap func(http.Handler) http.Handler) *httptest.Server {
	t.Helper()
	h := NewIngestHandler(dest, discard, TokenAuth(users, "admin"))
	h.Now = fixedNow
	mux := http.NewServeMux()
	var handler http.Handler = h
	if wrap != nil {
		handler = wrap(h)
	}
	mux.Handle("POST /api/v1/ingest", handler)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// localStore returns a memStore holding rs.
func localStore(t *testing.T, rs []usage.Record) *memStore {
	t.Helper()
	s := newMemStore()
	mustApply(t, s, rs)
	return s
}

func TestPushAll(t *testing.T) {
	dest := newMemStore()
	dest.tokens["ctm_ann"] = "ann"
	srv := teamServer(t, dest, dest, nil)
	rs := records("p", 2500)
	src := localStore(t, rs)

	res, err := Push(t.Context(), src, srv.URL, "ctm_ann", PushOptions{Machine: "laptop"})
	if err != nil {
		t.Fatalf("Push() = %v", err)
	}
	if res.Sent != 2500 || res.Batches != 3 || !res.Full {
		t.Errorf("Push() = %+v, want 2500 sent in 3 full batches", res)
	}
	if tok, n := dest.sum(); n != 2500 || tok != sumOf(rs) {
		t.Errorf("server totals = %+v over %d, want %+v over 2500", tok, n, sumOf(rs))
	}
	for _, r := range dest.all(usage.Filter{}) {
		if r.User != "ann" || r.Machine != "laptop" {
			t.Fatalf("stored user/machine %q/%q, want ann/laptop", r.User, r.Machine)
		}
	}
	// A repeat changes nothing.
	if _, err := Push(t.Context(), src, srv.URL+"/api/v1/", "ctm_ann", PushOptions{Machine: "laptop"}); err != nil {
		t.Fatalf("second Push() = %v", err)
	}
	if tok, n := dest.sum(); n != 2500 || tok != sumOf(rs) {
		t.Errorf("after a repeat, server totals = %+v over %d, want %+v over 2500", tok, n, sumOf(rs))
	}
}

func TestPushInterrupted(t *testing.T) {
	dest := newMemStore()
	dest.tokens["ctm_ann"] = "ann"
	// The server stores the third batch and then drops the connection
	// without answering: the worst case, where the client cannot know
	// whether the batch arrived.
	var calls, kills atomic.Int32
	srv := teamServer(t, dest, dest, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := calls.Add(1)
			if n == 4 && kills.Load() == 0 { // call 1 is the token check
				kills.Add(1)
				next.ServeHTTP(httptest.NewRecorder(), r)
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					conn.Close()
				}
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	rs := records("i", 1000)
	src := localStore(t, rs)
	opts := PushOptions{Machine: "m", BatchSize: 100, Retries: -1}
	res, err := Push(t.Context(), src, srv.URL, "ctm_ann", opts)
	if err == nil {
		t.Fatalf("Push() through a dropped connection = %+v, nil error; want an error", res)
	}
	if _, n := dest.sum(); n != 300 {
		t.Fatalf("after the interruption the server holds %d records, want 300 (3 batches)", n)
	}
	if _, err := Push(t.Context(), src, srv.URL, "ctm_ann", opts); err != nil {
		t.Fatalf("repeated Push() = %v", err)
	}
	if tok, n := dest.sum(); n != 1000 || tok != sumOf(rs) {
		t.Errorf("after the repeat, server totals = %+v over %d, want exactly %+v over 1000", tok, n, sumOf(rs))
	}

	// With retries on, the same fault is absorbed within one push.
	dest2 := newMemStore()
	dest2.tokens["ctm_ann"] = "ann"
	calls.Store(0)
	kills.Store(0)
	srv2 := teamServer(t, dest2, dest2, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 2 {
				conn, _, _ := http.NewResponseController(w).Hijack()
				conn.Close()
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	if _, err := Push(t.Context(), src, srv2.URL, "ctm_ann", PushOptions{Machine: "m", BatchSize: 100}); err != nil {
		t.Fatalf("Push() with retries = %v", err)
	}
	if tok, n := dest2.sum(); n != 1000 || tok != sumOf(rs) {
		t.Errorf("with retries, server totals = %+v over %d, want %+v over 1000", tok, n, sumOf(rs))
	}
}

func TestPushRefused(t *testing.T) {
	dest := newMemStore()
	dest.tokens["ctm_ann"] = "ann"
	srv := teamServer(t, dest, dest, nil)
	src := localStore(t, records("r", 10))
	_, err := Push(t.Context(), src, srv.URL, "ctm_wrong", PushOptions{})
	if usage.ErrorCode(err) != usage.EUNAUTHORIZED || !strings.Contains(err.Error(), "refused the token") {
		t.Errorf("Push(wrong token) = %v, want EUNAUTHORIZED saying the token was refused", err)
	}
	if _, n := dest.sum(); n != 0 {
		t.Errorf("a refused push stored %d records", n)
	}
	// A path that is no ingest route.
	_, err = Push(t.Context(), src, srv.URL, "ctm_ann", PushOptions{APIPrefix: "/nope"})
	if usage.ErrorCode(err) != usage.EINVALID || !strings.Contains(err.Error(), "no ingest route") {
		t.Errorf("Push(wrong prefix) = %v, want EINVALID naming the missing route", err)
	}
	for _, tc := range []struct{ url, token string }{
		{"ftp://x", "t"}, {"::", "t"}, {srv.URL, ""}, {"http://", "t"},
	} {
		if _, err := Push(t.Context(), src, tc.url, tc.token, PushOptions{}); usage.ErrorCode(err) != usage.EINVALID {
			t.Errorf("Push(%q, %q) = %v, want EINVALID", tc.url, tc.token, err)
		}
	}
	if _, err := Push(t.Context(), src, srv.URL, "t", PushOptions{Machine: " x"}); usage.ErrorCode(err) != usage.EINVALID {
		t.Errorf("Push(bad machine) = %v, want EINVALID", err)
	}
}

func TestPushServerErrors(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		switch r.Header.Get("Authorization") {
		case "Bearer forbidden":
			w.WriteHeader(http.StatusForbidden)
		case "Bearer bad":
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"success":false,"error":{"code":"INVALID_PARAMS","message":"records[0]: model is odd"}}`))
		default:
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	src := localStore(t, records("e", 1))
	if _, err := Push(t.Context(), src, srv.URL, "forbidden", PushOptions{}); usage.ErrorCode(err) != usage.EFORBIDDEN {
		t.Errorf("403 → %v, want EFORBIDDEN", err)
	}
	_, err := Push(t.Context(), src, srv.URL, "bad", PushOptions{})
	if usage.ErrorCode(err) != usage.EINVALID || !strings.Contains(err.Error(), "model is odd") {
		t.Errorf("400 → %v, want EINVALID with the server's message", err)
	}
	calls.Store(0)
	_, err = Push(t.Context(), src, srv.URL, "x", PushOptions{Retries: 1})
	if err == nil || usage.ErrorCode(err) != usage.EINTERNAL || calls.Load() != 2 {
		t.Errorf("502 → %v after %d calls, want an internal error after 2", err, calls.Load())
	}
}

func TestPushSkipsInvalidLocalRecords(t *testing.T) {
	dest := newMemStore()
	dest.tokens["ctm_ann"] = "ann"
	srv := teamServer(t, dest, dest, nil)
	rs := records("v", 5)
	rs[2].Input = -3
	src := localStore(t, rs)
	res, err := Push(t.Context(), src, srv.URL, "ctm_ann", PushOptions{})
	if err != nil || res.Sent != 4 || res.Skipped != 1 {
		t.Fatalf("Push() = %+v, %v; want 4 sent and 1 skipped", res, err)
	}
}

func TestPushCursor(t *testing.T) {
	dest := newMemStore()
	dest.tokens["ctm_ann"] = "ann"
	srv := teamServer(t, dest, dest, nil)
	rs := records("c", 100) // one a second from t0
	src := localStore(t, rs[:90])
	opts := PushOptions{Machine: "m", Lookback: 10 * time.Second}
	first, err := Push(t.Context(), src, srv.URL, "ctm_ann", opts)
	if err != nil || first.Sent != 90 || !first.Full {
		t.Fatalf("first Push() = %+v, %v; want all 90 sent", first, err)
	}
	if want := t0.Add(89*time.Second - 10*time.Second); !first.Cursor.Since.Equal(want) {
		t.Errorf("cursor since = %v, want %v (newest minus lookback)", first.Cursor.Since, want)
	}

	// New records: only those from the cursor on are sent.
	mustApply(t, src, rs[90:])
	opts.Cursor = &first.Cursor
	second, err := Push(t.Context(), src, srv.URL, "ctm_ann", opts)
	if err != nil || second.Full || second.Sent != 21 { // records 79..99
		t.Fatalf("second Push() = %+v, %v; want 21 sent from the cursor", second, err)
	}

	// A record older than the cursor arrives: the fingerprint changes and
	// the next push sends everything.
	old := testRecord("late", 0)
	old.Timestamp = t0.Add(-time.Hour)
	mustApply(t, src, []usage.Record{old})
	opts.Cursor = &second.Cursor
	third, err := Push(t.Context(), src, srv.URL, "ctm_ann", opts)
	if err != nil || !third.Full || third.Sent != 101 {
		t.Fatalf("third Push() = %+v, %v; want a full push of 101", third, err)
	}
	if tok, n := dest.sum(); n != 101 || tok != sumOf(append(rs, old)) {
		t.Errorf("server totals = %+v over %d, want %+v over 101", tok, n, sumOf(append(rs, old)))
	}

	// A cursor from another server is ignored.
	other := third.Cursor
	other.Server = "http://elsewhere/api/v1/ingest"
	opts.Cursor = &other
	if res, err := Push(t.Context(), src, srv.URL, "ctm_ann", opts); err != nil || !res.Full {
		t.Errorf("Push() with a foreign cursor = %+v, %v; want a full push", res, err)
	}

	// Cursors survive a save and load.
	path := filepath.Join(t.TempDir(), "cursor.json")
	if err := SaveCursor(path, third.Cursor); err != nil {
		t.Fatalf("SaveCursor() = %v", err)
	}
	got, err := LoadCursor(path)
	if err != nil || got.Server != third.Cursor.Server || !got.Since.Equal(third.Cursor.Since) || got.Before != third.Cursor.Before {
		t.Errorf("LoadCursor() = %+v, %v; want %+v", got, err, third.Cursor)
	}
	if _, err := LoadCursor(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Errorf("LoadCursor(missing) = nil error")
	}
	if err := SaveCursor(filepath.Join(t.TempDir(), "no", "dir"), third.Cursor); err == nil {
		t.Errorf("SaveCursor(missing dir) = nil error")
	}
}

func TestPushEmptyStore(t *testing.T) {
	dest := newMemStore()
	dest.tokens["ctm_ann"] = "ann"
	srv := teamServer(t, dest, dest, nil)
	res, err := Push(t.Context(), newMemStore(), srv.URL, "ctm_ann", PushOptions{})
	if err != nil || res.Sent != 0 {
		t.Errorf("Push(empty) = %+v, %v; want nothing sent, nil", res, err)
	}
}

func TestWatch(t *testing.T) {
	dest := newMemStore()
	dest.tokens["ctm_ann"] = "ann"
	srv := teamServer(t, dest, dest, nil)
	rs := records("w", 30)
	src := localStore(t, rs[:10])
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rounds := make(chan PushResult, 10)
	cursorFile := filepath.Join(t.TempDir(), "cursor.json")
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, src, srv.URL, "ctm_ann", WatchOptions{
			PushOptions: PushOptions{Machine: "m", Lookback: time.Second},
			Interval:    10 * time.Millisecond,
			CursorFile:  cursorFile,
			OnPush:      func(r PushResult) { rounds <- r },
		})
	}()
	<-rounds
	mustApply(t, src, rs[10:])
	deadline := time.After(10 * time.Second)
	for {
		if _, n := dest.sum(); n == 30 {
			break
		}
		select {
		case <-rounds:
		case <-deadline:
			t.Fatalf("watch did not push the new records")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch() after cancel = %v, want nil", err)
	}
	if tok, _ := dest.sum(); tok != sumOf(rs) {
		t.Errorf("server totals = %+v, want %+v", tok, sumOf(rs))
	}
	if _, err := LoadCursor(cursorFile); err != nil {
		t.Errorf("watch left no cursor file: %v", err)
	}

	// A refused token ends Watch with the error.
	err := Watch(t.Context(), src, srv.URL, "ctm_wrong", WatchOptions{Interval: time.Millisecond})
	if usage.ErrorCode(err) != usage.EUNAUTHORIZED {
		t.Errorf("Watch(wrong token) = %v, want EUNAUTHORIZED", err)
	}
	if err := Watch(t.Context(), src, "nope", "t", WatchOptions{}); usage.ErrorCode(err) != usage.EINVALID {
		t.Errorf("Watch(bad URL) = %v, want EINVALID", err)
	}
}

func TestWatchRetriesServerErrors(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err := Watch(ctx, localStore(t, records("x", 1)), srv.URL, "t", WatchOptions{
		PushOptions: PushOptions{Retries: -1}, Interval: 20 * time.Millisecond,
	})
	if err != nil || calls.Load() < 2 {
		t.Errorf("Watch() against a failing server = %v after %d calls, want nil after several rounds", err, calls.Load())
	}
}

// failingSource fails every read.
type failingSource struct{ latest time.Time }

func (f failingSource) Records(context.Context, usage.Filter, usage.Page) ([]usage.Record, error) {
	return nil, errors.New("read failed")
}
func (f failingSource) Aggregate(context.Context, usage.Filter, usage.Dimension) ([]usage.Bucket, error) {
	return nil, nil
}
func (f failingSource) LatestTimestamp(context.Context) (time.Time, error) {
	if f.latest.IsZero() {
		return time.Time{}, errors.New("latest failed")
	}
	return f.latest, nil
}

func TestPushSourceErrors(t *testing.T) {
	dest := newMemStore()
	dest.tokens["ctm_ann"] = "ann"
	srv := teamServer(t, dest, dest, nil)
	if _, err := Push(t.Context(), failingSource{}, srv.URL, "ctm_ann", PushOptions{}); err == nil {
		t.Errorf("Push() with a failing LatestTimestamp = nil error")
	}
	if _, err := Push(t.Context(), failingSource{latest: t0}, srv.URL, "ctm_ann", PushOptions{}); err == nil || !strings.Contains(err.Error(), "read records") {
		t.Errorf("Push() with failing Records = %v, want a read error", err)
	}
}
