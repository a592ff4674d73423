package sqlite

import (
	"database/sql"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// firstReleaseLast is the last migration of the release before the file
// fingerprint; a database it wrote must open, migrate and lose nothing.
const firstReleaseLast = "migrations/0103_rollup_insert_in_go.sql"

func TestDatabaseOfPreviousReleaseMigrates(t *testing.T) {
	path := tempPath(t)
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// The schema as the previous release left it, applied the way migrate
	// does, with a file state and a record in it.
	exec(`CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`)
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if name > firstReleaseLast {
			break
		}
		body, err := fs.ReadFile(migrationFS, name)
		if err != nil {
			t.Fatal(err)
		}
		exec(string(body))
		exec(`INSERT INTO migrations (name, applied_at) VALUES (?, 0)`, name)
	}
	mtime := time.Date(2026, 3, 2, 15, 4, 5, 123456789, time.UTC)
	exec(`INSERT INTO files (path, device, inode, size, mtime, "offset", bad_lines) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		"/c/projects/-p/s1.jsonl", 7, -3, 5000, mtime.UnixNano(), 4990, 2)
	exec(`INSERT INTO records (key, message_id, request_id, ts, model, session_id, project, cwd, git_branch, version,
		is_sidechain, service_tier, speed, user, machine, input, output, cache_creation_5m, cache_creation_1h,
		cache_read, web_search_requests) VALUES ('m1:r1', 'm1', 'r1', ?, 'claude-opus-4-6', 's1', '/p', '/p', '', '',
		0, '', '', '', '', 1, 2, 3, 4, 5, 0)`, mtime.UnixMilli())
	db.Close()

	s := mustOpen(t, path)
	files, err := s.FileStates(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Migration 0104 sets every file to be read again from its start (the
	// records gain fields the first release did not keep); the device and
	// inode stay.
	want := usage.FileState{Path: "/c/projects/-p/s1.jsonl", Device: 7, Inode: 1<<64 - 3}
	got := files[want.Path]
	if len(files) != 1 || !got.ModTime.IsZero() {
		t.Fatalf("file states after the upgrade = %+v, want %+v", files, want)
	}
	if got != want {
		t.Errorf("file state after the upgrade = %+v, want %+v (fingerprint unknown)", got, want)
	}
	recs, err := s.Records(t.Context(), usage.Filter{}, usage.Page{})
	if err != nil || len(recs) != 1 || recs[0].Key != "m1:r1" || recs[0].Output != 2 {
		t.Errorf("records after the upgrade = %+v, %v; want the one stored", recs, err)
	}
	// The new column is in use: a fingerprint round-trips.
	got.Fingerprint = 1<<63 + 9
	if err := s.Apply(t.Context(), usage.Batch{Files: []usage.FileState{got}}); err != nil {
		t.Fatal(err)
	}
	if files, err = s.FileStates(t.Context()); err != nil || files[want.Path].Fingerprint != got.Fingerprint {
		t.Errorf("fingerprint after Apply = %d, %v; want %d", files[want.Path].Fingerprint, err, got.Fingerprint)
	}
	if !strings.HasPrefix(firstReleaseLast, "migrations/0103") {
		t.Fatal("firstReleaseLast moved")
	}
}
