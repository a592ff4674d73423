package sqlite

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// quarterHourMS is the length of a ByQuarterHour bucket and of a rollup
// row's time span.
const quarterHourMS = 15 * 60 * 1000

// quarterExpr is the index of the UTC quarter hour of a records row's ts.
// Integer division truncates toward zero, so times before 1970 are
// shifted down by one to floor them.
var quarterExpr = "(ts / " + strconv.Itoa(quarterHourMS) + " - (ts % " + strconv.Itoa(quarterHourMS) + " < 0))"

// sourceColumns are the columns every aggregate source yields, in the
// shape of the rollup table.
const sourceColumns = `qh, session_id, project, user, model, cost, input, output,
	cache_creation_5m, cache_creation_1h, cache_read, web_search_requests,
	web_fetch_requests, entries, first_ts, last_ts`

// rollupSource reads whole quarter hours from the rollup table.
const rollupSource = `SELECT ` + sourceColumns + ` FROM rollup`

// recordsSource reads single records in the rollup's shape, for the partial
// quarter hours at the ends of a time range.
var recordsSource = `SELECT ` + quarterExpr + ` AS qh, session_id, project, user, model,
	cost, input, output, cache_creation_5m, cache_creation_1h, cache_read,
	web_search_requests, web_fetch_requests, 1 AS entries, ts AS first_ts, ts AS last_ts FROM records`

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
	case usage.BySessionQuarterHour:
		return "session_id", "qh", "''", "qh, session_id, ", nil
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

// rangePlan splits a filter's time range into whole quarter hours, read
// from the rollup, and the partial quarter hours at either end, read from
// records.
type rangePlan struct {
	// rollup is false when no whole quarter hour lies inside the range.
	rollup bool
	// loQ and hiQ bound the whole quarter hours to [loQ, hiQ) when hasLo
	// and hasHi are set; an unset bound is open.
	hasLo, hasHi bool
	loQ, hiQ     int64
	// edges are [from, to) ranges of unix milliseconds read from records.
	edges [][2]int64
}

// planRange returns the rangePlan of f's Since and Until.
func planRange(f usage.Filter) rangePlan {
	var p rangePlan
	p.hasLo, p.hasHi = !f.Since.IsZero(), !f.Until.IsZero()
	var since, until int64
	if p.hasLo {
		since = ceilMS(f.Since)
		p.loQ = ceilDiv(since, quarterHourMS)
	}
	if p.hasHi {
		until = ceilMS(f.Until)
		p.hiQ = floorDiv(until, quarterHourMS)
	}
	if p.hasLo && p.hasHi && p.loQ >= p.hiQ {
		// No whole quarter hour inside the range.
		p.edges = append(p.edges, [2]int64{since, until})
		return p
	}
	p.rollup = true
	if head := p.loQ * quarterHourMS; p.hasLo && since < head {
		p.edges = append(p.edges, [2]int64{since, head})
	}
	if tail := p.hiQ * quarterHourMS; p.hasHi && tail < until {
		p.edges = append(p.edges, [2]int64{tail, until})
	}
	return p
}

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
	if f.SessionID != "" {
		// One session's records are found by the session index, and
		// are few; the rollup has no index that leads with the session,
		// so reading it would scan every row.
		var conds []string
		var condArgs []any
		if !f.Since.IsZero() {
			conds, condArgs = append(conds, "ts >= ?"), append(condArgs, ceilMS(f.Since))
		}
		if !f.Until.IsZero() {
			conds, condArgs = append(conds, "ts < ?"), append(condArgs, ceilMS(f.Until))
		}
		add(recordsSource, conds, condArgs...)
		return parts, args
	}
	p := planRange(f)
	for _, e := range p.edges {
		add(recordsSource, []string{"ts >= ?", "ts < ?"}, e[0], e[1])
	}
	if p.rollup {
		var conds []string
		var condArgs []any
		if p.hasLo {
			conds, condArgs = append(conds, "qh >= ?"), append(condArgs, p.loQ)
		}
		if p.hasHi {
			conds, condArgs = append(conds, "qh < ?"), append(condArgs, p.hiQ)
		}
		add(rollupSource, conds, condArgs...)
	}
	return parts, args
}

// Aggregate sums the records that pass f, grouped by dim and model. Whole quarter hours come from the rollup (from its
// in-memory copy when it is kept, see mirror.go) and the partial quarter
// hours at the ends of the range from records; without the copy it is one
// GROUP BY query over both. It returns EINVALID for an unknown dimension.
func (s *Store) Aggregate(ctx context.Context, f usage.Filter, dim usage.Dimension) ([]usage.Bucket, error) {
	if dim.FromRecords() {
		if err := s.checkPrices(ctx); err != nil {
			return nil, fmt.Errorf("aggregate: %w", err)
		}
		return s.aggregateRecords(ctx, f, dim)
	}
	key, quarter, project, group, err := dimensionColumns(dim)
	if err != nil {
		return nil, err
	}
	if err := s.checkPrices(ctx); err != nil {
		return nil, fmt.Errorf("aggregate: %w", err)
	}
	if !s.noMirror {
		out, ok, err := s.aggregateMirror(ctx, f, dim, nil)
		if err != nil {
			return nil, fmt.Errorf("aggregate: %w", err)
		}
		if ok {
			return out, nil
		}
	}
	parts, args := sources(f)
	q := `SELECT ` + key + `, ` + quarter + `, ` + project + `, model, sum(cost),
		sum(input), sum(output), sum(cache_creation_5m), sum(cache_creation_1h),
		sum(cache_read), sum(web_search_requests), sum(web_fetch_requests), sum(entries),
		min(first_ts), max(last_ts)
		FROM (` + strings.Join(parts, "\nUNION ALL\n") + `)
		GROUP BY ` + group + `model`
	return s.queryBuckets(ctx, dim, q, args)
}

