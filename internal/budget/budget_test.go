package budget

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/sqlite"
	"github.com/claude-token-monitor/ctm/internal/storetest"
	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

const exampleJSON = `{
  "budgets": [
    {"id": "daily", "period": "daily", "amount_usd": 20},
    {"id": "ctm-weekly", "period": "weekly", "amount_usd": 100.5, "project": "/home/me/ctm"},
    {"id": "alice-monthly", "period": "monthly", "amount_usd": 300, "user": "alice"}
  ],
  "targets": [
    {"name": "hook", "type": "webhook", "url": "https://example.com/hook"},
    {"type": "slack", "url": "https://hooks.slack.com/services/T/B/X"},
    {"type": "discord", "url": "https://discord.com/api/webhooks/1/x"},
    {"name": "phone", "type": "ntfy", "url": "https://ntfy.sh/my-topic", "headers": {"Authorization": "Bearer tk"}}
  ]
}`

const exampleTOML = `
[[budgets]]
id = "daily"
period = "daily"
amount_usd = 20

[[budgets]]
id = "ctm-weekly"
period = "weekly"
amount_usd = 100.5
project = "/home/me/ctm"

[[budgets]]
id = "alice-monthly"
period = "monthly"
amount_usd = 300
user = "alice"

[[targets]]
name = "hook"
type = "webhook"
url = "https://example.com/hook"

[[targets]]
type = "slack"
url = "https://hooks.slack.com/services/T/B/X"

[[targets]]
type = "discord"
url = "https://discord.com/api/webhooks/1/x"

[[targets]]
name = "phone"
type = "ntfy"
url = "https://ntfy.sh/my-topic"
headers = { Authorization = "Bearer tk" }
`

func TestLoadJSONAndTOMLAgree(t *testing.T) {
	dir := t.TempDir()
	jp, tp := filepath.Join(dir, "budgets.json"), filepath.Join(dir, "budgets.toml")
	os.WriteFile(jp, []byte(exampleJSON), 0o600)
	os.WriteFile(tp, []byte(exampleTOML), 0o600)
	j, err := Load(jp)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := Load(tp)
	if err != nil {
		t.Fatal(err)
	}
	jb, _ := json.Marshal(j)
	tb, _ := json.Marshal(tm)
	if string(jb) != string(tb) {
		t.Fatalf("JSON and TOML differ:\n%s\n%s", jb, tb)
	}
	if len(j.Budgets) != 3 || j.Budgets[1].Amount != 1005*usage.MoneyPerUSD/10 || j.Budgets[1].Project != "/home/me/ctm" {
		t.Errorf("budgets = %+v", j.Budgets)
	}
	if len(j.Targets) != 4 || j.Targets[1].Name != "slack" || j.Targets[3].Headers["Authorization"] != "Bearer tk" {
		t.Errorf("targets = %+v", j.Targets)
	}
}

