package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// Snapshots live in two tables: one row per snapshot and one row per model
// in snapshot_models, rather than a JSON column. The per-model rows keep
// every figure typed and queryable in SQL (e.g. one model's history), and
// the same schema works unchanged on PostgreSQL.

// SaveSnapshot stores snap and its models in one transaction and returns
// it with its ID set and its time as stored (UTC, milliseconds). A zero
// Time is taken as s.Now().
func (s *Store) SaveSnapshot(ctx context.Context, snap usage.Snapshot) (usage.Snapshot, error) {
	if snap.Time.IsZero() {
		snap.Time = s.Now()
	}
	snap.Time = fromMS(ms(snap.Time))
	err := s.write(ctx, func(tx *sql.Tx) error {
		t := snap.Totals
		err := tx.QueryRowContext(ctx, `INSERT INTO snapshots (ts, input, output, cache_creation_5m,
			cache_creation_1h, cache_read, web_search_requests, cost_usd, cost, entries)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			ms(snap.Time), t.Input, t.Output, t.CacheCreation5m, t.CacheCreation1h, t.CacheRead,
			t.WebSearchRequests, snap.CostUSD.USD(), snap.CostUSD, snap.Entries).Scan(&snap.ID)
		if err != nil {
			return fmt.Errorf("save snapshot: %w", formatError(err))
		}
		if len(snap.Models) == 0 {
			return nil
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO snapshot_models (snapshot_id, pos, model,
			input, output, cache_creation_5m, cache_creation_1h, cache_read, web_search_requests,
			cost_usd, cost, entries) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("save snapshot: %w", formatError(err))
		}
		defer stmt.Close()
		for i, m := range snap.Models {
			if _, err := stmt.ExecContext(ctx, snap.ID, i, m.Model, m.Input, m.Output,
				m.CacheCreation5m, m.CacheCreation1h, m.CacheRead, m.WebSearchRequests,
				m.CostUSD.USD(), m.CostUSD, m.Entries); err != nil {
				return fmt.Errorf("save snapshot: model %q: %w", m.Model, formatError(err))
			}
		}
		return nil
	})
	if err != nil {
		return usage.Snapshot{}, err
	}
	return snap, nil
}

// snapshotWhere returns the WHERE clause and arguments for [since, until).
func snapshotWhere(since, until time.Time) (string, []any) {
	var (
		conds []string
		args  []any
	)
	if !since.IsZero() {
		conds = append(conds, "ts >= ?")
		args = append(args, ceilMS(since))
	}
	if !until.IsZero() {
		conds = append(conds, "ts < ?")
		args = append(args, ceilMS(until))
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// Snapshots returns the snapshots taken in [since, until) (zero bounds are
// open), newest first, windowed by p, and how many match in all. A
// negative limit or offset is EINVALID.
func (s *Store) Snapshots(ctx context.Context, since, until time.Time, p usage.Page) ([]usage.Snapshot, int64, error) {
	lim, off, err := limit(p)
	if err != nil {
		return nil, 0, err
	}
	cond, args := snapshotWhere(since, until)
	// One read transaction so that the count, the page and the models all
	// come from the same database snapshot even while one is being saved.
	tx, err := s.reader.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("snapshots: %w", formatError(err))
	}
	defer tx.Rollback()

	var total int64
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM snapshots`+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("snapshots: count: %w", formatError(err))
	}
	page := `SELECT id, ts, input, output, cache_creation_5m, cache_creation_1h, cache_read,
		web_search_requests, cost, entries FROM snapshots` + cond + `
		ORDER BY ts DESC, id DESC LIMIT ? OFFSET ?`
	pageArgs := append(args, lim, off)
	snaps, index, err := scanSnapshots(ctx, tx, page, pageArgs)
	if err != nil {
		return nil, 0, err
	}
	if len(snaps) == 0 {
		return snaps, total, nil
	}
	models := `SELECT m.snapshot_id, m.model, m.input, m.output, m.cache_creation_5m,
		m.cache_creation_1h, m.cache_read, m.web_search_requests, m.cost, m.entries
		FROM snapshot_models m JOIN (SELECT id FROM snapshots` + cond + `
		ORDER BY ts DESC, id DESC LIMIT ? OFFSET ?) p ON p.id = m.snapshot_id
		ORDER BY m.snapshot_id, m.pos`
	rows, err := tx.QueryContext(ctx, models, pageArgs...)
	if err != nil {
		return nil, 0, fmt.Errorf("snapshots: models: %w", formatError(err))
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id int64
			m  usage.SnapshotModel
		)
		if err := rows.Scan(&id, &m.Model, &m.Input, &m.Output, &m.CacheCreation5m,
			&m.CacheCreation1h, &m.CacheRead, &m.WebSearchRequests, &m.CostUSD, &m.Entries); err != nil {
			return nil, 0, fmt.Errorf("snapshots: models: %w", formatError(err))
		}
		if i, ok := index[id]; ok {
			snaps[i].Models = append(snaps[i].Models, m)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("snapshots: models: %w", formatError(err))
	}
	return snaps, total, nil
}

// scanSnapshots runs the page query and returns the snapshots and the
// index of each by id.
func scanSnapshots(ctx context.Context, tx *sql.Tx, q string, args []any) ([]usage.Snapshot, map[int64]int, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("snapshots: %w", formatError(err))
	}
	defer rows.Close()
	var snaps []usage.Snapshot
	index := map[int64]int{}
	for rows.Next() {
		var (
			sn usage.Snapshot
			ts int64
		)
		t := &sn.Totals
		if err := rows.Scan(&sn.ID, &ts, &t.Input, &t.Output, &t.CacheCreation5m,
			&t.CacheCreation1h, &t.CacheRead, &t.WebSearchRequests, &sn.CostUSD, &sn.Entries); err != nil {
			return nil, nil, fmt.Errorf("snapshots: %w", formatError(err))
		}
		sn.Time = fromMS(ts)
		index[sn.ID] = len(snaps)
		snaps = append(snaps, sn)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("snapshots: %w", formatError(err))
	}
	return snaps, index, nil
}

// PruneSnapshots deletes the snapshots taken before t, with their model
// rows (ON DELETE CASCADE), and returns how many snapshots it deleted.
func (s *Store) PruneSnapshots(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM snapshots WHERE ts < ?`, ceilMS(before))
		if err != nil {
			return fmt.Errorf("prune snapshots: %w", formatError(err))
		}
		if n, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("prune snapshots: %w", formatError(err))
		}
		return nil
	})
	return n, err
}
