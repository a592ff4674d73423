package postgres

import (
	"context"
	"testing"

	"github.com/claude-token-monitor/ctm/internal/postgres/pgtest"
	"github.com/claude-token-monitor/ctm/internal/storetest"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// mustOpen opens a store on a fresh schema and closes it when the test ends.
func mustOpen(tb testing.TB) *Store {
	tb.Helper()
	return mustOpenDSN(tb, pgtest.FreshSchema(tb))
}

// mustOpenDSN opens a store on dsn and closes it when the test ends.
func mustOpenDSN(tb testing.TB, dsn string) *Store {
	tb.Helper()
	s, err := Open(context.Background(), dsn, storetest.Prices)
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
	pgtest.DSN(t)
	storetest.Run(t, func(t *testing.T) usage.Store { return mustOpen(t) })
}

func TestStoreReprice(t *testing.T) {
	dsn := pgtest.FreshSchema(t)
	storetest.RunReprice(t, func(t *testing.T, p usage.Pricer) usage.Store {
		s, err := Open(t.Context(), dsn, p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
