package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/claude-token-monitor/ctm/internal/views"
)

// getData GETs target from a real HTTP server and returns the envelope's
// status, data (numbers as written) and error message.
func getData(t *testing.T, base, target string) (int, any, string) {
	t.Helper()
	res, err := http.Get(base + target)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Data  json.RawMessage `json:"data"`
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("GET %s: %v: %.300s", target, err, body)
	}
	if env.Error != nil {
		return res.StatusCode, nil, env.Error.Message
	}
	return res.StatusCode, exact(t, env.Data), ""
}

func exact(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func marshalExact(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return exact(t, b)
}

// The insight routes answer the views' own figures, and name the
// parameter of a bad request.
func TestInsightRoutesServeTheViews(t *testing.T) {
	ts := httptest.NewServer(newServer(t, nil).Handler())
	defer ts.Close()
	v := &views.Views{Store: fixture.store, Prices: fixture.pricer, Location: time.UTC}
	for _, by := range views.BreakdownDims {
		q := views.BreakdownQuery{By: by, Since: "2026-01-01", Until: "2026-02-15"}
		want, err := v.Breakdown(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		code, got, msg := getData(t, ts.URL, "/api/v1/breakdown?by="+by+"&since=2026-01-01&until=2026-02-15")
		if code != 200 || !reflect.DeepEqual(got, marshalExact(t, want)) {
			t.Errorf("GET /breakdown?by=%s = %d %s %.500v, want %.500v", by, code, msg, got, marshalExact(t, want))
		}
	}
	want, err := v.Prompts(t.Context(), views.PromptsQuery{Top: 7})
	if err != nil {
		t.Fatal(err)
	}
	if code, got, msg := getData(t, ts.URL, "/api/v1/prompts?top=7"); code != 200 || !reflect.DeepEqual(got, marshalExact(t, want)) {
		t.Errorf("GET /prompts?top=7 = %d %s %.500v", code, msg, got)
	}
	// A session's prompts in time order, as the session dialog asks.
	sess := want.Prompts[0].SessionID
	want, err = v.Prompts(t.Context(), views.PromptsQuery{SessionID: sess, Sort: "time", Top: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if code, got, _ := getData(t, ts.URL, "/api/v1/prompts?top=10000&sort=time&session="+url.QueryEscape(sess)); code != 200 || !reflect.DeepEqual(got, marshalExact(t, want)) {
		t.Errorf("GET /prompts?session=%s = %d %.500v", sess, code, got)
	}
	// Another user's view holds none of the local records (user filter
	// reaches the prompts too).
	if code, got, _ := getData(t, ts.URL, "/api/v1/prompts?user=nobody"); code != 200 || len(got.(map[string]any)["prompts"].([]any)) != 0 {
		t.Errorf("GET /prompts?user=nobody = %d %v", code, got)
	}
	for _, c := range []struct{ target, want string }{
		{"/api/v1/breakdown?by=colour", "by: "},
		{"/api/v1/breakdown?since=2026-02-30", "since: "},
		{"/api/v1/breakdown?until=yesterday", "until: "},
		{"/api/v1/breakdown?project=no-such-project", "project: "},
		{"/api/v1/prompts?top=0", "top: "},
		{"/api/v1/prompts?top=many", "top: "},
		{"/api/v1/prompts?sort=name", "sort: "},
		{"/api/v1/prompts?session=" + strings.Repeat("x", 300), "session: "},
		{"/api/v1/prompts?user=%20bad", "user: "},
	} {
		code, _, msg := getData(t, ts.URL, c.target)
		if (code != 400 && code != 404) || !strings.HasPrefix(msg, c.want) {
			t.Errorf("GET %s = %d %q, want 400/404 naming %q", c.target, code, msg, c.want)
		}
	}
}

// GET /sessions splits each listed session's cost between its own
// requests and its subagents', as GET /sessions/{id} does.
func TestSessionsSplitMainAndSubagents(t *testing.T) {
	ts := httptest.NewServer(newServer(t, nil).Handler())
	defer ts.Close()
	type split struct {
		SessionID        string      `json:"session_id"`
		CostUSD          json.Number `json:"cost_usd"`
		CostMainUSD      json.Number `json:"cost_main_usd"`
		CostSubagentsUSD json.Number `json:"cost_subagents_usd"`
	}
	money := func(n json.Number) usage.Money {
		m, err := usage.ParseMoney(n.String())
		if err != nil {
			t.Fatalf("cost %q: %v", n, err)
		}
		return m
	}
	withSubagents := 0
	for _, target := range []string{"/api/v1/sessions?sort=cost&limit=500", "/api/v1/sessions?limit=3&offset=2&start_date=2026-01-01"} {
		code, data, msg := getData(t, ts.URL, target)
		if code != 200 {
			t.Fatalf("GET %s = %d %s", target, code, msg)
		}
		raw, _ := json.Marshal(data.(map[string]any)["sessions"])
		var list []split
		if err := json.Unmarshal(raw, &list); err != nil || len(list) == 0 {
			t.Fatalf("GET %s: %v, %d sessions", target, err, len(list))
		}
		for _, s := range list {
			if money(s.CostMainUSD).Add(money(s.CostSubagentsUSD)) != money(s.CostUSD) {
				t.Errorf("%s: session %s: main %s + subagents %s != cost %s", target, s.SessionID, s.CostMainUSD, s.CostSubagentsUSD, s.CostUSD)
			}
			if money(s.CostSubagentsUSD) > 0 {
				withSubagents++
			}
			if strings.Contains(target, "sort=cost") {
				_, d, _ := getData(t, ts.URL, "/api/v1/sessions/"+s.SessionID)
				dm := d.(map[string]any)
				if dm["cost_main_usd"].(json.Number) != s.CostMainUSD || dm["cost_subagents_usd"].(json.Number) != s.CostSubagentsUSD {
					t.Errorf("session %s: the list splits %s/%s, the detail %v/%v", s.SessionID, s.CostMainUSD, s.CostSubagentsUSD, dm["cost_main_usd"], dm["cost_subagents_usd"])
				}
			}
		}
	}
	if withSubagents == 0 {
		t.Errorf("no session of the corpus has subagent cost")
	}
}
