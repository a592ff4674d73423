package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/postgres/pgtest"
)

// teamServer starts "ctm serve" on PostgreSQL in this process and returns
// its base URL.
func teamServer(t *testing.T, dsn, admin string) string {
	t.Helper()
	env, _, _ := testEnv(t, t.TempDir(), "DATABASE_URL="+dsn, "AUTH_TOKEN="+admin, "BACKEND_PORT=0")
	logs := &syncBuffer{}
	env.stderr = logs
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve"}, env) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("team server exit %d:\n%s", code, logs)
		}
	})
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if u := servedAt(logs.String()); u != "" {
			return u
		}
	}
	t.Fatalf("team server did not start:\n%s", logs)
	return ""
}

// adminGet fetches an API route with the admin token.
func adminGet(t *testing.T, url, admin string, v any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &env) != nil || json.Unmarshal(env.Data, v) != nil {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
}

// TestTeamPushAndTelemetry runs the whole team flow: a token is created on
// the PostgreSQL server, a machine pushes the real corpus twice (counted
// once), a wrong token is refused, and a telemetry event is added.
func TestTeamPushAndTelemetry(t *testing.T) {
	dsn := pgtest.FreshSchema(t)
	const admin = "admin-token-for-tests"

	tokEnv, tokOut, _ := testEnv(t, t.TempDir(), "DATABASE_URL="+dsn)
	ctm(t, tokEnv, "token", "create", "--user", "alice@example.com")
	lines := strings.Split(strings.TrimSpace(tokOut.String()), "\n")
	token := lines[len(lines)-1]
	if !strings.HasPrefix(token, "ctm_") || strings.Contains(token, " ") {
		t.Fatalf("token create printed %q; want the token alone on the last line", tokOut)
	}

	base := teamServer(t, dsn, admin)
	machine, out, _ := testEnv(t, filepath.Join(realDir(t), "claude-real"))
	for range 2 {
		ctm(t, machine, "push", "--server", base, "--token", token, "--machine", "laptop")
		if !strings.Contains(out.String(), "pushed 1119 records") {
			t.Errorf("push printed %q", out)
		}
	}
	var stats struct {
		Summary row `json:"summary"`
	}
	adminGet(t, base+"/api/v1/stats?user=alice@example.com", admin, &stats)
	if stats.Summary.Entries != 1119 || stats.Summary.Total != 83850697 {
		t.Errorf("after two pushes: %d entries, %d tokens; want 1119 and 83850697 (counted once)", stats.Summary.Entries, stats.Summary.Total)
	}
	var users struct {
		Users []struct {
			User string `json:"user"`
		} `json:"users"`
	}
	adminGet(t, base+"/api/v1/users", admin, &users)
	if len(users.Users) != 1 || users.Users[0].User != "alice@example.com" {
		t.Errorf("users = %+v", users.Users)
	}

	_, _, errOut := testEnv(t, filepath.Join(realDir(t), "claude-real"))
	machine.stderr = errOut
	if code := run(context.Background(), []string{"push", "--server", base, "--token", "ctm_wrong"}, machine); code == 0 || !strings.Contains(errOut.String(), "refused the token") {
		t.Errorf("wrong token: exit %d, stderr %q", code, errOut)
	}

	event := `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"claude_code.api_request"},"attributes":[` +
		`{"key":"event.name","value":{"stringValue":"api_request"}},` +
		`{"key":"event.timestamp","value":{"stringValue":"` + time.Now().UTC().Format(time.RFC3339) + `"}},` +
		`{"key":"model","value":{"stringValue":"claude-sonnet-4-5"}},` +
		`{"key":"input_tokens","value":{"stringValue":"1000"}},{"key":"output_tokens","value":{"stringValue":"500"}},` +
		`{"key":"cache_read_tokens","value":{"stringValue":"0"}},{"key":"cache_creation_tokens","value":{"stringValue":"0"}},` +
		`{"key":"cost_usd","value":{"stringValue":"0.0105"}},{"key":"request_id","value":{"stringValue":"req_otel_e2e"}},` +
		`{"key":"session.id","value":{"stringValue":"s-otel"}}]}]}]}]}`
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/logs", strings.NewReader(event))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("OTLP post: %d %s", resp.StatusCode, body)
		}
	}
	adminGet(t, base+"/api/v1/stats?user=alice@example.com", admin, &stats)
	if stats.Summary.Entries != 1120 || stats.Summary.Total != 83850697+1500 {
		t.Errorf("after a telemetry event sent twice: %d entries, %d tokens; want 1120 and %d", stats.Summary.Entries, stats.Summary.Total, 83850697+1500)
	}
}

func TestTeamServerReportsPostgreSQL(t *testing.T) {
	dsn := pgtest.FreshSchema(t)
	const admin = "team-admin-token-0123456789"
	base := teamServer(t, dsn, admin)
	var health struct {
		Database map[string]any `json:"database"`
	}
	adminGet(t, base+"/api/v1/health", admin, &health)
	if health.Database["kind"] != "postgresql" || health.Database["path"] != nil {
		t.Errorf("health database = %v, want kind postgresql and no SQLite path", health.Database)
	}
	var cfg map[string]any
	adminGet(t, base+"/api/v1/config", admin, &cfg)
	if cfg["database"] != "postgresql" || cfg["database_path"] != nil {
		t.Errorf("config database = %v, database_path = %v; want postgresql and none", cfg["database"], cfg["database_path"])
	}
}
