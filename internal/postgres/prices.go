package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/jackc/pgx/v5"
)

// Stored costs follow the price table in force, as in the SQLite store:
// prices.fingerprint names the table that priced them, and a writer or
// reader that finds another one re-prices every record first, under the
// write lock.

// repriceChunk is how many records one step of a re-pricing reads.
const repriceChunk = 8192

// checkPrices makes sure the stored costs come from s.prices before a read.
func (s *Store) checkPrices(ctx context.Context) error {
	var fp string
	if err := s.pool.QueryRow(ctx, `SELECT fingerprint FROM prices`).Scan(&fp); err != nil {
		return fmt.Errorf("price table: %w", formatError(err))
	}
	if fp == s.prices.Fingerprint() {
		return nil
	}
	return s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, writeLock); err != nil {
			return fmt.Errorf("price table: lock: %w", formatError(err))
		}
		return s.ensurePriced(ctx, tx)
	})
}

// ensurePriced re-prices every record in tx, which holds the write lock,
// when the stored fingerprint is not that of s.prices.
func (s *Store) ensurePriced(ctx context.Context, tx pgx.Tx) error {
	var fp string
	if err := tx.QueryRow(ctx, `SELECT fingerprint FROM prices`).Scan(&fp); err != nil {
		return fmt.Errorf("price table: %w", formatError(err))
	}
	want := s.prices.Fingerprint()
	if fp == want {
		return nil
	}
	if err := s.reprice(ctx, tx); err != nil {
		return fmt.Errorf("re-price records: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE prices SET fingerprint = $1`, want); err != nil {
		return fmt.Errorf("re-price records: %w", formatError(err))
	}
	return nil
}

// reprice computes every record's cost again, in id order a chunk at a
// time, and writes the ones that changed.
func (s *Store) reprice(ctx context.Context, tx pgx.Tx) error {
	last := int64(-1)
	for {
		rows, err := tx.Query(ctx, `SELECT id, ts, model, speed, inference_geo, service_tier,
			input, output, cache_creation_5m, cache_creation_1h, cache_read, web_search_requests,
			web_fetch_requests, cost FROM records WHERE id > $1 ORDER BY id LIMIT $2`, last, repriceChunk)
		if err != nil {
			return formatError(err)
		}
		var ids, costs []int64
		n := 0
		for rows.Next() {
			var (
				r   usage.Record
				id  int64
				ts  time.Time
				old int64
			)
			if err := rows.Scan(&id, &ts, &r.Model, &r.Speed, &r.InferenceGeo, &r.ServiceTier,
				&r.Input, &r.Output, &r.CacheCreation5m, &r.CacheCreation1h, &r.CacheRead,
				&r.WebSearchRequests, &r.WebFetchRequests, &old); err != nil {
				rows.Close()
				return formatError(err)
			}
			r.Timestamp = ts.UTC()
			if cost, _ := s.prices.Price(&r); int64(cost) != old {
				ids, costs = append(ids, id), append(costs, int64(cost))
			}
			last, n = id, n+1
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return formatError(err)
		}
		if len(ids) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE records SET cost = v.cost
				FROM unnest($1::bigint[], $2::bigint[]) AS v(id, cost) WHERE records.id = v.id`, ids, costs); err != nil {
				return formatError(err)
			}
		}
		if n < repriceChunk {
			return nil
		}
	}
}
