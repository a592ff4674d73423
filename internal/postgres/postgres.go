// Package postgres implements usage.Store and usage.TeamStore on
// PostgreSQL with pgx, for a team server that many machines and Claude
// Code's telemetry write to at once.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

var (
	_ usage.Store     = (*Store)(nil)
	_ usage.TeamStore = (*Store)(nil)
)

// Store is a usage.Store on a PostgreSQL database, through a pgx pool.
// Unlike SQLite, PostgreSQL lets many writers work at once, so every
// method simply takes a connection from the pool; Apply orders its rows so
// that concurrent batches lock rows in the same order and cannot deadlock.
type Store struct {
	// Now returns the current time. It stamps snapshots saved without a
	// time, tokens and applied migrations; tests replace it.
	Now func() time.Time

	pool      *pgxpool.Pool
	prices    usage.Pricer
	closeOnce sync.Once
}

// Open connects to the PostgreSQL database at dsn (a postgres:// URL or a
// key=value string, as DATABASE_URL holds), applies pending migrations and,
// when the stored costs come from another price table, re-prices every
// record with prices.
// It returns EINVALID when dsn is empty or cannot be parsed; connection
// failures are returned as they are.
func Open(ctx context.Context, dsn string, prices usage.Pricer) (*Store, error) {
	if prices == nil {
		return nil, errors.New("open postgres: a price table is required")
	}
	if strings.TrimSpace(dsn) == "" {
		return nil, usage.Errorf(usage.EINVALID, "database URL is empty")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The parse error may quote the password; never echo it.
		return nil, usage.Errorf(usage.EINVALID, "database URL is not a valid PostgreSQL connection string")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	s := &Store{Now: time.Now, pool: pool, prices: prices}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if err := s.checkPrices(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	return s, nil
}

// Close closes the pool. It is safe to call more than once; later calls
// on the store fail with an error.
func (s *Store) Close() error {
	s.closeOnce.Do(s.pool.Close)
	return nil
}

// write runs fn in a read-write transaction and commits it when fn
// succeeds. Exported methods own transactions; helpers take the pgx.Tx.
func (s *Store) write(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", formatError(err))
	}
	// Rollback after a successful Commit is a no-op.
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", formatError(err))
	}
	return nil
}

// formatError turns PostgreSQL errors that describe bad input into usage
// errors, and leaves the rest as they are.
func formatError(err error) error {
	var e *pgconn.PgError
	if !errors.As(err, &e) {
		return err
	}
	switch e.Code {
	case "23505": // unique_violation
		return usage.Errorf(usage.ECONFLICT, "conflicting record identity: %s", e.Detail)
	case "22021", "22P05": // character_not_in_repertoire, untranslatable_character
		return usage.Errorf(usage.EINVALID, "text is not valid UTF-8")
	case "22003": // numeric_value_out_of_range
		return usage.Errorf(usage.EINVALID, "number out of range")
	}
	return err
}

// ms truncates t to the millisecond, as stored, in UTC.
func ms(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

// ceilMS returns the first millisecond that is not before t. A record
// stored at millisecond m passes `ts >= ceilMS(since)` exactly when its
// time is not before since, and `ts < ceilMS(until)` exactly when it is
// before until, even when the bound has sub-millisecond precision.
func ceilMS(t time.Time) time.Time {
	m := t.UnixMilli() // floors, also before 1970
	if t.After(time.UnixMilli(m)) {
		m++
	}
	return time.UnixMilli(m).UTC()
}

// args collects positional query arguments and hands out their $n.
type args []any

// add appends v and returns its placeholder.
func (a *args) add(v any) string {
	*a = append(*a, v)
	return fmt.Sprintf("$%d", len(*a))
}
