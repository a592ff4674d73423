package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// quarterExpr is the index of the UTC quarter hour of ts since the epoch.
// extract returns numeric, so the division is exact and floor also rounds
// times before 1970 down.
const quarterExpr = "floor(extract(epoch FROM ts) / 900)::bigint"

// latestProjectExpr picks the project of a group's latest record; among
// records of the same millisecond, the greatest project, as in the SQLite
// store.
const latestProjectExpr = "(array_agg(project ORDER BY ts DESC, project DESC))[1]"

// agentLabelExpr is usage.Record.AgentLabel in SQL.
const agentLabelExpr = `(CASE WHEN agent <> '' THEN agent WHEN is_sidechain THEN '` +
	usage.AgentSubagent + `' ELSE '` + usage.AgentMain + `' END)`

// dimensionColumns returns, for dim, the expressions of the group key, the
// quarter hour and the project columns, and the GROUP BY prefix.
func dimensionColumns(dim usage.Dimension) (key, quarter, project, group string, err error) {
	switch dim {
	case usage.ByNothing:
		return "''", "0::bigint", "''", "", nil
	case usage.ByQuarterHour:
		return "''", quarterExpr, "''", "qh, ", nil
	case usage.BySession:
		return "session_id", "0::bigint", latestProjectExpr, "session_id, ", nil
	case usage.ByProject:
		return "project", "0::bigint", "''", "project, ", nil
	case usage.ByUser:
		return "user_name", "0::bigint", "''", "user_name, ", nil
	case usage.BySessionQuarterHour:
		return "session_id", quarterExpr, "''", "qh, session_id, ", nil
	case usage.ByBranch:
		return "git_branch", "0::bigint", "''", "git_branch, ", nil
	case usage.ByAgent:
		return agentLabelExpr, "0::bigint", "''", agentLabelExpr + ", ", nil
	case usage.ByAttribution:
		return "attribution", "0::bigint", "''", "attribution, ", nil
	}
	return "", "", "", "", usage.Errorf(usage.EINVALID, "unknown aggregate dimension %d", dim)
}

// Aggregate sums the records that pass f, grouped by dim and model, in one
// GROUP BY query. It returns EINVALID for an
// unknown dimension.
func (s *Store) Aggregate(ctx context.Context, f usage.Filter, dim usage.Dimension) ([]usage.Bucket, error) {
	key, quarter, project, group, err := dimensionColumns(dim)
	if err != nil {
		return nil, err
	}
	if err := s.checkPrices(ctx); err != nil {
		return nil, fmt.Errorf("aggregate: %w", err)
	}
	var a args
	cond := where(f, &a)
	// sum(bigint) is numeric in PostgreSQL; the casts bring it back to
	// bigint (a sum beyond 2^63 tokens fails instead of wrapping).
	q := `SELECT ` + key + `, ` + quarter + ` AS qh, ` + project + `, model, sum(cost)::bigint,
		sum(input)::bigint, sum(output)::bigint, sum(cache_creation_5m)::bigint,
		sum(cache_creation_1h)::bigint, sum(cache_read)::bigint, sum(web_search_requests)::bigint,
		sum(web_fetch_requests)::bigint, count(*), min(ts), max(ts)
		FROM records` + cond + `
		GROUP BY ` + group + `model`
	rows, err := s.pool.Query(ctx, q, a...)
	if err != nil {
		return nil, fmt.Errorf("aggregate: %w", formatError(err))
	}
	defer rows.Close()
	var out []usage.Bucket
	for rows.Next() {
		var (
			b  usage.Bucket
			qh int64
		)
		if err := rows.Scan(&b.Key, &qh, &b.Project, &b.Model, &b.Cost,
			&b.Input, &b.Output, &b.CacheCreation5m, &b.CacheCreation1h, &b.CacheRead,
			&b.WebSearchRequests, &b.WebFetchRequests, &b.Entries, &b.First, &b.Last); err != nil {
			return nil, fmt.Errorf("aggregate: %w", formatError(err))
		}
		if dim == usage.ByQuarterHour || dim == usage.BySessionQuarterHour {
			b.Time = time.Unix(qh*900, 0).UTC()
		}
		b.First, b.Last = b.First.UTC(), b.Last.UTC()
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("aggregate: %w", formatError(err))
	}
	return out, nil
}
