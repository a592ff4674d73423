package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// userJSON mirrors one user of GET /users.
type userJSON struct {
	User string `json:"user"`
	agg
	Models     []string `json:"models"`
	Machines   []string `json:"machines"`
	TokenCount *int     `json:"token_count"`
}

type usersJSON struct {
	Users    []userJSON `json:"users"`
	Totals   agg        `json:"totals"`
	Unpriced []string   `json:"unpriced_models"`
}

// teamNow is after every record of teamRecords.
var teamNow = time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)

// teamRecords are the records of two users and of a local install (no
// user), spread over two days.
func teamRecords() []usage.Record {
	day := time.Date(2026, 1, 4, 9, 0, 0, 0, time.UTC)
	return []usage.Record{
		synth("a1", day, "alice", 1000, 100),
		synth("a2", day.Add(26*time.Hour), "alice", 3000, 300),
		synth("b1", day.Add(time.Hour), "bob", 500, 50),
		synth("b2", day.Add(25*time.Hour), "bob", 200_000, 2000),
		synth("l1", day.Add(2*time.Hour), "", 10, 1),
	}
}

// costOf prices records one by one, as the accounting rules say.
func costOf(recs ...usage.Record) float64 {
	var c usage.Money
	for _, r := range recs {
		cost, _ := fixture.pricer.Price(&r)
		c += cost
	}
	return c.USD()
}

func TestUsers(t *testing.T) {
	recs := teamRecords()
	h := newServer(t, func(o *options) {
		o.Store = synthStore(t, recs)
		o.Now = func() time.Time { return teamNow }
	}).Handler()
	var got usersJSON
	get(t, h, "/api/v1/users", &got)
	want := map[string][]usage.Record{"": {recs[4]}, "alice": recs[0:2], "bob": recs[2:4]}
	if len(got.Users) != 3 || got.Users[0].User != "" || got.Users[1].User != "alice" || got.Users[2].User != "bob" {
		t.Fatalf("users = %+v, want \"\", alice, bob in order", got.Users)
	}
	for _, u := range got.Users {
		w := want[u.User]
		var tok usage.Tokens
		for _, r := range w {
			tok = tok.Add(r.Tokens)
		}
		if u.TotalTokens != tok.Total() || u.Entries != int64(len(w)) || !near(u.CostUSD, costOf(w...)) {
			t.Errorf("user %q = %d tokens %d entries $%f, want %d, %d, $%f",
				u.User, u.TotalTokens, u.Entries, u.CostUSD, tok.Total(), len(w), costOf(w...))
		}
		if u.Machines != nil || u.TokenCount != nil {
			t.Errorf("user %q has machines %v / token_count %v without a team store", u.User, u.Machines, u.TokenCount)
		}
	}
	if !near(got.Totals.CostUSD, costOf(recs...)) {
		t.Errorf("totals cost = %f, want %f", got.Totals.CostUSD, costOf(recs...))
	}
}

func TestUsersOfCorpus(t *testing.T) {
	var got usersJSON
	get(t, newServer(t, nil).Handler(), "/api/v1/users", &got)
	if len(got.Users) != 1 || got.Users[0].User != "" {
		t.Fatalf("users = %+v, want the one local user \"\"", got.Users)
	}
	checkFigures(t, "local user", got.Users[0].agg, fixture.expected.Totals)
}

// teamStore adds usage.TeamStore to a store, with fixed users.
type teamStore struct {
	usage.Store
	users []usage.UserTotals
	err   error
}

func (s teamStore) CreateToken(context.Context, string) (string, error) {
	return "", errors.New("not used")
}

func (s teamStore) UserForToken(context.Context, string) (string, error) {
	return "", errors.New("not used")
}

func (s teamStore) Users(context.Context) ([]usage.UserTotals, error) { return s.users, s.err }

