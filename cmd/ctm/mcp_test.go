package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// mcpSession runs ctm mcp with args in-process on pipes, as Claude Code
// runs it on a child's stdin and stdout, and connects the SDK's client.
func mcpSession(t *testing.T, env *environ, clock func() time.Time, args ...string) *mcp.ClientSession {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	var stderr bytes.Buffer
	srvEnv := *env
	srvEnv.stdin, srvEnv.stdout, srvEnv.stderr = inR, outW, &stderr
	done := make(chan int, 1)
	go func() {
		done <- runMCPAt(context.Background(), append([]string{}, args...), &srvEnv, clock)
		_ = outW.Close()
	}()
	client := mcp.NewClient(&mcp.Implementation{Name: "ctm-test", Version: "1"}, nil)
	cs, err := client.Connect(t.Context(), &mcp.IOTransport{Reader: outR, Writer: inW}, nil)
	if err != nil {
		t.Fatalf("connect: %v; stderr:\n%s", err, &stderr)
	}
	t.Cleanup(func() {
		_ = cs.Close()
		_ = inW.Close() // EOF on stdin ends the server
		if code := <-done; code != 0 {
			t.Errorf("ctm mcp exited %d; stderr:\n%s", code, &stderr)
		}
	})
	return cs
}

// exactJSON decodes b keeping numbers as written, so that money compares
// to the last digit.
func exactJSON(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %.200s: %v", b, err)
	}
	return v
}

func resultText(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	if len(res.Content) != 1 {
		t.Fatalf("content has %d parts, want 1", len(res.Content))
	}
	text, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		t.Fatalf("content is %T, want text", res.Content[0])
	}
	return text.Text
}

