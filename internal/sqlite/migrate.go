package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"strings"
)

// migrationFS holds the schema as numbered files. A file, once released,
// is never edited: a change is a new file, so every database reaches the
// same schema by applying the files it has not seen, in name order.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// schemaScript is the schema the migrations build, up to the one its first
// line names, as one script of a statement per table, index, view and
// trigger, and the rows the migrations insert. A new database runs it
// instead of each migration: the migrations rebuild tables, alter them and
// drop them, and SQLite parses the whole schema again after each such
// change, so creating a database took 14 to 18 ms, a tenth of the first
// index of 100 MB. Migrations after the one it names still run, so a
// script left behind by a new migration costs time, never a wrong schema.
// TestSchemaScript checks that both ways build the same schema and rows,
// and rewrites the file with -update.
//
//go:embed schema.sql
var schemaScript string

// migrationsTable creates the table of the migrations applied.
const migrationsTable = `CREATE TABLE IF NOT EXISTS migrations (
		name       TEXT    PRIMARY KEY,
		applied_at INTEGER NOT NULL
	) STRICT`

// schemaThrough returns the migration the script ends with, from its
// first line ("-- through <name>"), or "" when it names none.
func schemaThrough(script string) string {
	line, _, _ := strings.Cut(script, "\n")
	name, ok := strings.CutPrefix(line, "-- through ")
	if !ok {
		return ""
	}
	return "migrations/" + strings.TrimSpace(name)
}

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
	if version == 0 {
		if err := s.createSchema(ctx, names); err != nil {
			return err
		}
	}
	if current, err := s.applied(ctx, names); err == nil && current {
		return s.write(ctx, func(tx *sql.Tx) error { return setUserVersion(ctx, tx) })
	}
	if _, err := s.writer.ExecContext(ctx, migrationsTable); err != nil {
		return fmt.Errorf("create migrations table: %w", formatError(err))
	}
	// A migration that rewrites every row (0114 sets each record's
	// key_hash) keeps a statement journal of every page it changes, in
	// the writer's temp_store: in memory, that was 240 MB of peak RSS for
	// 300k records, growing with the data. In a file it costs the upgrade
	// little, and happens once.
	if _, err := s.writer.ExecContext(ctx, `PRAGMA temp_store = FILE`); err != nil {
		return fmt.Errorf("migrations: %w", formatError(err))
	}
	// Apply's upserts want it in memory again (see dsn); a connection
	// opened later gets it from the DSN anyway.
	defer s.writer.ExecContext(context.WithoutCancel(ctx), `PRAGMA temp_store = MEMORY`)
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

// createSchema runs schemaScript on a database that holds nothing yet,
// and records the migrations it stands for. It checks in the transaction,
// which holds the write lock, so that of two processes creating one
// database at once the second finds the schema and leaves it.
func (s *Store) createSchema(ctx context.Context, names []string) error {
	through := schemaThrough(schemaScript)
	if through == "" {
		return nil
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		var objects int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema`).Scan(&objects); err != nil {
			return fmt.Errorf("create schema: %w", formatError(err))
		}
		if objects > 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, migrationsTable); err != nil {
			return fmt.Errorf("create schema: %w", formatError(err))
		}
		if _, err := tx.ExecContext(ctx, schemaScript); err != nil {
			return fmt.Errorf("create schema: %w", formatError(err))
		}
		for _, name := range names {
			if name > through {
				break
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO migrations (name, applied_at) VALUES (?, ?)`,
				name, ms(s.Now())); err != nil {
				return fmt.Errorf("create schema: record %s: %w", name, formatError(err))
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