func TestUsersOfTeamStore(t *testing.T) {
	recs := teamRecords()
	ts := teamStore{Store: synthStore(t, recs), users: []usage.UserTotals{
		{User: "alice", Machines: []string{"laptop", "desktop"}, TokenCount: 2},
		{User: "bob", TokenCount: 1},
		{User: "carol", TokenCount: 1}, // a token, no records yet
	}}
	h := newServer(t, func(o *options) { o.Store = ts; o.Now = func() time.Time { return teamNow } }).Handler()
	var got usersJSON
	get(t, h, "/api/v1/users", &got)
	names := []string{}
	for _, u := range got.Users {
		names = append(names, u.User)
	}
	if strings.Join(names, ",") != ",alice,bob,carol" {
		t.Fatalf("users = %q, want \"\", alice, bob, carol", names)
	}
	alice, bob, carol := got.Users[1], got.Users[2], got.Users[3]
	if strings.Join(alice.Machines, ",") != "laptop,desktop" || alice.TokenCount == nil || *alice.TokenCount != 2 {
		t.Errorf("alice = machines %v tokens %v, want laptop,desktop and 2", alice.Machines, alice.TokenCount)
	}
	if alice.Entries != 2 || !near(alice.CostUSD, costOf(recs[0:2]...)) {
		t.Errorf("alice = %d entries $%f, want 2 and $%f", alice.Entries, alice.CostUSD, costOf(recs[0:2]...))
	}
	if bob.Machines == nil || len(bob.Machines) != 0 {
		t.Errorf("bob's machines = %#v, want an empty list", bob.Machines)
	}
	if carol.Entries != 0 || carol.TotalTokens != 0 || carol.TokenCount == nil || *carol.TokenCount != 1 {
		t.Errorf("carol = %+v, want no usage and 1 token", carol)
	}

	ts.err = errors.New("database is gone")
	h = newServer(t, func(o *options) { o.Store = ts }).Handler()
	r := do(t, h, http.MethodGet, "/api/v1/users", nil)
	wantError(t, r, http.StatusInternalServerError, "INTERNAL_ERROR")
}

// TestUserFilterEveryView checks that ?user=alice gives, on every view,
// exactly what a server holding only alice's records gives.
func TestUserFilterEveryView(t *testing.T) {
	recs := teamRecords()
	now := func() time.Time { return teamNow }
	team := newServer(t, func(o *options) { o.Store = synthStore(t, recs); o.Now = now }).Handler()
	alone := newServer(t, func(o *options) { o.Store = synthStore(t, recs[0:2]); o.Now = now }).Handler()
	for _, target := range []string{
		"/api/v1/stats",
		"/api/v1/stats/models?period=all",
		"/api/v1/stats/daily?start_date=2026-01-01&end_date=2026-01-05",
		"/api/v1/stats/trends?period=7d&granularity=hour",
		"/api/v1/stats/activity?period=all",
		"/api/v1/sessions",
		"/api/v1/sessions/session-alice",
		"/api/v1/projects",
		"/api/v1/export?format=json&start_date=2026-01-01&end_date=2026-01-05&breakdown=model",
		"/api/v1/blocks",
		"/api/v1/blocks/active",
	} {
		sep := "?"
		if strings.Contains(target, "?") {
			sep = "&"
		}
		got := get(t, team, target+sep+"user=alice", nil)
		want := get(t, alone, target, nil)
		g, w := stripGenerated(t, got.Env.Data), stripGenerated(t, want.Env.Data)
		if !bytes.Equal(g, w) {
			t.Errorf("%s?user=alice =\n%s\nwant (alice's records alone)\n%s", target, g, w)
		}
		if strings.Contains(target, "session-alice") {
			continue // alice's own session is hers with or without the filter
		}
		if all := get(t, team, target, nil); bytes.Equal(stripGenerated(t, all.Env.Data), w) {
			t.Errorf("%s without user equals alice's view; the test proves nothing", target)
		}
	}
	// POST /export reads the parameter from the query too.
	body := `{"format":"json","start_date":"2026-01-01","end_date":"2026-01-05"}`
	got := do(t, team, http.MethodPost, "/api/v1/export?user=alice", strings.NewReader(body))
	want := do(t, alone, http.MethodPost, "/api/v1/export", strings.NewReader(body))
	if !bytes.Equal(stripGenerated(t, got.Env.Data), stripGenerated(t, want.Env.Data)) {
		t.Errorf("POST /export?user=alice = %s, want %s", got.Env.Data, want.Env.Data)
	}
	// Another user's session is not alice's.
	r := do(t, team, http.MethodGet, "/api/v1/sessions/session-bob?user=alice", nil)
	wantError(t, r, http.StatusNotFound, "NOT_FOUND")
	// An unknown user has no usage, which is not an error.
	var stats struct {
		Summary agg `json:"summary"`
	}
	get(t, team, "/api/v1/stats?user=nobody", &stats)
	if stats.Summary.Entries != 0 {
		t.Errorf("nobody's entries = %d, want 0", stats.Summary.Entries)
	}
}