// AggregatePeriods is Aggregate(f, dim) for a caller that sums the
// buckets by label(b.Time) next, as a calendar report does. For
// ByQuarterHour, from the in-memory rollup, the whole quarter hours in a
// row that have one label come as one bucket per model, whose Time is the
// first of them: a daily report of 2 GB of long sessions then takes some
// 1k buckets instead of 20k. For BySessionQuarterHour they come as one
// bucket per session and model, whose Time is a quarter hour with their
// label (the run's first, of all sessions): the session counts of a month
// of 2 GB of long sessions take 3k buckets instead of 80k, and the daily
// view of that month 7-16 ms instead of 37-304. label must give every
// quarter hour of a period the same label; only quarter hours with equal
// labels are merged, so a label may recur (an hour of the week). Without
// the copy, and for other dimensions, the buckets are Aggregate's.
func (s *Store) AggregatePeriods(ctx context.Context, f usage.Filter, dim usage.Dimension, label func(time.Time) string) ([]usage.Bucket, error) {
	if dim != usage.ByQuarterHour && dim != usage.BySessionQuarterHour {
		return s.Aggregate(ctx, f, dim)
	}
	if err := s.checkPrices(ctx); err != nil {
		return nil, fmt.Errorf("aggregate: %w", err)
	}
	if !s.noMirror {
		out, ok, err := s.aggregateMirror(ctx, f, dim, label)
		if err != nil {
			return nil, fmt.Errorf("aggregate: %w", err)
		}
		if ok {
			return out, nil
		}
	}
	return s.Aggregate(ctx, f, dim)
}

// queryBuckets runs an aggregate query whose rows are key, quarter hour,
// project, model, the sums, the count and the time bounds.
func (s *Store) queryBuckets(ctx context.Context, dim usage.Dimension, q string, args []any) ([]usage.Bucket, error) {
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
		if err := rows.Scan(&b.Key, &qh, &b.Project, &b.Model, &b.Cost,
			&b.Input, &b.Output, &b.CacheCreation5m, &b.CacheCreation1h, &b.CacheRead,
			&b.WebSearchRequests, &b.WebFetchRequests, &b.Entries, &first, &last); err != nil {
			return nil, fmt.Errorf("aggregate: %w", formatError(err))
		}
		if dim == usage.ByQuarterHour || dim == usage.BySessionQuarterHour {
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

// recordKeyExpr returns the group key of a dimension summed from
// record_rows, as an interned id, and the SQL that turns the key k into
// its label. AgentLabel's two labels of agents without a name are keys
// -1 and -2, which no id is.
func recordKeyExpr(dim usage.Dimension) (key, label string) {
	switch dim {
	case usage.ByBranch:
		return "git_branch", internedValue("k")
	case usage.ByAgent:
		return "CASE WHEN agent <> 0 THEN agent WHEN is_sidechain <> 0 THEN -1 ELSE -2 END",
			"CASE k WHEN -1 THEN '" + usage.AgentSubagent + "' WHEN -2 THEN '" + usage.AgentMain +
				"' ELSE " + internedValue("k") + " END"
	}
	return "attribution", internedValue("k")
}

// aggregateRecords sums the records that pass f by a dimension that only
// records hold, in one GROUP BY over record_rows: SQLite sorts the rows it
// reads, which costs far less than scanning them out one by one. The
// rows are grouped by the ids of their strings, which look up each
// string once a group instead of once a row; the groups are then summed
// again by their strings, which an agent named as one of AgentLabel's
// labels shares with the records it labels.
func (s *Store) aggregateRecords(ctx context.Context, f usage.Filter, dim usage.Dimension) ([]usage.Bucket, error) {
	key, label := recordKeyExpr(dim)
	cond, args := rowsWhere(f)
	return s.queryBuckets(ctx, dim, `SELECT label, 0, '', model, sum(cost), sum(input), sum(output),
		sum(cache_creation_5m), sum(cache_creation_1h), sum(cache_read), sum(web_search_requests),
		sum(web_fetch_requests), sum(entries), min(first_ts), max(last_ts)
		FROM (SELECT `+label+` AS label, `+internedValue("m")+` AS model, g.* FROM (
			SELECT `+key+` AS k, model AS m, sum(cost) AS cost, sum(input) AS input,
				sum(output) AS output, sum(cache_creation_5m) AS cache_creation_5m,
				sum(cache_creation_1h) AS cache_creation_1h, sum(cache_read) AS cache_read,
				sum(web_search_requests) AS web_search_requests,
				sum(web_fetch_requests) AS web_fetch_requests, count(*) AS entries,
				min(ts) AS first_ts, max(ts) AS last_ts
			FROM record_rows`+cond+`
			GROUP BY k, m) g)
		GROUP BY label, model`, args)
}
