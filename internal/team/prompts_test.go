package team_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/ingest"
	"github.com/claude-token-monitor/ctm/internal/sqlite"
	"github.com/claude-token-monitor/ctm/internal/storetest"
	"github.com/claude-token-monitor/ctm/internal/team"
	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

// corpusLocal returns a local SQLite store holding claude-real-2026 as
// the real ingester reads it, or skips the test without the corpus.
func corpusLocal(t *testing.T) *sqlite.Store {
	t.Helper()
	root, err := filepath.Abs("../../../shared/testdata/claude-real-2026")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root); err != nil {
		t.Skipf("the real corpus is not at %s (the shared testdata folder beside the repository)", root)
	}
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "local.db"), storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if _, err := ingest.New(st, []string{root}, slog.New(slog.DiscardHandler), ingest.Options{}).Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st
}

func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A push carries the prompts, so that the team server's prompts view is
// the machine's own.
func TestPushPromptsOnPostgres(t *testing.T) {
	s := openPostgres(t)
	local := corpusLocal(t)
	srv := server(t, s, nil)
	token, err := s.CreateToken(t.Context(), "ann")
	if err != nil {
		t.Fatal(err)
	}
	res, err := team.Push(t.Context(), local, srv.URL, token, team.PushOptions{Machine: "laptop", BatchSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := local.Prompts(t.Context(), usage.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Prompts != len(stored) || len(stored) == 0 {
		t.Errorf("pushed %d prompts, the local store holds %d", res.Prompts, len(stored))
	}
	onServer, err := s.Prompts(t.Context(), usage.Filter{User: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	if len(onServer) != len(stored) {
		t.Fatalf("the server holds %d prompts of ann, want %d", len(onServer), len(stored))
	}
	for i := range onServer {
		if onServer[i].User != "ann" || onServer[i].Machine != "laptop" {
			t.Fatalf("prompt %s is stored as %q on %q", onServer[i].Key, onServer[i].User, onServer[i].Machine)
		}
	}
	// A second push changes nothing.
	if _, err := team.Push(t.Context(), local, srv.URL, token, team.PushOptions{Machine: "laptop"}); err != nil {
		t.Fatal(err)
	}
	again, _ := s.Prompts(t.Context(), usage.Filter{})
	if len(again) != len(stored) {
		t.Errorf("after a second push the server holds %d prompts, want %d", len(again), len(stored))
	}
	// The views agree, to the digit, in a zone far from UTC.
	loc, _ := time.LoadLocation("Asia/Tokyo")
	lv := &views.Views{Store: local, Prices: storetest.Prices, Location: loc}
	sv := &views.Views{Store: s, Prices: storetest.Prices, Location: loc}
	for _, q := range []views.PromptsQuery{{}, {Since: "2026-05-10", Sort: "time"}} {
		want, err := lv.Prompts(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := sv.Prompts(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		if marshal(t, got) != marshal(t, want) {
			t.Errorf("prompts %+v on the team server =\n%.600s\nlocally =\n%.600s", q, marshal(t, got), marshal(t, want))
		}
	}
	for _, by := range views.BreakdownDims {
		want, _ := lv.Breakdown(t.Context(), views.BreakdownQuery{By: by})
		got, err := sv.Breakdown(t.Context(), views.BreakdownQuery{By: by})
		if err != nil || !reflect.DeepEqual(marshal(t, got), marshal(t, want)) {
			t.Errorf("breakdown by %s on the team server differs (%v):\n%.400s\n%.400s", by, err, marshal(t, got), marshal(t, want))
		}
	}
}

// The server validates each pushed prompt and names the bad one.
func TestIngestRejectsBadPrompts(t *testing.T) {
	s := openPostgres(t)
	srv := server(t, s, nil)
	now := time.Now().UTC()
	good := usage.Prompt{Key: "s1:u1", SessionID: "s1", Project: "/p", Timestamp: now, Text: "hello"}
	for _, c := range []struct {
		edit func(p *usage.Prompt)
		want string
	}{
		{func(p *usage.Prompt) { p.Key = "other:u1" }, "prompts[0]: key"},
		{func(p *usage.Prompt) { p.Text = strings.Repeat("x", usage.MaxPromptText+1) }, "prompts[0]: text"},
		{func(p *usage.Prompt) { p.Timestamp = now.Add(48 * time.Hour) }, "prompts[0]: timestamp"},
		{func(p *usage.Prompt) { p.User = "bob" }, "prompts[0]: user"},
		{func(p *usage.Prompt) { p.Project = "a\x00b" }, "prompts[0]: project"},
	} {
		p := good
		c.edit(&p)
		body, _ := json.Marshal(team.IngestRequest{Machine: "m", User: "ann", Records: []usage.Record{}, Prompts: []usage.Prompt{p}})
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/ingest", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer admin-secret")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(msg), c.want) {
			t.Errorf("prompt %+v: %d %s, want 400 naming %q", p, res.StatusCode, msg, c.want)
		}
	}
	if ps, _ := s.Prompts(t.Context(), usage.Filter{}); len(ps) != 0 {
		t.Errorf("rejected batches stored %d prompts", len(ps))
	}
}

// A server from before prompts were pushed refuses the field; the push
// of the records succeeds all the same.
func TestPushToServerWithoutPrompts(t *testing.T) {
	local := corpusLocal(t)
	var records int
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			t.Error(err)
			return
		}
		var req map[string]json.RawMessage
		if err := json.NewDecoder(zr).Decode(&req); err != nil {
			t.Error(err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if _, ok := req["prompts"]; ok {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"success":false,"error":{"code":"VALIDATION_ERROR","message":"body: json: unknown field \"prompts\""},"timestamp":"x"}`)
			return
		}
		var rs []json.RawMessage
		_ = json.Unmarshal(req["records"], &rs)
		records += len(rs)
		io.WriteString(w, `{"success":true,"data":{"accepted":0,"user":"ann"},"timestamp":"x"}`)
	}))
	defer old.Close()
	res, err := team.Push(t.Context(), local, old.URL, "token", team.PushOptions{Machine: "laptop"})
	if err != nil {
		t.Fatalf("Push() to a server without prompts = %v", err)
	}
	n, _ := local.CountRecords(t.Context(), usage.Filter{})
	if res.Prompts != 0 || int64(records) != n || n == 0 {
		t.Errorf("pushed %d prompts and %d of %d records", res.Prompts, records, n)
	}
}
