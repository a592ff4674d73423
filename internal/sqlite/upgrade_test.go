package sqlite

import (
	"context"
	"database/sql"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/ingest"
	"github.com/claude-token-monitor/ctm/internal/storetest"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// previousRelease creates at path the database the first release wrote:
// its migrations (0001 to 0103) and rows in its record and rollup shape.
func previousRelease(t *testing.T, path string, exec ...string) {
	t.Helper()
	migratedBefore(t, path, "migrations/0104", exec...)
}

// migratedBefore creates at path a database with the migrations named
// before cut applied, then runs exec.
func migratedBefore(t *testing.T, path, cut string, exec ...string) {
	t.Helper()
	// 0114 calls the function that Open registers.
	if err := registerKeyHash(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		t.Fatal(err)
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if name >= cut {
			break
		}
		body, err := fs.ReadFile(migrationFS, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := db.Exec(`INSERT INTO migrations VALUES (?, 0)`, name); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range exec {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestUpgradeFromFirstRelease: a database of the first release opens,
// migrates in place and loses no record; every record gets its exact cost,
// and the fields that release did not keep are filled from the transcripts
// that still exist.
func TestUpgradeFromFirstRelease(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	claude := filepath.Join(dir, "claude")
	transcript := filepath.Join(claude, "projects", "-p", "s1.jsonl")
	if err := os.MkdirAll(filepath.Dir(transcript), 0o755); err != nil {
		t.Fatal(err)
	}
	// Fast, US residency, and a gateway's zeros under a flat cache-write
	// count: the first release stored 0 cache writes and no geo for it.
	line := `{"type":"assistant","uuid":"u1","sessionId":"s1","cwd":"/p","timestamp":"2026-11-02T10:00:00.000Z","requestId":"req_1",` +
		`"message":{"id":"msg_1","model":"claude-opus-4-8","usage":{"input_tokens":1000,"output_tokens":2000,` +
		`"cache_creation_input_tokens":4000,"cache_read_input_tokens":0,` +
		`"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"speed":"fast","inference_geo":"us"}}}` + "\n"
	if err := os.WriteFile(transcript, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(transcript)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "monitor.db")
	ts1 := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC).UnixMilli()
	ts2 := time.Date(2025, 8, 14, 9, 0, 0, 0, time.UTC).UnixMilli()
	previousRelease(t, path,
		`INSERT INTO records (key, message_id, request_id, ts, model, session_id, project, cwd, git_branch, version,
			is_sidechain, service_tier, speed, user, machine, input, output, cache_creation_5m, cache_creation_1h,
			cache_read, web_search_requests) VALUES
			('msg_1:req_1', 'msg_1', 'req_1', `+itoa(ts1)+`, 'claude-opus-4-8', 's1', '/p', '/p', '', '', 0, '', 'fast', '', '', 1000, 2000, 0, 0, 0, 0),
			('msg_gone:req_gone', 'msg_gone', 'req_gone', `+itoa(ts2)+`, 'claude-sonnet-4-20250514', 's0', '/old', '/old', 'main', '1.0.80', 0, 'standard', '', '', '', 250000, 1000, 0, 0, 0, 2)`,
		`INSERT INTO rollup SELECT ts / 900000, session_id, project, user, model,
			input + cache_creation_5m + cache_creation_1h + cache_read > 200000, sum(input), sum(output),
			sum(cache_creation_5m), sum(cache_creation_1h), sum(cache_read), sum(web_search_requests), count(*), min(ts), max(ts)
			FROM records GROUP BY 1, 2, 3, 4, 5, 6`,
		`INSERT INTO files VALUES ('`+transcript+`', 0, 0, `+itoa(fi.Size())+`, `+itoa(fi.ModTime().UnixNano())+`, `+itoa(fi.Size())+`, 0),
			('/gone/s0.jsonl', 0, 0, 10, NULL, 10, 0)`,
		`INSERT INTO snapshots (ts, input, output, cache_creation_5m, cache_creation_1h, cache_read, web_search_requests, cost_usd, entries)
			VALUES (1, 1, 2, 3, 4, 5, 6, 12.3456789, 7)`,
	)

	s, err := Open(ctx, path, storetest.Prices)
	if err != nil {
		t.Fatalf("open a first-release database: %v", err)
	}
	defer s.Close()
	recs, err := s.Records(ctx, usage.Filter{}, usage.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("after the upgrade %d records, want both", len(recs))
	}
	for _, r := range recs {
		if want, _ := storetest.Prices.Price(&r); r.Cost != want || r.Cost == 0 {
			t.Errorf("record %s: cost %s, want its price %s", r.Key, r.Cost, want)
		}
	}
	// The record whose transcript is gone is billed at long-context rates
	// (250,000 prompt tokens on Sonnet 4) with its web searches.
	if recs[0].Key != "msg_gone:req_gone" || recs[0].Cost.String() != "1.5425" {
		t.Errorf("the kept record costs %s, want 1.5425 (250k x $6 + 1k x $22.50 per million + 2 searches)", recs[0].Cost)
	}
	snaps, _, err := s.Snapshots(ctx, time.Time{}, time.Time{}, usage.Page{})
	if err != nil || len(snaps) != 1 || snaps[0].CostUSD.String() != "12.3456789" {
		t.Errorf("snapshot cost after the upgrade: %+v, %v", snaps, err)
	}

	// The next catch-up reads the transcript again and fills in what the
	// first release did not keep, without counting it twice.
	if _, err := ingest.New(s, []string{claude}, slog.New(slog.DiscardHandler), ingest.Options{}).Run(ctx); err != nil {
		t.Fatal(err)
	}
	recs, err = s.Records(ctx, usage.Filter{}, usage.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("after the catch-up %d records, want 2", len(recs))
	}
	r := recs[1]
	if r.InferenceGeo != "us" || r.CacheCreation5m != 4000 {
		t.Errorf("re-read record: geo %q, 5m writes %d; want us and 4000 (the fallback)", r.InferenceGeo, r.CacheCreation5m)
	}
	// (1,000 x 5 + 2,000 x 25 + 4,000 x 6.25) per million, x2 fast, x1.1 US.
	if r.Cost.String() != "0.176" {
		t.Errorf("re-read record costs %s, want 0.176", r.Cost)
	}
	buckets, err := s.Aggregate(ctx, usage.Filter{}, usage.ByNothing)
	if err != nil {
		t.Fatal(err)
	}
	var total usage.Money
	var entries int64
	for _, b := range buckets {
		total += b.Cost
		entries += b.Entries
	}
	if entries != 2 || total != recs[0].Cost+recs[1].Cost {
		t.Errorf("aggregate after the upgrade: %d entries, %s; want 2, %s", entries, total, recs[0].Cost+recs[1].Cost)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
