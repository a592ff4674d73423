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
	conn := migratedTo(t, dsn, previousRelease)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
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

// migratedTo applies the migrations up to and including last to the
// empty schema of dsn, as the release that ended with last did, and
// returns a connection to it for the rows that release would have written.
func migratedTo(t *testing.T, dsn, last string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
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
		if name > last {
			break
		}
		body, err := fs.ReadFile(migrationFS, name)
		if err != nil {
			t.Fatal(err)
		}
		exec(string(body))
		exec(`INSERT INTO schema_migrations (name, applied_at) VALUES ($1, now())`, name)
	}
	return conn
}

// TestPartialFileStatesMigrate: a state stored from the middle of a file
// with the file's whole size claims after the upgrade only what was read,
// so that the next catch-up reads the rest; a file read to its end keeps
// its size.
func TestPartialFileStatesMigrate(t *testing.T) {
	dsn := pgtest.FreshSchema(t)
	ctx := context.Background()
	conn := migratedTo(t, dsn, "migrations/0006_budget_alerts.sql")
	mtime := time.Date(2026, 11, 2, 15, 4, 5, 0, time.UTC)
	for _, f := range []usage.FileState{
		{Path: "/c/projects/-p/half.jsonl", Device: 1, Inode: 2, Size: 9000, ModTime: mtime, Offset: 4000, Fingerprint: 77},
		{Path: "/c/projects/-p/whole.jsonl", Device: 1, Inode: 3, Size: 5000, ModTime: mtime, Offset: 5000, BadLines: 1, Fingerprint: 78},
	} {
		if _, err := conn.Exec(ctx, `INSERT INTO files (path, device, inode, size, mtime, "offset", bad_lines, fingerprint)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, f.Path, int64(f.Device), int64(f.Inode), f.Size,
			f.ModTime.UnixNano(), f.Offset, f.BadLines, int64(f.Fingerprint)); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close(ctx)

	files, err := mustOpenDSN(t, dsn).FileStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"/c/projects/-p/half.jsonl": 4000, "/c/projects/-p/whole.jsonl": 5000}
	if len(files) != len(want) {
		t.Fatalf("file states after the upgrade = %+v, want %d", files, len(want))
	}
	for p, size := range want {
		if g := files[p]; g.Size != size || g.Offset != size || !g.ModTime.Equal(mtime) {
			t.Errorf("state of %s after the upgrade = %+v, want size %d", p, g, size)
		}
	}
}
