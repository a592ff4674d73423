package pgtest

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestFreshSchema(t *testing.T) {
	dsn := FreshSchema(t)
	if !strings.Contains(dsn, "search_path=ctm_test_") {
		t.Fatalf("DSN %q does not select the fresh schema", dsn)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE probe (x int)"); err != nil {
		t.Fatal(err)
	}
	var schema string
	if err := conn.QueryRow(ctx, "SELECT table_schema FROM information_schema.tables WHERE table_name = 'probe'").Scan(&schema); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(schema, "ctm_test_") {
		t.Errorf("table created in %q, want the fresh schema", schema)
	}
}

func TestWithSearchPath(t *testing.T) {
	if got := WithSearchPath(t, "host=db user=u", "s1"); got != "host=db user=u search_path=s1" {
		t.Errorf("keyword DSN = %q", got)
	}
	if got := WithSearchPath(t, "postgres://u@db/x?sslmode=disable", "s1"); got != "postgres://u@db/x?search_path=s1&sslmode=disable" {
		t.Errorf("URL DSN = %q", got)
	}
}