func TestLoadErrorsNameFileAndEntry(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ body, want string }{
		"period.json":   {`{"budgets":[{"id":"a","period":"yearly","amount_usd":1}]}`, `budgets[0] (id "a"): period "yearly" is not daily, weekly or monthly`},
		"amount.json":   {`{"budgets":[{"id":"a","period":"daily","amount_usd":-1}]}`, `budgets[0] (id "a"): amount_usd must be positive`},
		"noamount.json": {`{"budgets":[{"id":"a","period":"daily"}]}`, `amount_usd is missing`},
		"typo.json":     {`{"budgets":[{"id":"a","period":"daily","amount":1}]}`, `unknown field "amount"`},
		"dup.json":      {`{"budgets":[{"id":"a","period":"daily","amount_usd":1},{"id":"a","period":"daily","amount_usd":1}]}`, `budgets[1] (id "a"): id is used by an earlier budget`},
		"noid.json":     {`{"budgets":[{"period":"daily","amount_usd":1}]}`, `budgets[0]: id is missing`},
		"kind.json":     {`{"budgets":[],"targets":[{"type":"email","url":"https://x"}]}`, `targets[0]: type "email" is not webhook`},
		"url.json":      {`{"budgets":[],"targets":[{"type":"slack","url":"ftp://x"}]}`, `targets[0]: url "ftp://x" is not an http(s) URL`},
		"twoslack.json": {`{"budgets":[],"targets":[{"type":"slack","url":"https://a"},{"type":"slack","url":"https://b"}]}`, `targets[1]: name "slack" is used`},
		"reserved.json": {`{"targets":[{"name":"websocket","type":"slack","url":"https://a"}]}`, `reserved`},
		"digits.json":   {`{"budgets":[{"id":"a","period":"daily","amount_usd":1.00000000001}]}`, `more than 10 decimal places`},
		"bad.toml":      {"[[budgets]]\nid = \"a\"\nperiod = \"daily\"\namount_usd = 1\ncolour = 2\n", `unknown field "colour"`},
		"syntax.toml":   {"[[budgets]\n", `not valid TOML`},
		"trailing.json": {`{"budgets":[]} {}`, `data after`},
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(tc.body), 0o600)
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want the path and %q", name, err, tc.want)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: err = %v", err)
	}
}

// receiver is a local HTTP server that records what it receives and fails
// the first fail requests with 500.
type receiver struct {
	mu   sync.Mutex
	fail int
	got  []received
	srv  *httptest.Server
}

type received struct {
	path, body string
	header     http.Header
	ok         bool
}

func newReceiver(t *testing.T, fail int) *receiver {
	r := &receiver{fail: fail}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		ok := r.fail <= 0
		r.fail--
		r.got = append(r.got, received{req.URL.Path, string(b), req.Header.Clone(), ok})
		if !ok {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) delivered(path string) []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []received
	for _, g := range r.got {
		if g.ok && (path == "" || g.path == path) {
			out = append(out, g)
		}
	}
	return out
}

func (r *receiver) attempts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// now is the clock of the alerter tests: 2026-03-04 18:00 UTC.
var now = time.Date(2026, 3, 4, 18, 0, 0, 0, time.UTC)

// openStore opens a SQLite store at path holding records that cost cost
// in total today.
func openStore(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path, storetest.Prices)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// addSpend stores a record of n million output tokens of Opus at ts.
func addSpend(t *testing.T, st *sqlite.Store, key string, ts time.Time, n int64) usage.Money {
	t.Helper()
	r := usage.Record{Key: key, MessageID: key, RequestID: "r" + key, Timestamp: ts, Model: "claude-opus-4-6",
		SessionID: "s", Project: "/p", Tokens: usage.Tokens{Output: n * 1_000_000}}
	if err := st.Apply(context.Background(), usage.Batch{Records: []usage.Record{r}}); err != nil {
		t.Fatal(err)
	}
	c, _ := storetest.Prices.Price(&r)
	return c
}

