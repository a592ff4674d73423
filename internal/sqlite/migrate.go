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
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.writer.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (
		name       TEXT    PRIMARY KEY,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("create migrations table: %w", formatError(err))
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql") // sorted by name
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	for _, name := range names {
		if err := s.migrateFile(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// migrateFile applies one migration and records it in the same
// transaction, so a crash leaves it either fully applied and recorded or
// not at all. The check runs inside the transaction (which holds the write
// lock from BEGIN IMMEDIATE), so two processes opening a new database at
// once cannot both apply it.
func (s *Store) migrateFile(ctx context.Context, name string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM migrations WHERE name = ?`, name).Scan(&n); err != nil {
			return fmt.Errorf("migration %s: %w", name, formatError(err))
		}
		if n > 0 {
			return nil
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
		return nil
	})
}
