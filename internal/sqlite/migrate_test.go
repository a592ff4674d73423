package sqlite

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"
)

// userVersion reads the header's user_version of the database at path.
func userVersion(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMigrationCountInHeader(t *testing.T) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir := t.TempDir()

	// A new database records the count in the transaction that migrates.
	fresh := filepath.Join(dir, "new.db")
	s := mustOpen(t, fresh)
	s.Close()
	if v := userVersion(t, fresh); v != len(names) {
		t.Fatalf("user_version of a new database = %d, want %d migrations", v, len(names))
	}

	// A current database of a release that did not keep the count (0):
	// the migrations table tells, and the count is written.
	old := filepath.Join(dir, "old.db")
	migratedBefore(t, old, "migrations/~")
	if v := userVersion(t, old); v != 0 {
		t.Fatalf("user_version before = %d", v)
	}
	s = mustOpen(t, old)
	s.Close()
	if v := userVersion(t, old); v != len(names) {
		t.Fatalf("user_version after opening a current old database = %d, want %d", v, len(names))
	}

	// A database missing the last migration, with a stale count, gets it.
	behind := filepath.Join(dir, "behind.db")
	migratedBefore(t, behind, names[len(names)-1], "PRAGMA user_version = 3")
	s = mustOpen(t, behind)
	var n int
	if err := s.writer.QueryRowContext(ctx, `SELECT count(*) FROM migrations WHERE name = ?`, names[len(names)-1]).Scan(&n); err != nil || n != 1 {
		t.Fatalf("last migration recorded %d times (%v), want once", n, err)
	}
	s.Close()
	if v := userVersion(t, behind); v != len(names) {
		t.Fatalf("user_version after the last migration = %d, want %d", v, len(names))
	}

	// A newer release's database (more migrations) opens as current.
	newer := filepath.Join(dir, "newer.db")
	mustOpen(t, newer).Close()
	db, err := sql.Open("sqlite", "file:"+newer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`PRAGMA user_version = 9999`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	mustOpen(t, newer).Close()
	if v := userVersion(t, newer); v != 9999 {
		t.Errorf("user_version of a newer database = %d, want it left at 9999", v)
	}
}
