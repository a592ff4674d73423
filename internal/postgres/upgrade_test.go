package postgres

import (
	"context"
	"io/fs"
	"testing"
	"time"

	"github.com/claude-token-monitor/ctm/internal/postgres/pgtest"
	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/jackc/pgx/v5"
)

// previousRelease is the last migration of the release before the file
// fingerprint; a database it wrote must open, migrate and lose nothing.
const previousRelease = "migrations/0002_request_id.sql"

func TestDatabaseOfPreviousReleaseMigrates(t *testing.T) {
	dsn := pgtest.FreshSchema(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TABLE schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL)`)
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if name > previousRelease {
			break
		}
		body, err := fs.ReadFile(migrationFS, name)
		if err != nil {
			t.Fatal(err)
		}
		exec(string(body))
		exec(`INSERT INTO schema_migrations (name, applied_at) VALUES ($1, now())`, name)
	}
	mtime := time.Date(2026, 3, 2, 15, 4, 5, 123456789, time.UTC)
	exec(`INSERT INTO files (path, device, inode, size, mtime, "offset", bad_lines) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		"/c/projects/-p/s1.jsonl", int64(7), int64(-3), int64(5000), mtime.UnixNano(), int64(4990), int64(2))
	conn.Close(ctx)

	s := mustOpenDSN(t, dsn)
	files, err := s.FileStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Migration 0003 sets every file to be read again from its start (the
	// records gain fields the previous release did not keep).
	want := usage.FileState{Path: "/c/projects/-p/s1.jsonl", Device: 7, Inode: 1<<64 - 3}
	got := files[want.Path]
	if len(files) != 1 || !got.ModTime.IsZero() {
		t.Fatalf("file states after the upgrade = %+v, want %+v", files, want)
	}
	if got != want {
		t.Errorf("file state after the upgrade = %+v, want %+v (fingerprint unknown)", got, want)
	}
	got.Fingerprint = 1<<63 + 9
	if err := s.Apply(ctx, usage.Batch{Files: []usage.FileState{got}}); err != nil {
		t.Fatal(err)
	}
	if files, err = s.FileStates(ctx); err != nil || files[want.Path].Fingerprint != got.Fingerprint {
		t.Errorf("fingerprint after Apply = %d, %v; want %d", files[want.Path].Fingerprint, err, got.Fingerprint)
	}
}