func newAlerter(t *testing.T, st *sqlite.Store, cfg *Config, broadcast func(Alert)) *Alerter {
	t.Helper()
	a, err := New(Options{
		Config: cfg,
		Views: func() *views.Views {
			return &views.Views{Store: st, Prices: storetest.Prices, Now: func() time.Time { return now }}
		},
		Store:     st,
		Retry:     Retry{Attempts: 4, Backoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond, Timeout: 2 * time.Second},
		Broadcast: broadcast,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func targetsFor(r *receiver) []Target {
	return []Target{
		{Name: "hook", Kind: KindWebhook, URL: r.srv.URL + "/hook"},
		{Name: "slack", Kind: KindSlack, URL: r.srv.URL + "/slack"},
		{Name: "discord", Kind: KindDiscord, URL: r.srv.URL + "/discord"},
		{Name: "ntfy", Kind: KindNtfy, URL: r.srv.URL + "/ntfy", Headers: map[string]string{"Authorization": "Bearer tk"}},
	}
}

// TestExactlyOnceAcrossRestart crosses 50 %, then 80 %, then 100 %, with a
// restart (a new store handle and alerter on the same file) in between,
// and checks that each target received each threshold once, in its own
// format.
func TestExactlyOnceAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctm.db")
	rcv := newReceiver(t, 0)
	st := openStore(t, path)
	unit := addSpend(t, st, "a", now.Add(-3*time.Hour), 1) // cost of 1M Opus output tokens
	cfg := &Config{Budgets: []usage.Budget{{ID: "daily", Period: usage.BudgetDaily, Amount: unit * 10 / 6}}, Targets: targetsFor(rcv)}
	var wsMu sync.Mutex
	var ws []Alert
	broadcast := func(a Alert) { wsMu.Lock(); ws = append(ws, a); wsMu.Unlock() }

	a := newAlerter(t, st, cfg, broadcast)
	ctx := context.Background()
	for range 3 { // 60 %: the 50 % threshold, once however often checked
		if err := a.Check(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(rcv.delivered("")); got != 4 {
		t.Fatalf("after 60%%: %d deliveries, want 4 (one per target)", got)
	}
	// Restart: nothing new is sent.
	st.Close()
	st = openStore(t, path)
	a = newAlerter(t, st, cfg, broadcast)
	if err := a.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(rcv.delivered("")); got != 4 {
		t.Fatalf("after restart: %d deliveries, want still 4", got)
	}
	// 60 % + 60 % = 120 %: 80 and 100 are crossed at once; one
	// notification (100) per target.
	addSpend(t, st, "b", now.Add(-time.Hour), 1)
	a.Trigger()
	if err := a.Check(ctx); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st = openStore(t, path)
	a = newAlerter(t, st, cfg, broadcast)
	if err := a.Check(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/hook", "/slack", "/discord", "/ntfy"} {
		if got := rcv.delivered(p); len(got) != 2 {
			t.Errorf("%s received %d notifications, want 2 (50 and 100)", p, len(got))
		}
	}
	hook := rcv.delivered("/hook")
	var first, second Alert
	json.Unmarshal([]byte(hook[0].body), &first)
	json.Unmarshal([]byte(hook[1].body), &second)
	if first.Threshold != 50 || first.BudgetID != "daily" || first.Status != "ok" || second.Threshold != 100 || second.Status != "over" {
		t.Errorf("webhook alerts = %+v, %+v", first, second)
	}
	if !first.PeriodStart.Equal(time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)) || second.Spent != 2*unit {
		t.Errorf("webhook alert period/spent = %v, %v", first.PeriodStart, second.Spent)
	}
	var slack map[string]string
	json.Unmarshal([]byte(rcv.delivered("/slack")[1].body), &slack)
	if !strings.Contains(slack["text"], "ctm budget daily (daily, all usage): 120% used") {
		t.Errorf("slack payload = %s", rcv.delivered("/slack")[1].body)
	}
	var discord map[string]string
	json.Unmarshal([]byte(rcv.delivered("/discord")[0].body), &discord)
	if !strings.Contains(discord["content"], "crossed 50%") {
		t.Errorf("discord payload = %s", rcv.delivered("/discord")[0].body)
	}
	n := rcv.delivered("/ntfy")[1]
	if n.header.Get("Title") != "ctm budget daily at 100%" || n.header.Get("Priority") != "urgent" ||
		n.header.Get("Authorization") != "Bearer tk" || !strings.HasPrefix(n.body, "ctm budget daily") {
		t.Errorf("ntfy request = %v %q", n.header, n.body)
	}
	if len(ws) != 2 || ws[0].Threshold != 50 || ws[1].Threshold != 100 {
		t.Errorf("websocket alerts = %+v, want 50 then 100", ws)
	}
	log, _ := st.BudgetAlertsSent(ctx, time.Time{})
	if len(log) != 3*5 { // 3 thresholds x (4 targets + websocket)
		t.Errorf("sent log has %d entries, want 15: %+v", len(log), log)
	}
}

// TestRetriesAfterFailures fails the first requests: the notification is
// retried with backoff and logged once delivered; when every attempt
// fails, it is not logged, and the next check (as after a restart) sends
// it.
func TestRetriesAfterFailures(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctm.db")
	st := openStore(t, path)
	unit := addSpend(t, st, "a", now.Add(-time.Hour), 1)
	ctx := context.Background()

	rcv := newReceiver(t, 3) // three 500s, then 204s: the 4th attempt succeeds
	cfg := &Config{Budgets: []usage.Budget{{ID: "d", Period: usage.BudgetDaily, Amount: unit}},
		Targets: []Target{{Name: "hook", Kind: KindWebhook, URL: rcv.srv.URL}}}
	if err := newAlerter(t, st, cfg, nil).Check(ctx); err != nil {
		t.Fatal(err)
	}
	if rcv.attempts() != 4 || len(rcv.delivered("")) != 1 {
		t.Fatalf("attempts = %d, delivered = %d; want 4 and 1", rcv.attempts(), len(rcv.delivered("")))
	}

	down := newReceiver(t, 1000) // every attempt fails
	cfg2 := &Config{Budgets: cfg.Budgets, Targets: []Target{{Name: "down", Kind: KindSlack, URL: down.srv.URL}}}
	if err := newAlerter(t, st, cfg2, nil).Check(ctx); err != nil {
		t.Fatal(err)
	}
	if down.attempts() != 4 {
		t.Fatalf("attempts to a failing target = %d, want the bound 4", down.attempts())
	}
	log, _ := st.BudgetAlertsSent(ctx, time.Time{})
	for _, l := range log {
		if l.Target == "down" {
			t.Fatalf("undelivered notification was logged: %+v", l)
		}
	}
	// The target recovers; a new alerter (a restart) delivers it once.
	down.mu.Lock()
	down.fail = 0
	down.mu.Unlock()
	a := newAlerter(t, st, cfg2, nil)
	a.Check(ctx)
	a.Check(ctx)
	if got := len(down.delivered("")); got != 1 {
		t.Errorf("after recovery: %d deliveries, want 1", got)
	}

	// A 4xx is not retried.
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) }))
	defer gone.Close()
	var hits int
	var hmu sync.Mutex
	gone.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hmu.Lock()
		hits++
		hmu.Unlock()
		w.WriteHeader(http.StatusNotFound)
	})
	cfg3 := &Config{Budgets: cfg.Budgets, Targets: []Target{{Name: "gone", Kind: KindDiscord, URL: gone.URL}}}
	newAlerter(t, st, cfg3, nil).Check(ctx)
	if hits != 1 {
		t.Errorf("a 404 was tried %d times, want 1", hits)
	}
}

