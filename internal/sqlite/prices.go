package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// Stored costs follow the price table in force (DESIGN §3): generation.prices
// holds the fingerprint of the table that priced them, and whoever finds
// another one there re-prices every record before reading or adding costs.
// Two processes running with different tables at once (say `ctm serve` and
// a `PRICING_FILE=... ctm daily`) therefore take turns re-pricing; each
// answers with its own table.

// repriceChunk is how many records one step of a re-pricing reads, and so
// bounds its memory.
const repriceChunk = 8192

// rowsPerCostUpdate is how many records one UPDATE statement re-prices.
const rowsPerCostUpdate = 256

// checkPrices makes sure the stored costs come from s.prices before a read.
func (s *Store) checkPrices(ctx context.Context) error {
	var fp string
	if err := s.reader.QueryRowContext(ctx, `SELECT prices FROM generation`).Scan(&fp); err != nil {
		return fmt.Errorf("price table: %w", formatError(err))
	}
	if fp == s.prices.Fingerprint() {
		return nil
	}
	return s.write(ctx, func(tx *sql.Tx) error { return s.ensurePriced(ctx, tx) })
}

// ensurePriced re-prices every record in tx when the stored fingerprint is
// not that of s.prices.
func (s *Store) ensurePriced(ctx context.Context, tx *sql.Tx) error {
	var fp string
	if err := tx.QueryRowContext(ctx, `SELECT prices FROM generation`).Scan(&fp); err != nil {
		return fmt.Errorf("price table: %w", formatError(err))
	}
	want := s.prices.Fingerprint()
	if fp == want {
		return nil
	}
	if err := s.reprice(ctx, tx); err != nil {
		return fmt.Errorf("re-price records: %w", err)
	}
	// Bumping the generation makes every in-memory rollup reload.
	if _, err := tx.ExecContext(ctx, `UPDATE generation SET prices = ?, `+bumpGen, want); err != nil {
		return fmt.Errorf("re-price records: %w", formatError(err))
	}
	return nil
}

// reprice computes every record's cost again, in id order a chunk at a
// time, writes the ones that changed, and rebuilds the rollup from the
// records (a cost-only update does not fire the rollup trigger).
func (s *Store) reprice(ctx context.Context, tx *sql.Tx) error {
	type change struct {
		id   int64
		cost usage.Money
	}
	var (
		last    int64 = -1 << 63
		changes []change
		args    []any
	)
	flush := func() error {
		for lo := 0; lo < len(changes); lo += rowsPerCostUpdate {
			part := changes[lo:min(lo+rowsPerCostUpdate, len(changes))]
			args = args[:0]
			for _, c := range part {
				args = append(args, c.id, c.cost)
			}
			q := `UPDATE record_rows SET cost = v.column2 FROM (VALUES ` +
				strings.TrimSuffix(strings.Repeat("(?, ?), ", len(part)), ", ") +
				`) AS v WHERE record_rows.id = v.column1`
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return formatError(err)
			}
		}
		changes = changes[:0]
		return nil
	}
	for {
		rows, err := tx.QueryContext(ctx, `SELECT id, ts, model, speed, inference_geo, service_tier,
			input, output, cache_creation_5m, cache_creation_1h, cache_read, web_search_requests,
			web_fetch_requests, cost FROM records WHERE id > ? ORDER BY id LIMIT ?`, last, repriceChunk)
		if err != nil {
			return formatError(err)
		}
		n := 0
		for rows.Next() {
			var (
				r      usage.Record
				id, ts int64
				old    usage.Money
			)
			if err := rows.Scan(&id, &ts, &r.Model, &r.Speed, &r.InferenceGeo, &r.ServiceTier,
				&r.Input, &r.Output, &r.CacheCreation5m, &r.CacheCreation1h, &r.CacheRead,
				&r.WebSearchRequests, &r.WebFetchRequests, &old); err != nil {
				rows.Close()
				return formatError(err)
			}
			r.Timestamp = fromMS(ts)
			if cost, _ := s.prices.Price(&r); cost != old {
				changes = append(changes, change{id, cost})
			}
			last, n = id, n+1
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return formatError(err)
		}
		if err := flush(); err != nil {
			return err
		}
		if n < repriceChunk {
			break
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM rollup`); err != nil {
		return formatError(err)
	}
	// Grouped by the interned ids, which sort faster than the strings
	// and are looked up once a group.
	if _, err := tx.ExecContext(ctx, `INSERT INTO rollup (`+sourceColumns+`)
		SELECT g.qh, s.value, p.value, u.value, m.value, g.cost, g.input, g.output,
			g.cache_creation_5m, g.cache_creation_1h, g.cache_read, g.web_search_requests,
			g.web_fetch_requests, g.entries, g.first_ts, g.last_ts
		FROM (SELECT `+quarterExpr+` AS qh, session_id, project, user, model, sum(cost) AS cost,
			sum(input) AS input, sum(output) AS output, sum(cache_creation_5m) AS cache_creation_5m,
			sum(cache_creation_1h) AS cache_creation_1h, sum(cache_read) AS cache_read,
			sum(web_search_requests) AS web_search_requests, sum(web_fetch_requests) AS web_fetch_requests,
			count(*) AS entries, min(ts) AS first_ts, max(ts) AS last_ts
			FROM record_rows GROUP BY 1, session_id, project, user, model) g
		JOIN interned s ON s.id = g.session_id JOIN interned p ON p.id = g.project
		JOIN interned u ON u.id = g.user JOIN interned m ON m.id = g.model`); err != nil {
		return formatError(err)
	}
	return nil
}
