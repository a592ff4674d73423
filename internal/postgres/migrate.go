package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
)

// migrationFS holds the schema as numbered files. A file, once released,
// is never edited: a change is a new file, so every database reaches the
// same schema by applying the files it has not seen, in name order.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLock is the key of the transaction-scoped advisory lock that
// serialises migrations: several servers starting at once against one
// database must not apply the same file twice.
const migrationLock = 0x63746d5f6d6967 // "ctm_mig"

// migrate creates the migrations table and applies every embedded
// migration that it does not list.
func (s *Store) migrate(ctx context.Context) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			name       text        PRIMARY KEY,
			applied_at timestamptz NOT NULL
		)`)
		return err
	})
	if err != nil {
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
// transaction (PostgreSQL DDL is transactional), so a crash leaves it
// either fully applied and recorded or not at all.
func (s *Store) migrateFile(ctx context.Context, name string) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return fmt.Errorf("migration %s: lock: %w", name, formatError(err))
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE name = $1`, name).Scan(&n); err != nil {
			return fmt.Errorf("migration %s: %w", name, formatError(err))
		}
		if n > 0 {
			return nil
		}
		body, err := fs.ReadFile(migrationFS, name)
		if err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
		// No arguments: pgx uses the simple protocol, which runs every
		// statement of the file.
		if _, err := tx.Exec(ctx, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", name, formatError(err))
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)`,
			name, s.Now()); err != nil {
			return fmt.Errorf("migration %s: record: %w", name, formatError(err))
		}
		return nil
	})
}
