package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/pricing"
	"github.com/claude-token-monitor/ctm/internal/server"
	"github.com/claude-token-monitor/ctm/internal/sqlite"
	"github.com/claude-token-monitor/ctm/internal/storetest"
	"github.com/claude-token-monitor/ctm/internal/testcorpus"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// corpusRoot is the real Claude Code data the expected accounting covers.
const corpusRoot = "../../../shared/testdata/claude-real"

// testNow is inside the last day of the corpus (UTC), so "today" has data
// and yesterday has none.
var testNow = time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)

// figures is one entry of claude-real.expected.json.
type figures struct {
	Input         int64   `json:"input"`
	Output        int64   `json:"output"`
	CacheCreation int64   `json:"cache_creation"`
	CW5           int64   `json:"cw5"`
	CW1           int64   `json:"cw1"`
	CacheRead     int64   `json:"cache_read"`
	WebSearch     int64   `json:"web_search"`
	CostUSD       float64 `json:"cost_usd"`
	Entries       int64   `json:"entries"`
}

func (f figures) total() int64 { return f.Input + f.Output + f.CacheCreation + f.CacheRead }

func (f figures) add(g figures) figures {
	return figures{f.Input + g.Input, f.Output + g.Output, f.CacheCreation + g.CacheCreation,
		f.CW5 + g.CW5, f.CW1 + g.CW1, f.CacheRead + g.CacheRead, f.WebSearch + g.WebSearch,
		f.CostUSD + g.CostUSD, f.Entries + g.Entries}
}

type expectedData struct {
	Daily    map[string]figures `json:"daily"`
	Models   map[string]figures `json:"models"`
	Sessions map[string]figures `json:"sessions"`
	Totals   figures            `json:"totals"`
}

// fixture is built once per test binary: the corpus parsed and stored in a
// SQLite database in a temporary directory.
var fixture struct {
	records  []usage.Record
	store    *sqlite.Store
	pricer   *pricing.Table
	expected expectedData
}

func TestMain(m *testing.M) {
	testcorpus.Main(m, "server", corpusRoot, &fixture.expected, func(c *testcorpus.Corpus) error {
		fixture.store, fixture.pricer = c.Store, c.Prices
		var err error
		fixture.records, err = c.Store.Records(context.Background(), usage.Filter{}, usage.Page{})
		return err
	})
}

// openStore opens a fresh database holding recs.
func openStore(ctx context.Context, path string, recs []usage.Record) (*sqlite.Store, error) {
	st, err := sqlite.Open(ctx, path, storetest.Prices)
	if err != nil {
		return nil, err
	}
	if err := st.Apply(ctx, usage.Batch{Records: recs}); err != nil {
		_ = st.Close()
		return nil, err
	}
	return st, nil
}

// options shortens server.Options in option editors.
type options = server.Options

// hubOptions shortens server.HubOptions.
type hubOptions = server.HubOptions

// newServer builds a server over the corpus store; edit adjusts options.
func newServer(t testing.TB, edit func(*server.Options)) *server.Server {
	t.Helper()
	opts := server.Options{
		Store:        fixture.store,
		Pricer:       fixture.pricer,
		DisplayName:  fixture.pricer.DisplayName,
		Version:      "test",
		DatabasePath: "corpus.db",
		DataSources:  []string{corpusRoot},
		Now:          func() time.Time { return testNow },
	}
	if edit != nil {
		edit(&opts)
	}
	s, err := server.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// mustLimits returns usage.NewLimits(plan, tokens, cost) or fails t.
func mustLimits(t testing.TB, plan string, tokens int64, cost float64) usage.Limits {
	t.Helper()
	l, err := usage.NewLimits(plan, tokens, cost)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// response is a decoded envelope.
type response struct {
	Code   int
	Header http.Header
	Body   []byte
	Env    struct {
		Success bool            `json:"success"`
		Data    json.RawMessage `json:"data"`
		Error   *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
		Timestamp string `json:"timestamp"`
	}
}

// do sends a request through the handler with a loopback Host.
func do(t testing.TB, h http.Handler, method, target string, body io.Reader, hdr ...string) *response {
	t.Helper()
	req := httptest.NewRequest(method, target, body)
	req.Host = "127.0.0.1:51888"
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	r := &response{Code: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
	if rec.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(r.Body))
		if err != nil {
			t.Fatalf("%s %s: gzip: %v", method, target, err)
		}
		if r.Body, err = io.ReadAll(zr); err != nil {
			t.Fatalf("%s %s: gunzip: %v", method, target, err)
		}
	}
	if method != http.MethodHead && strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") && !strings.HasSuffix(target, "openapi.json") {
		if err := json.Unmarshal(r.Body, &r.Env); err != nil {
			t.Fatalf("%s %s: body is not an envelope: %v\n%s", method, target, err, r.Body)
		}
		if _, err := time.Parse(time.RFC3339, r.Env.Timestamp); err != nil {
			t.Errorf("%s %s: timestamp %q is not RFC 3339", method, target, r.Env.Timestamp)
		}
	}
	return r
}

