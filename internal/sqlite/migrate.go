package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
)

// migrationFS holds the schema as numbered files. A file, once released,
// is never edited: a change is a new file, so every database reaches the
// same schema by applying the files it has not seen, in name order.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migrate creates the migrations table and applies every embedded
// migration that it does not list.
//
// Nearly every open finds the schema current, and the database header's
// user_version tells at once: it holds the number of migrations applied,
// set in the transaction that applies them. Migrations are only ever
// added, in name order, so a count of at least this binary's means all of
// its own are in (a newer release's database has more). A database of a
// release before user_version was kept has 0 there; the migrations table
// tells, and the count is written once.
func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrationFS, "migrations/*.sql") // sorted by name
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	var version int
	if err := s.writer.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err == nil && version >= len(names) {
		return nil
	}
	if current, err := s.applied(ctx, names); err == nil && current {
		return s.write(ctx, func(tx *sql.Tx) error { return setUserVersion(ctx, tx) })
	}
	if _, err := s.writer.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (
		name       TEXT    PRIMARY KEY,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("create migrations table: %w", formatError(err))
	}
	return s.migrateFiles(ctx, names)
}

// applied reports whether every one of names is recorded as applied. An
// error (a new file without the migrations table) means the slow path
// must run, which creates the table and checks each name in a write
// transaction.
func (s *Store) applied(ctx context.Context, names []string) (bool, error) {
	rows, err := s.writer.QueryContext(ctx, `SELECT name FROM migrations`)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	done := make(map[string]bool, len(names))
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return false, err
		}
		done[name] = true
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	for _, name := range names {
		if !done[name] {
			return false, nil
		}
	}
	return true, nil
}

// migrateFiles applies, in one transaction, every migration of names
// that the migrations table does not list, and records each. A crash
// leaves them all applied and recorded or none, and a new database costs
// one commit rather than one per file. The check runs inside the
// transaction (which holds the write lock from BEGIN IMMEDIATE), so two
// processes opening a new database at once cannot both apply a file.
func (s *Store) migrateFiles(ctx context.Context, names []string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		done := map[string]bool{}
		rows, err := tx.QueryContext(ctx, `SELECT name FROM migrations`)
		if err != nil {
			return fmt.Errorf("migrations: %w", formatError(err))
		}
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				rows.Close()
				return fmt.Errorf("migrations: %w", formatError(err))
			}
			done[name] = true
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("migrations: %w", formatError(err))
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("migrations: %w", formatError(err))
		}
		for _, name := range names {
			if done[name] {
				continue
			}
			body, err := fs.ReadFile(migrationFS, name)
			if err != nil {
				return fmt.Errorf("migration %s: %w", name, err)
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("migration %s: %w", name, formatError(err))
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO migrations (name, applied_at) VALUES (?, ?)`,
				name, ms(s.Now())); err != nil {
				return fmt.Errorf("migration %s: record: %w", name, formatError(err))
			}
		}
		return setUserVersion(ctx, tx)
	})
}

// setUserVersion sets the header's user_version to the number of
// migrations the migrations table lists.
func setUserVersion(ctx context.Context, tx *sql.Tx) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM migrations`).Scan(&n); err != nil {
		return fmt.Errorf("migrations: count: %w", formatError(err))
	}
	// PRAGMA takes no bound parameters; n is an integer.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, n)); err != nil {
		return fmt.Errorf("migrations: user_version: %w", formatError(err))
	}
	return nil
}