func TestMCPMatchesCLI(t *testing.T) {
	budgets := filepath.Join(t.TempDir(), "budgets.json")
	if err := os.WriteFile(budgets, []byte(`{"budgets":[{"id":"m","period":"monthly","amount_usd":10},
		{"id":"d","period":"daily","amount_usd":1,"project":"/tmp/test"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env, _, _ := testEnv(t, filepath.Join(realDir(t), "claude-real"), "BUDGETS_FILE="+budgets)
	// The corpus has an active block at this time.
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	cases := []struct {
		tool string
		args map[string]any
		cli  []string
	}{
		{"daily_report", nil, []string{"daily", "--json"}},
		{"weekly_report", map[string]any{"tz": "Asia/Kolkata", "breakdown": true}, []string{"weekly", "--json", "--tz", "Asia/Kolkata", "--breakdown"}},
		{"monthly_report", map[string]any{"since": "2026-01-01", "until": "2026-02-15", "order": "desc"}, []string{"monthly", "--json", "--since", "2026-01-01", "--until", "2026-02-15", "--order", "desc"}},
		{"sessions", map[string]any{"sort": "cost", "order": "desc", "breakdown": true}, []string{"session", "--json", "--sort", "cost", "--order", "desc", "--breakdown"}},
		{"projects", map[string]any{"since": "2026-02-01", "tz": "America/New_York"}, []string{"projects", "--json", "--since", "2026-02-01", "--tz", "America/New_York"}},
	}
	want := map[string][]byte{}
	for _, c := range cases {
		want[c.tool] = ctm(t, env, c.cli...)
	}
	out := env.stdout.(*bytes.Buffer)
	out.Reset()
	if code := runBlocksAt(t.Context(), []string{"--active", "--json", "--plan", "max5"}, env, clock); code != 0 {
		t.Fatalf("ctm blocks: exit %d: %s", code, env.stderr)
	}
	want["current_block"] = bytes.Clone(out.Bytes())
	out.Reset()
	if code := runBudgetAt(t.Context(), []string{"--json"}, env, clock); code != 0 {
		t.Fatalf("ctm budget: exit %d: %s", code, env.stderr)
	}
	want["budgets"] = bytes.Clone(out.Bytes())
	cases = append(cases, struct {
		tool string
		args map[string]any
		cli  []string
	}{"current_block", nil, nil}, struct {
		tool string
		args map[string]any
		cli  []string
	}{"budgets", nil, []string{"budget", "--json"}})

	cs := mcpSession(t, env, clock, "--plan", "max5")
	ctx := t.Context()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	schemas := map[string]*mcp.Tool{}
	for _, tool := range tools.Tools {
		schemas[tool.Name] = tool
	}
	var names []string
	for n := range schemas {
		names = append(names, n)
	}
	slices.Sort(names)
	if wantNames := []string{"breakdown", "budgets", "current_block", "daily_report", "monthly_report", "projects", "prompts", "session", "sessions", "weekly_report"}; !slices.Equal(names, wantNames) {
		t.Fatalf("tools = %v, want %v", names, wantNames)
	}
	for _, c := range cases {
		tool := schemas[c.tool]
		props, _ := tool.InputSchema.(map[string]any)["properties"].(map[string]any)
		for arg := range c.args {
			if props[arg] == nil {
				t.Errorf("%s: input schema has no %q: %v", c.tool, arg, tool.InputSchema)
			}
		}
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: c.tool, Arguments: c.args})
		if err != nil {
			t.Fatalf("%s: %v", c.tool, err)
		}
		text := resultText(t, res)
		if res.IsError {
			t.Fatalf("%s: tool error %s", c.tool, text)
		}
		if got, w := exactJSON(t, []byte(text)), exactJSON(t, want[c.tool]); !reflect.DeepEqual(got, w) {
			t.Errorf("%s(%v) =\n%.2000s\nctm %s =\n%.2000s", c.tool, c.args, text, strings.Join(c.cli, " "), want[c.tool])
		}
		checkOutputSchema(t, tool, text)
	}
	// The active block really is there, so the comparison above covers it.
	var blocks struct {
		Blocks []struct {
			IsActive    bool `json:"is_active"`
			LimitStatus *struct {
				Status string `json:"status"`
			} `json:"limit_status"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(want["current_block"], &blocks); err != nil || len(blocks.Blocks) != 1 ||
		!blocks.Blocks[0].IsActive || blocks.Blocks[0].LimitStatus == nil {
		t.Errorf("ctm blocks --active --json at %v = %s (%v), want one active block with a limit status", now, want["current_block"], err)
	}
}

// checkOutputSchema checks that text, a result of tool, is what the
// tool's output schema promises.
func checkOutputSchema(t *testing.T, tool *mcp.Tool, text string) {
	t.Helper()
	raw, err := json.Marshal(tool.OutputSchema)
	if err != nil {
		t.Fatal(err)
	}
	var schema jsonschema.Schema
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatalf("%s: output schema: %v", tool.Name, err)
	}
	resolved, err := schema.Resolve(nil)
	if err != nil {
		t.Fatalf("%s: output schema: %v", tool.Name, err)
	}
	var structured any
	if err := json.Unmarshal([]byte(text), &structured); err != nil {
		t.Fatal(err)
	}
	if err := resolved.Validate(structured); err != nil {
		t.Errorf("%s: result does not match its output schema: %v", tool.Name, err)
	}
}

func TestMCPBadArgumentsNameTheArgument(t *testing.T) {
	env, _, _ := testEnv(t, filepath.Join(realDir(t), "claude-real"))
	cs := mcpSession(t, env, nil)
	for _, c := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{"daily_report", map[string]any{"since": "2026-02-30"}, "since: "},
		{"daily_report", map[string]any{"until": "20260301x"}, "until: "},
		{"weekly_report", map[string]any{"since": "2026-03-01", "until": "2026-01-01"}, "since 2026-03-01 is after until 2026-01-01"},
		{"monthly_report", map[string]any{"tz": "Mars/Olympus_Mons"}, "tz: "},
		{"monthly_report", map[string]any{"order": "up"}, "order: "},
		{"sessions", map[string]any{"sort": "name"}, "sort: "},
		{"projects", map[string]any{"project": "no-such-project-anywhere"}, "project: "},
		{"daily_report", map[string]any{"breakdown": "yes"}, "breakdown"},
		{"current_block", map[string]any{"tz": 7}, "tz"},
		{"daily_report", map[string]any{"since": "20260230"}, "since: "},
		{"sessions", map[string]any{"until": "2026-0301"}, "until: "},
		{"session", map[string]any{}, `"id"`},
		{"session", map[string]any{"id": "no-such-session"}, "id: "},
		{"session", map[string]any{"id": strings.Repeat("x", 201)}, "id: "},
		{"session", map[string]any{"id": "132b2f66-ee5f-46f6-8904-32d9dc4d36c3", "tz": "Nowhere/Else"}, "tz: "},
	} {
		res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: c.tool, Arguments: c.args})
		if err != nil {
			t.Fatalf("%s(%v): %v, want a tool error", c.tool, c.args, err)
		}
		if text := resultText(t, res); !res.IsError || !strings.Contains(text, c.want) {
			t.Errorf("%s(%v) = error %v, %q; want a tool error naming %q", c.tool, c.args, res.IsError, text, c.want)
		}
	}
}

