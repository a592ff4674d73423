package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// Records are stored slim (migration 0111): record_rows keeps each of a
// record's low-cardinality strings as the id of its row in interned, and
// message_id and request_id only when key does not tell them. The view
// records reads them back in the old shape.

// internedFields is how many of a record's strings record_rows stores as
// interned ids.
const internedFields = 13

// internedStrings returns r's strings that record_rows stores as ids.
func internedStrings(r *usage.Record) [internedFields]string {
	return [internedFields]string{r.Model, r.SessionID, r.Project, r.CWD, r.GitBranch,
		r.Version, r.ServiceTier, r.Speed, r.InferenceGeo, r.User, r.Machine, r.Agent,
		r.Attribution}
}

// keyIDs returns what record_rows stores as message_id and request_id:
// nil for both when key is message_id ":" request_id and message_id has
// no ':', so that the view can cut them from the key; the strings
// otherwise.
func keyIDs(r *usage.Record) (msg, req any) {
	m, q, k := r.MessageID, r.RequestID, r.Key
	if len(k) == len(m)+1+len(q) && k[len(m)] == ':' && strings.HasPrefix(k, m) &&
		strings.HasSuffix(k, q) && !strings.Contains(m, ":") {
		return nil, nil
	}
	return m, q
}

// appendSlimArgs appends r's record_rows values in recordColumns order,
// its strings as the ids that id gives them.
func appendSlimArgs(args []any, r *usage.Record, id func(string) int64) []any {
	msg, req := keyIDs(r)
	return append(args, r.Key, msg, req, ms(r.Timestamp), id(r.Model),
		id(r.SessionID), id(r.Project), id(r.CWD), id(r.GitBranch), id(r.Version), r.IsSidechain,
		id(r.ServiceTier), id(r.Speed), id(r.InferenceGeo), id(r.User), id(r.Machine), r.Input, r.Output,
		r.CacheCreation5m, r.CacheCreation1h, r.CacheRead, r.WebSearchRequests,
		r.WebFetchRequests, int64(r.Cost), id(r.Agent), id(r.Attribution))
}

// internChunk is how many strings one statement of internAll interns.
const internChunk = 500

// internAll returns the interned ids of the strings of records, adding
// those not yet interned, in tx. Another process may intern strings
// between two transactions, but never changes or removes one, so the ids
// hold for the transaction that read them (and after it); they are not
// kept across transactions, since a database put back from a backup may
// give an id read earlier to another string.
func internAll(ctx context.Context, tx *sql.Tx, records []usage.Record) (map[string]int64, error) {
	ids := map[string]int64{"": 0}
	var todo []any
	for i := range records {
		for _, s := range internedStrings(&records[i]) {
			if _, ok := ids[s]; !ok {
				ids[s] = -1
				todo = append(todo, s)
			}
		}
	}
	for lo := 0; lo < len(todo); lo += internChunk {
		part := todo[lo:min(lo+internChunk, len(todo))]
		marks := "?" + strings.Repeat(", ?", len(part)-1)
		if _, err := tx.ExecContext(ctx, `INSERT INTO interned (value) VALUES (`+
			strings.ReplaceAll(marks, ", ", "), (")+`) ON CONFLICT (value) DO NOTHING`, part...); err != nil {
			return nil, fmt.Errorf("apply: intern strings: %w", formatError(err))
		}
		rows, err := tx.QueryContext(ctx, `SELECT id, value FROM interned WHERE value IN (`+marks+`)`, part...)
		if err != nil {
			return nil, fmt.Errorf("apply: intern strings: %w", formatError(err))
		}
		for rows.Next() {
			var (
				id int64
				s  string
			)
			if err := rows.Scan(&id, &s); err != nil {
				rows.Close()
				return nil, fmt.Errorf("apply: intern strings: %w", formatError(err))
			}
			ids[s] = id
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("apply: intern strings: %w", formatError(err))
		}
	}
	for _, s := range todo {
		if ids[s.(string)] < 0 {
			return nil, fmt.Errorf("apply: intern strings: %q has no id", s)
		}
	}
	return ids, nil
}
