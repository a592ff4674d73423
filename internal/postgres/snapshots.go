package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/jackc/pgx/v5"
)

// SaveSnapshot stores snap and its models in one transaction and returns
// it with its ID set and its time as stored (UTC, milliseconds). A zero
// Time is taken as s.Now().
func (s *Store) SaveSnapshot(ctx context.Context, snap usage.Snapshot) (usage.Snapshot, error) {
	if snap.Time.IsZero() {
		snap.Time = s.Now()
	}
	snap.Time = ms(snap.Time)
	err := s.write(ctx, func(tx pgx.Tx) error {
		t := snap.Totals
		err := tx.QueryRow(ctx, `INSERT INTO snapshots (ts, input, output, cache_creation_5m,
			cache_creation_1h, cache_read, web_search_requests, cost_usd, cost, entries)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
			snap.Time, t.Input, t.Output, t.CacheCreation5m, t.CacheCreation1h, t.CacheRead,
			t.WebSearchRequests, snap.CostUSD.USD(), snap.CostUSD, snap.Entries).Scan(&snap.ID)
		if err != nil {
			return fmt.Errorf("save snapshot: %w", formatError(err))
		}
		if len(snap.Models) == 0 {
			return nil
		}
		var batch pgx.Batch
		for i, m := range snap.Models {
			batch.Queue(`INSERT INTO snapshot_models (snapshot_id, pos, model, input, output,
				cache_creation_5m, cache_creation_1h, cache_read, web_search_requests, cost_usd, cost, entries)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
				snap.ID, i, m.Model, m.Input, m.Output, m.CacheCreation5m, m.CacheCreation1h,
				m.CacheRead, m.WebSearchRequests, m.CostUSD.USD(), m.CostUSD, m.Entries)
		}
		if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
			return fmt.Errorf("save snapshot: models: %w", formatError(err))
		}
		return nil
	})
	if err != nil {
		return usage.Snapshot{}, err
	}
	return snap, nil
}

// snapshotWhere returns the WHERE clause for [since, until).
func snapshotWhere(since, until time.Time, a *args) string {
	var conds []string
	if !since.IsZero() {
		conds = append(conds, "ts >= "+a.add(ceilMS(since)))
	}
	if !until.IsZero() {
		conds = append(conds, "ts < "+a.add(ceilMS(until)))
	}
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// Snapshots returns the snapshots taken in [since, until) (zero bounds are
// open), newest first, windowed by p, and how many match in all. A
// negative limit or offset is EINVALID.
func (s *Store) Snapshots(ctx context.Context, since, until time.Time, p usage.Page) ([]usage.Snapshot, int64, error) {
	var a args
	cond := snapshotWhere(since, until, &a)
	lim, err := page(p, &a)
	if err != nil {
		return nil, 0, err
	}
	// One repeatable-read transaction so that the count, the page and the
	// models all come from the same database snapshot even while another
	// server saves or prunes.
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, 0, fmt.Errorf("snapshots: %w", formatError(err))
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	var total int64
	// The count takes only the bound arguments, not the page's.
	nBound := len(a) - 2
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM snapshots`+cond, a[:nBound]...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("snapshots: count: %w", formatError(err))
	}
	snaps, index, err := scanSnapshots(ctx, tx, `SELECT id, ts, input, output, cache_creation_5m,
		cache_creation_1h, cache_read, web_search_requests, cost, entries FROM snapshots`+cond+`
		ORDER BY ts DESC, id DESC`+lim, a)
	if err != nil || len(snaps) == 0 {
		return snaps, total, err
	}
	ids := make([]int64, len(snaps))
	for i, sn := range snaps {
		ids[i] = sn.ID
	}
	rows, err := tx.Query(ctx, `SELECT snapshot_id, model, input, output, cache_creation_5m,
		cache_creation_1h, cache_read, web_search_requests, cost, entries
		FROM snapshot_models WHERE snapshot_id = ANY($1) ORDER BY snapshot_id, pos`, ids)
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
		i := index[id]
		snaps[i].Models = append(snaps[i].Models, m)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("snapshots: models: %w", formatError(err))
	}
	return snaps, total, nil
}

// scanSnapshots runs the page query and returns the snapshots and the
// index of each by id.
func scanSnapshots(ctx context.Context, tx pgx.Tx, q string, a args) ([]usage.Snapshot, map[int64]int, error) {
	rows, err := tx.Query(ctx, q, a...)
	if err != nil {
		return nil, nil, fmt.Errorf("snapshots: %w", formatError(err))
	}
	defer rows.Close()
	var snaps []usage.Snapshot
	index := map[int64]int{}
	for rows.Next() {
		var sn usage.Snapshot
		t := &sn.Totals
		if err := rows.Scan(&sn.ID, &sn.Time, &t.Input, &t.Output, &t.CacheCreation5m,
			&t.CacheCreation1h, &t.CacheRead, &t.WebSearchRequests, &sn.CostUSD, &sn.Entries); err != nil {
			return nil, nil, fmt.Errorf("snapshots: %w", formatError(err))
		}
		sn.Time = sn.Time.UTC()
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
	tag, err := s.pool.Exec(ctx, `DELETE FROM snapshots WHERE ts < $1`, ceilMS(before))
	if err != nil {
		return 0, fmt.Errorf("prune snapshots: %w", formatError(err))
	}
	return tag.RowsAffected(), nil
}