// TestTriggerNeverBlocks: ingest calls Trigger; with Run busy on a slow
// target, Trigger returns at once.
func TestTriggerNeverBlocks(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "ctm.db"))
	unit := addSpend(t, st, "a", now.Add(-time.Hour), 1)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { <-release }))
	defer slow.Close()
	defer close(release)
	cfg := &Config{Budgets: []usage.Budget{{ID: "d", Period: usage.BudgetDaily, Amount: unit}},
		Targets: []Target{{Name: "slow", Kind: KindWebhook, URL: slow.URL}}}
	a := newAlerter(t, st, cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	start := time.Now()
	for range 1000 {
		a.Trigger()
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("1000 triggers took %v", d)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop after cancel")
	}
}

// TestFailedTargetWaitsBetweenChecks: ingest triggers a check after every
// batch, so a target that failed (a 404, or 500s on every attempt) must
// not be contacted again by each of them: the next check waits out a
// backoff that grows with each failed check, and a recovered target is
// still delivered to once.
func TestFailedTargetWaitsBetweenChecks(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "ctm.db"))
	unit := addSpend(t, st, "a", now.Add(-time.Hour), 1)
	ctx := context.Background()
	var (
		hmu    sync.Mutex
		hits   int
		status = http.StatusNotFound
	)
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hmu.Lock()
		defer hmu.Unlock()
		hits++
		w.WriteHeader(status)
	}))
	defer gone.Close()
	count := func() int { hmu.Lock(); defer hmu.Unlock(); return hits }
	cfg := &Config{Budgets: []usage.Budget{{ID: "d", Period: usage.BudgetDaily, Amount: unit}},
		Targets: []Target{{Name: "gone", Kind: KindWebhook, URL: gone.URL}}}
	a := newAlerter(t, st, cfg, nil)
	clock := time.Now()
	a.clock = func() time.Time { return clock }
	for range 5 {
		a.Check(ctx)
	}
	if got := count(); got != 1 {
		t.Fatalf("a 404 target was contacted %d times by 5 checks in a row, want 1", got)
	}
	clock = clock.Add(a.opts.Interval + time.Second)
	a.Check(ctx)
	if got := count(); got != 2 {
		t.Fatalf("after the first backoff: %d requests, want 2", got)
	}
	// The wait doubles: one interval later is too early.
	clock = clock.Add(a.opts.Interval + time.Second)
	a.Check(ctx)
	if got := count(); got != 2 {
		t.Fatalf("within the doubled backoff: %d requests, want 2", got)
	}
	hmu.Lock()
	status = http.StatusNoContent
	hmu.Unlock()
	clock = clock.Add(maxCheckBackoff)
	a.Check(ctx)
	a.Check(ctx)
	if got := count(); got != 3 {
		t.Fatalf("after recovery: %d requests, want 3", got)
	}
	log, _ := st.BudgetAlertsSent(ctx, time.Time{})
	// One delivery, at 100 %, which covers 50 and 80 %.
	if len(log) != 3 || log[2].Target != "gone" || log[2].Threshold != 100 {
		t.Fatalf("sent log = %+v, want the one delivery and the thresholds it covers", log)
	}
}

