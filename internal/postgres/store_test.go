package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/claude-token-monitor/ctm/internal/storetest"
	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/jackc/pgx/v5"
)

// dsnEnv names the variable that points the tests at a PostgreSQL server.
const dsnEnv = "CTM_TEST_POSTGRES_DSN"

// testDSN returns the test server's DSN, or skips the test.
func testDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		tb.Skipf("%s is not set; set it to e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run the PostgreSQL tests", dsnEnv)
	}
	return dsn
}

// freshSchema creates an empty schema that the test owns and drops it when
// the test ends, and returns a DSN whose connections use it.
func freshSchema(tb testing.TB) string {
	tb.Helper()
	dsn := testDSN(tb)
	var raw [6]byte
	rand.Read(raw[:])
	schema := "ctm_test_" + hex.EncodeToString(raw[:])
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatalf("connect %s: %v", dsnEnv, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			tb.Errorf("connect to drop schema: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return withSearchPath(tb, dsn, schema)
}

// withSearchPath adds search_path to a URL DSN; pgx sends unknown URL
// parameters to the server as run-time parameters.
func withSearchPath(tb testing.TB, dsn, schema string) string {
	tb.Helper()
	if !strings.Contains(dsn, "://") {
		return dsn + " search_path=" + schema
	}
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("parse %s: %v", dsnEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// mustOpen opens a store on a fresh schema and closes it when the test ends.
func mustOpen(tb testing.TB) *Store {
	tb.Helper()
	return mustOpenDSN(tb, freshSchema(tb))
}

// mustOpenDSN opens a store on dsn and closes it when the test ends.
func mustOpenDSN(tb testing.TB, dsn string) *Store {
	tb.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		tb.Fatalf("Open() = %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close() = %v", err)
		}
	})
	return s
}

func TestStore(t *testing.T) {
	testDSN(t)
	storetest.Run(t, func(t *testing.T) usage.Store { return mustOpen(t) })
}
