package sqlite

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite schema.sql from the migrations")

// randomColumns are the columns the migrations fill with random values:
// each database gets its own.
var randomColumns = map[string]bool{"generation.instance": true, "generation.files_gen": true, "generation.gen": true,
	"migrations.applied_at": true}

// drawnAgain are the columns the script draws at random (its last
// statement), written as their defaults meanwhile.
var drawnAgain = map[string]string{"generation.instance": "x''", "generation.files_gen": "0"}

// writeSchemaScript returns the script of the schema and rows that the
// migration files build in an empty database: each table, index, view
// and trigger as SQLite keeps its statement, then the rows, with the
// random columns drawn again.
func writeSchemaScript(t *testing.T) string {
	t.Helper()
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "migrated.db")
	migratedBefore(t, path, "migrations/~")
	return writeSchemaScriptFrom(t, path, names[len(names)-1])
}

// writeSchemaScriptFrom returns the script of the database at path, which
// the migrations through the one named through built.
func writeSchemaScriptFrom(t *testing.T, path, through string) string {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "-- through %s\n", strings.TrimPrefix(through, "migrations/"))
	b.WriteString(`-- The schema and rows that the migrations up to the one named above
-- build, in one script that a new database runs instead (see migrate.go).
-- Written by: go test ./internal/sqlite -run TestSchemaScript -update
-- Do not edit: add a migration, then write this file again.
`)
	var tables []string
	for _, typ := range []string{"table", "index", "view", "trigger"} {
		rows, err := db.Query(`SELECT name, sql FROM sqlite_schema WHERE type = ? AND sql IS NOT NULL
			AND name NOT LIKE 'sqlite_%' AND name != 'migrations' ORDER BY rowid`, typ)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name, q string
			if err := rows.Scan(&name, &q); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "\n%s;\n", q)
			if typ == "table" {
				tables = append(tables, name)
			}
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	b.WriteString("\n")
	for _, table := range tables {
		cols := columns(t, db, table)
		for _, vals := range literalRows(t, db, table, cols) {
			for i, c := range cols {
				if v, ok := drawnAgain[table+"."+c]; ok {
					vals[i] = v
				}
			}
			fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES (%s);\n", table, strings.Join(cols, ", "), strings.Join(vals, ", "))
		}
	}
	b.WriteString("UPDATE generation SET instance = randomblob(16), files_gen = random();\n")
	return b.String()
}

// columns returns the columns of table.
func columns(t *testing.T, db *sql.DB, table string) []string {
	t.Helper()
	rows, err := db.Query(`SELECT name FROM pragma_table_info(?)`, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	return cols
}

// literalRows returns the rows of table, each value as an SQL literal,
// in the order of their first column.
func literalRows(t *testing.T, db *sql.DB, table string, cols []string) [][]string {
	t.Helper()
	rows, err := db.Query(`SELECT ` + quoteAll(cols) + ` FROM "` + table + `" ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		vals := make([]string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// quoteAll selects each column as an SQL literal (quote()).
func quoteAll(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = `quote("` + c + `")`
	}
	return strings.Join(q, ", ")
}

// dumpDatabase describes a database's schema and rows, the random
// columns left out, one line each, sorted.
func dumpDatabase(t *testing.T, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []string
	rows, err := db.Query(`SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var typ, name, tbl, q string
		if err := rows.Scan(&typ, &name, &tbl, &q); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %s on %s: %s", typ, name, tbl, q))
		if typ == "table" {
			tables = append(tables, name)
		}
	}
	rows.Close()
	for _, table := range tables {
		cols := columns(t, db, table)
		for _, vals := range literalRows(t, db, table, cols) {
			for i, c := range cols {
				if randomColumns[table+"."+c] {
					vals[i] = "<random>"
				}
			}
			out = append(out, fmt.Sprintf("row %s: %s", table, strings.Join(vals, ", ")))
		}
	}
	for _, pragma := range []string{"user_version", "page_size", "auto_vacuum", "journal_mode", "encoding"} {
		var v string
		if err := db.QueryRow(`PRAGMA ` + pragma).Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, "pragma "+pragma+" = "+v)
	}
	slices.Sort(out)
	return out
}

// TestSchemaScript: a new database created by schema.sql has the schema
// and rows of one created by every migration, and its own random values.
func TestSchemaScript(t *testing.T) {
	want := writeSchemaScript(t)
	if *update {
		if err := os.WriteFile("schema.sql", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		schemaScript = want
	}
	if schemaScript != want {
		t.Fatal("schema.sql is not what the migrations build: run go test ./internal/sqlite -run TestSchemaScript -update")
	}
	dir := t.TempDir()
	byScript := filepath.Join(dir, "script.db")
	mustOpen(t, byScript).Close()

	saved := schemaScript
	schemaScript = ""
	byMigrations := filepath.Join(dir, "migrations.db")
	mustOpen(t, byMigrations).Close()
	schemaScript = saved

	got, wantDump := dumpDatabase(t, byScript), dumpDatabase(t, byMigrations)
	if !slices.Equal(got, wantDump) {
		for _, l := range wantDump {
			if !slices.Contains(got, l) {
				t.Errorf("missing from the database schema.sql made: %s", l)
			}
		}
		for _, l := range got {
			if !slices.Contains(wantDump, l) {
				t.Errorf("only in the database schema.sql made: %s", l)
			}
		}
	}

	// Each database draws its own instance.
	instance := func(path string) []byte {
		s := mustOpen(t, path)
		defer s.Close()
		var b []byte
		if err := s.writer.QueryRowContext(context.Background(), `SELECT instance FROM generation`).Scan(&b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	other := filepath.Join(dir, "script2.db")
	if a, b := instance(byScript), instance(other); len(a) != 16 || string(a) == string(b) {
		t.Errorf("instances %x and %x: want 16 random bytes each", a, b)
	}
}

// TestSchemaScriptBehind: a script that stops before the last migration
// (one left behind when a migration is added) still gives the whole
// schema: the migrations after it run.
func TestSchemaScriptBehind(t *testing.T) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	saved := schemaScript
	defer func() { schemaScript = saved }()
	// The schema of every migration but the last two (0112 adds an
	// index), as an older script.
	path := filepath.Join(t.TempDir(), "old.db")
	migratedBefore(t, path, names[len(names)-2])
	schemaScript = writeSchemaScriptFrom(t, path, names[len(names)-3])
	byOld := filepath.Join(t.TempDir(), "byold.db")
	mustOpen(t, byOld).Close()
	schemaScript = ""
	byMigrations := filepath.Join(t.TempDir(), "migrations.db")
	mustOpen(t, byMigrations).Close()
	if got, want := dumpDatabase(t, byOld), dumpDatabase(t, byMigrations); !slices.Equal(got, want) {
		t.Errorf("a database made by an older script differs from one made by the migrations:\n%s\n---\n%s",
			strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