// get sends a GET and requires 200 with a success envelope, decoding data
// into v.
func get(t testing.TB, h http.Handler, target string, v any) *response {
	t.Helper()
	r := do(t, h, http.MethodGet, target, nil)
	if r.Code != http.StatusOK || !r.Env.Success {
		t.Fatalf("GET %s = %d %s, want 200 success", target, r.Code, r.Body)
	}
	if v != nil {
		if err := json.Unmarshal(r.Env.Data, v); err != nil {
			t.Fatalf("GET %s: decode data: %v", target, err)
		}
	}
	return r
}

// agg mirrors the DESIGN §4 token and cost fields of any response object.
type agg struct {
	InputTokens         int64   `json:"input_tokens"`
	OutputTokens        int64   `json:"output_tokens"`
	CacheCreationTokens int64   `json:"cache_creation_tokens"`
	CacheCreation5m     int64   `json:"cache_creation_5m_tokens"`
	CacheCreation1h     int64   `json:"cache_creation_1h_tokens"`
	CacheReadTokens     int64   `json:"cache_read_tokens"`
	TotalTokens         int64   `json:"total_tokens"`
	WebSearchRequests   int64   `json:"web_search_requests"`
	CostUSD             float64 `json:"cost_usd"`
	CacheHitRate        float64 `json:"cache_hit_rate"`
	Entries             int64   `json:"entries"`
}

// checkFigures compares an API aggregate with expected figures.
func checkFigures(t testing.TB, what string, got agg, want figures) {
	t.Helper()
	gotF := figures{got.InputTokens, got.OutputTokens, got.CacheCreationTokens, got.CacheCreation5m,
		got.CacheCreation1h, got.CacheReadTokens, got.WebSearchRequests, 0, got.Entries}
	wantF := want
	wantF.CostUSD = 0
	if gotF != wantF {
		t.Errorf("%s: got %+v, want %+v", what, gotF, wantF)
	}
	if got.TotalTokens != want.total() {
		t.Errorf("%s: total_tokens = %d, want %d", what, got.TotalTokens, want.total())
	}
	if !near(got.CostUSD, want.CostUSD) {
		t.Errorf("%s: cost_usd = %.9f, want %.9f", what, got.CostUSD, want.CostUSD)
	}
	prompt := want.Input + want.CacheCreation + want.CacheRead
	wantRate := 0.0
	if prompt > 0 {
		wantRate = float64(want.CacheRead) / float64(prompt)
	}
	if !near(got.CacheHitRate, wantRate) {
		t.Errorf("%s: cache_hit_rate = %v, want %v", what, got.CacheHitRate, wantRate)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b)) }

// wantError requires an error envelope with the code and a message that
// contains every part.
func wantError(t testing.TB, r *response, status int, code string, parts ...string) {
	t.Helper()
	if r.Code != status {
		t.Errorf("status = %d, want %d (body %s)", r.Code, status, r.Body)
	}
	if r.Env.Success || r.Env.Error == nil {
		t.Fatalf("body %s is not an error envelope", r.Body)
	}
	if r.Env.Error.Code != code {
		t.Errorf("error code = %q, want %q", r.Env.Error.Code, code)
	}
	for _, p := range parts {
		if !strings.Contains(r.Env.Error.Message, p) {
			t.Errorf("error message %q does not contain %q", r.Env.Error.Message, p)
		}
	}
}

func TestFixtureMatchesExpected(t *testing.T) {
	// Guards every other test: the database holds exactly the expected
	// records of the corpus.
	n, err := fixture.store.CountRecords(context.Background(), usage.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if n != fixture.expected.Totals.Entries {
		t.Fatalf("stored records = %d, want %d", n, fixture.expected.Totals.Entries)
	}
}