// TestBackoffOfEndedPeriodsIsForgotten checks that the alerter keeps the
// backoff of failed notifications only for current periods of configured
// budgets: a server running for months must not keep one per period.
func TestBackoffOfEndedPeriodsIsForgotten(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "ctm.db"))
	unit := addSpend(t, st, "a", now.Add(-time.Hour), 1)
	ctx := context.Background()
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNotFound)
	}))
	defer gone.Close()
	cfg := &Config{Budgets: []usage.Budget{{ID: "d", Period: usage.BudgetDaily, Amount: unit}},
		Targets: []Target{{Name: "gone", Kind: KindWebhook, URL: gone.URL}}}
	a := newAlerter(t, st, cfg, nil)
	a.Check(ctx)
	if len(a.failed) != 1 {
		t.Fatalf("after a failed delivery the alerter keeps %d backoffs, want 1", len(a.failed))
	}
	var current alertKey
	for k := range a.failed {
		current = k
	}
	yesterday := current
	yesterday.start -= (24 * time.Hour).Milliseconds()
	removed := current
	removed.budget = "no-longer-configured"
	a.failed[yesterday] = retryAfter{next: time.Now().Add(time.Hour), wait: time.Hour}
	a.failed[removed] = retryAfter{next: time.Now().Add(time.Hour), wait: time.Hour}
	a.Check(ctx)
	if len(a.failed) != 1 {
		t.Fatalf("backoffs kept = %v, want only the current period's %v", a.failed, current)
	}
	if _, ok := a.failed[current]; !ok {
		t.Fatalf("the current period's backoff was dropped: %v", a.failed)
	}
}

// validID accepts exactly what the pattern of its error message says.
func TestValidID(t *testing.T) {
	want := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	for _, id := range []string{"", "a", "Z9", "0.a_b-c", ".a", "_a", "-a", "a b", "a/b", "é", "a\x00",
		strings.Repeat("a", 64), strings.Repeat("a", 65), "a" + strings.Repeat(".", 63), "a" + strings.Repeat(".", 64)} {
		if got := validID(id); got != want.MatchString(id) {
			t.Errorf("validID(%q) = %v, want %v", id, got, !got)
		}
	}
}