// TestMCPSessionMatchesAPI compares the session tool with GET
// /api/v1/sessions/{id} of a real ctm serve over the same data, and
// checks that the report tools take the CLI's YYYYMMDD days.
func TestMCPSessionMatchesAPI(t *testing.T) {
	const id = "132b2f66-ee5f-46f6-8904-32d9dc4d36c3"
	corpus := filepath.Join(realDir(t), "claude-real")
	serveEnv, _, _ := testEnv(t, corpus, "BACKEND_PORT=0")
	logs := &syncBuffer{}
	serveEnv.stderr = logs
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() { code <- run(ctx, []string{"serve"}, serveEnv) }()
	t.Cleanup(func() {
		cancel()
		if c := <-code; c != 0 {
			t.Errorf("serve exit = %d; log:\n%s", c, logs)
		}
	})
	var base string
	for deadline := time.Now().Add(20 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		base = servedAt(logs.String())
	}
	if base == "" {
		t.Fatalf("serve did not start:\n%s", logs)
	}
	var api []byte
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(base + "/api/v1/sessions/" + id)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			var env struct {
				Data json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(body, &env); err != nil {
				t.Fatal(err)
			}
			api = env.Data
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /sessions/%s: %d %s", id, resp.StatusCode, body)
		}
	}

	env, _, _ := testEnv(t, corpus)
	cs := mcpSession(t, env, nil)
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "session", Arguments: map[string]any{"id": id}})
	if err != nil {
		t.Fatal(err)
	}
	text := resultText(t, res)
	if res.IsError {
		t.Fatalf("session: tool error %s", text)
	}
	if got, want := exactJSON(t, []byte(text)), exactJSON(t, api); !reflect.DeepEqual(got, want) {
		t.Errorf("session(%s) =\n%.2000s\nGET /api/v1/sessions/%s =\n%.2000s", id, text, id, api)
	}
	tools, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range tools.Tools {
		if tool.Name == "session" {
			checkOutputSchema(t, tool, text)
		}
	}
	var detail struct {
		SessionID string `json:"session_id"`
		Entries   int64  `json:"entries"`
		Timeline  []struct {
			Timestamp string `json:"timestamp"`
		} `json:"timeline"`
	}
	if err := json.Unmarshal([]byte(text), &detail); err != nil || detail.SessionID != id || detail.Entries == 0 ||
		int64(len(detail.Timeline)) != detail.Entries {
		t.Errorf("session = %.300s (%v), want session %s with a timeline entry per response", text, err, id)
	}
	// tz shows the same responses in another zone.
	res, err = cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "session", Arguments: map[string]any{"id": id, "tz": "Asia/Kolkata"}})
	if err != nil || res.IsError {
		t.Fatalf("session with tz: %v %v", err, res)
	}
	var inZone struct {
		Timeline []struct {
			Timestamp string `json:"timestamp"`
		} `json:"timeline"`
	}
	if err := json.Unmarshal([]byte(resultText(t, res)), &inZone); err != nil || len(inZone.Timeline) != len(detail.Timeline) ||
		!strings.HasSuffix(inZone.Timeline[0].Timestamp, "+05:30") {
		t.Errorf("session in Asia/Kolkata: %v, first of %d at %v, want +05:30", err, len(inZone.Timeline), inZone.Timeline)
	}

	// The report tools take days as the CLI does, YYYYMMDD included.
	want := ctm(t, env, "daily", "--json", "--since", "20260201", "--until", "20260215")
	res, err = cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "daily_report",
		Arguments: map[string]any{"since": "20260201", "until": "2026-02-15"}})
	if err != nil || res.IsError {
		t.Fatalf("daily_report with YYYYMMDD: %v %v", err, res)
	}
	if got := resultText(t, res); !reflect.DeepEqual(exactJSON(t, []byte(got)), exactJSON(t, want)) {
		t.Errorf("daily_report(since 20260201) =\n%.1000s\nctm daily --since 20260201 =\n%.1000s", got, want)
	}
}

// TestMCPInsightToolsTakeCompactDays: breakdown and prompts take days as
// the report tools and the CLI do, YYYYMMDD included, and give what ctm
// breakdown and ctm prompts give for them.
func TestMCPInsightToolsTakeCompactDays(t *testing.T) {
	env, _, _ := testEnv(t, filepath.Join(realDir(t), "claude-real"))
	cs := mcpSession(t, env, nil)
	for _, c := range []struct {
		tool string
		args map[string]any
		cli  []string
	}{
		{"breakdown", map[string]any{"by": "model", "since": "20260201", "until": "20260215"},
			[]string{"breakdown", "--by", "model", "--json", "--since", "2026-02-01", "--until", "2026-02-15"}},
		{"prompts", map[string]any{"top": 5, "since": "20260201", "until": "2026-02-15"},
			[]string{"prompts", "--top", "5", "--json", "--since", "2026-02-01", "--until", "2026-02-15"}},
	} {
		want := ctm(t, env, c.cli...)
		res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: c.tool, Arguments: c.args})
		if err != nil {
			t.Fatal(err)
		}
		got := resultText(t, res)
		if res.IsError {
			t.Errorf("%s(%v): tool error %s", c.tool, c.args, got)
			continue
		}
		if !reflect.DeepEqual(exactJSON(t, []byte(got)), exactJSON(t, want)) {
			t.Errorf("%s(%v) =\n%.600s\nctm %v =\n%.600s", c.tool, c.args, got, c.cli, want)
		}
	}
}