// stripGenerated re-encodes data without the export's generation time,
// the one field that differs between two identical requests.
func stripGenerated(t *testing.T, data json.RawMessage) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	if m, ok := v.(map[string]any); ok {
		delete(m, "generated_at")
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUserParamValidated(t *testing.T) {
	h := newServer(t, nil).Handler()
	long := strings.Repeat("x", usage.MaxNameLength+1)
	for _, target := range []string{
		"/api/v1/stats?user=",
		"/api/v1/stats/daily?user=%20alice",
		"/api/v1/sessions?user=a%0Ab",
		"/api/v1/projects?user=" + long,
		"/api/v1/export?user=%FF",
	} {
		r := do(t, h, http.MethodGet, target, nil)
		wantError(t, r, http.StatusBadRequest, "INVALID_PARAMS", "user")
	}
	// History is global: the parameter is not one of its own.
	get(t, h, "/api/v1/stats/history?user=alice", nil)
}

func TestDashboardLoadsWithoutToken(t *testing.T) {
	static := fstest.MapFS{
		"index.html": {Data: []byte("<h1>dashboard</h1>")},
		"app.js":     {Data: []byte("// app")},
	}
	h := newServer(t, func(o *options) { o.Static = static; o.AuthToken = "s3cret" }).Handler()
	for _, tc := range []struct {
		method, target, auth string
		want                 int
	}{
		{http.MethodGet, "/", "", http.StatusOK},
		{http.MethodHead, "/", "", http.StatusOK},
		{http.MethodGet, "/app.js", "", http.StatusOK},
		{http.MethodGet, "/missing.css", "", http.StatusNotFound},
		{http.MethodGet, "/api/v1/stats", "", http.StatusUnauthorized},
		{http.MethodGet, "/api/v1/stats", "Bearer s3cret", http.StatusOK},
		{http.MethodGet, "/api/v1/users", "", http.StatusUnauthorized},
		{http.MethodGet, "/api/v1/blocks/active", "", http.StatusUnauthorized},
		{http.MethodGet, "/api/v1/unknown", "", http.StatusUnauthorized},
		{http.MethodGet, "/api/v1", "", http.StatusUnauthorized},
		{http.MethodGet, "/metrics", "", http.StatusUnauthorized},
		{http.MethodPost, "/", "", http.StatusUnauthorized},
	} {
		r := do(t, h, tc.method, tc.target, nil, "Authorization", tc.auth)
		if r.Code != tc.want {
			t.Errorf("%s %s (auth %q) = %d, want %d", tc.method, tc.target, tc.auth, r.Code, tc.want)
		}
	}
	// Without a dashboard nothing outside the API is exempt.
	h = newServer(t, func(o *options) { o.AuthToken = "s3cret" }).Handler()
	if r := do(t, h, http.MethodGet, "/", nil); r.Code != http.StatusUnauthorized {
		t.Errorf("GET / without a dashboard = %d, want 401", r.Code)
	}
}
