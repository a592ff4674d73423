// Package pgtest gives tests a PostgreSQL schema of their own. The server
// is named by CTM_TEST_POSTGRES_DSN; tests skip, saying so, without it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// DSNEnv names the environment variable holding the test server's DSN.
const DSNEnv = "CTM_TEST_POSTGRES_DSN"

// DSN returns the test server's DSN, or skips the test when none is set.
func DSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(DSNEnv)
	if dsn == "" {
		tb.Skipf("%s is not set; set it to e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run the PostgreSQL tests", DSNEnv)
	}
	return dsn
}

// FreshSchema creates an empty schema that the test owns, drops it when
// the test ends, and returns a DSN whose connections use it. It skips the
// test when no server is configured.
func FreshSchema(tb testing.TB) string {
	tb.Helper()
	dsn := DSN(tb)
	schema := "ctm_test_" + hex.EncodeToString([]byte(rand.Text()[:6]))
	ctx := context.Background()
	exec := func(sql string) error {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE SCHEMA " + schema); err != nil {
		tb.Fatalf("create schema on %s: %v", DSNEnv, err)
	}
	tb.Cleanup(func() {
		if err := exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return WithSearchPath(tb, dsn, schema)
}

// WithSearchPath adds search_path to a DSN; pgx passes unknown URL
// parameters to the server as run-time parameters.
func WithSearchPath(tb testing.TB, dsn, schema string) string {
	tb.Helper()
	if !strings.Contains(dsn, "://") {
		return dsn + " search_path=" + schema
	}
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("parse %s: %v", DSNEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
