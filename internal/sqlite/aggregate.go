package sqlite

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// quarterHourMS is the length of a ByQuarterHour bucket and of a rollup
// row's time span.
const quarterHourMS = 15 * 60 * 1000

// longExpr is the long-context flag of a records row:
// usage.Record.IsLongContext in SQL. The threshold is a compile-time
// constant, not input, so it is spelled into the query rather than bound.
// The rollup triggers in migrations/0001_init.sql spell the same number.
var longExpr = "(input + cache_creation_5m + cache_creation_1h + cache_read > " +
	strconv.Itoa(usage.LongContextThreshold) + ")"

// quarterExpr is the index of the UTC quarter hour of a records row's ts.
// Integer division truncates toward zero, so times before 1970 are
// shifted down by one to floor them.
var quarterExpr = "(ts / " + strconv.Itoa(quarterHourMS) + " - (ts % " + strconv.Itoa(quarterHourMS) + " < 0))"

// sourceColumns are the columns every aggregate source yields, in the
// shape of the rollup table.
const sourceColumns = `qh, session_id, project, user, model, lc, input, output,
	cache_creation_5m, cache_creation_1h, cache_read, web_search_requests,
	entries, first_ts, last_ts`

// rollupSource reads whole quarter hours from the rollup table.
const rollupSource = `SELECT ` + sourceColumns + ` FROM rollup`

// recordsSource reads single records in the rollup's shape, for the partial
// quarter hours at the ends of a time range.
var recordsSource = `SELECT ` + quarterExpr + ` AS qh, session_id, project, user, model, ` +
	longExpr + ` AS lc, input, output, cache_creation_5m, cache_creation_1h, cache_read,
	web_search_requests, 1 AS entries, ts AS first_ts, ts AS last_ts FROM records`

// latestProjectExpr picks the project of a group's latest record. Each
// source row is keyed by its last_ts as a fixed-width non-negative decimal
// (validated timestamps lie within ±1e16 ms) followed by its project, so
// the largest key belongs to the latest row; the first 17 characters are
// then dropped. SQLite's bare-column rule cannot do this because the query
// also takes min(first_ts).
const latestProjectExpr = "substr(max(printf('%017d', last_ts + 10000000000000000) || project), 18)"

// dimensionColumns returns, for dim, the expressions of the group key, the
// quarter hour and the project columns, and the GROUP BY prefix.
func dimensionColumns(dim usage.Dimension) (key, quarter, project, group string, err error) {
	switch dim {
	case usage.ByNothing:
		return "''", "0", "''", "", nil
	case usage.ByQuarterHour:
		return "''", "qh", "''", "qh, ", nil
	case usage.BySession:
		return "session_id", "0", latestProjectExpr, "session_id, ", nil
	case usage.ByProject:
		return "project", "0", "''", "project, ", nil
	case usage.ByUser:
		return "user", "0", "''", "user, ", nil
	}
	return "", "", "", "", usage.Errorf(usage.EINVALID, "unknown aggregate dimension %d", dim)
}

// floorDiv returns a/b rounded toward negative infinity, for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// ceilDiv returns a/b rounded toward positive infinity, for b > 0.
func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

// sources returns the parts of the UNION ALL that together hold exactly
// the records passing f: rollup rows for the whole quarter hours of the
// range, and records for the partial quarter hours at either end.
func sources(f usage.Filter) (parts []string, args []any) {
	eq, eqArgs := equalities(f)
	add := func(source string, conds []string, condArgs ...any) {
		all := append(append([]string{}, eq...), conds...)
		if len(all) > 0 {
			source += " WHERE " + strings.Join(all, " AND ")
		}
		parts = append(parts, source)
		args = append(append(args, eqArgs...), condArgs...)
	}
	hasSince, hasUntil := !f.Since.IsZero(), !f.Until.IsZero()
	var since, until, loQ, hiQ int64
	if hasSince {
		since = ceilMS(f.Since)
		loQ = ceilDiv(since, quarterHourMS)
	}
	if hasUntil {
		until = ceilMS(f.Until)
		hiQ = floorDiv(until, quarterHourMS)
	}
	if hasSince && hasUntil && loQ >= hiQ {
		// No whole quarter hour inside the range.
		add(recordsSource, []string{"ts >= ?", "ts < ?"}, since, until)
		return parts, args
	}
	var rollupConds []string
	var rollupArgs []any
	if hasSince {
		rollupConds, rollupArgs = append(rollupConds, "qh >= ?"), append(rollupArgs, loQ)
		if head := loQ * quarterHourMS; since < head {
			add(recordsSource, []string{"ts >= ?", "ts < ?"}, since, head)
		}
	}
	if hasUntil {
		rollupConds, rollupArgs = append(rollupConds, "qh < ?"), append(rollupArgs, hiQ)
		if tail := hiQ * quarterHourMS; tail < until {
			add(recordsSource, []string{"ts >= ?", "ts < ?"}, tail, until)
		}
	}
	add(rollupSource, rollupConds, rollupArgs...)
	return parts, args
}

// Aggregate sums the records that pass f, grouped by dim, model and the
// long-context flag, in one GROUP BY query over the rollup table and the
// records at the partial ends of the range. It returns EINVALID for an
// unknown dimension.
func (s *Store) Aggregate(ctx context.Context, f usage.Filter, dim usage.Dimension) ([]usage.Bucket, error) {
	key, quarter, project, group, err := dimensionColumns(dim)
	if err != nil {
		return nil, err
	}
	parts, args := sources(f)
	q := `SELECT ` + key + `, ` + quarter + `, ` + project + `, model, lc,
		sum(input), sum(output), sum(cache_creation_5m), sum(cache_creation_1h),
		sum(cache_read), sum(web_search_requests), sum(entries), min(first_ts), max(last_ts)
		FROM (` + strings.Join(parts, "\nUNION ALL\n") + `)
		GROUP BY ` + group + `model, lc`
	rows, err := s.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("aggregate: %w", formatError(err))
	}
	defer rows.Close()
	var out []usage.Bucket
	for rows.Next() {
		var (
			b               usage.Bucket
			qh, first, last int64
		)
		if err := rows.Scan(&b.Key, &qh, &b.Project, &b.Model, &b.LongContext,
			&b.Input, &b.Output, &b.CacheCreation5m, &b.CacheCreation1h, &b.CacheRead,
			&b.WebSearchRequests, &b.Entries, &first, &last); err != nil {
			return nil, fmt.Errorf("aggregate: %w", formatError(err))
		}
		if dim == usage.ByQuarterHour {
			b.Time = fromMS(qh * quarterHourMS)
		}
		b.First, b.Last = fromMS(first), fromMS(last)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("aggregate: %w", formatError(err))
	}
	return out, nil
}
