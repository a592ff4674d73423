package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// recordColumns lists the records columns in the order of Record fields
// used by recordArgs and scanRecord.
const recordColumns = `key, message_id, request_id, ts, model, session_id, project, cwd,
	git_branch, version, is_sidechain, service_tier, speed, user, machine,
	input, output, cache_creation_5m, cache_creation_1h, cache_read, web_search_requests`

// recordFields is the number of columns in recordColumns.
const recordFields = 21

// rowsPerInsert is how many records one INSERT statement carries. Binding
// many rows per statement amortises the per-statement cost of
// database/sql and the driver, which dominates single-row inserts; 64 rows
// use 1,344 parameters, far below SQLite's limit of 32,766.
const rowsPerInsert = 64

// upsertRecords returns an INSERT of n records that, when a key is stored,
// replaces the stored copy only if the new one is preferred by
// usage.Record.Prefer: more output, or equal output and an earlier
// timestamp. The decision depends only on the two rows, so any order of
// batches converges. SQLite applies the upsert row by row, so a key that
// appears twice in one statement is resolved the same way.
func upsertRecords(n int) string {
	row := "(" + strings.Repeat("?, ", recordFields-1) + "?)"
	var b strings.Builder
	b.WriteString("INSERT INTO records (" + recordColumns + ") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	b.WriteString(` ON CONFLICT (key) DO UPDATE SET
	message_id = excluded.message_id,
	request_id = excluded.request_id,
	ts = excluded.ts,
	model = excluded.model,
	session_id = excluded.session_id,
	project = excluded.project,
	cwd = excluded.cwd,
	git_branch = excluded.git_branch,
	version = excluded.version,
	is_sidechain = excluded.is_sidechain,
	service_tier = excluded.service_tier,
	speed = excluded.speed,
	user = excluded.user,
	machine = excluded.machine,
	input = excluded.input,
	output = excluded.output,
	cache_creation_5m = excluded.cache_creation_5m,
	cache_creation_1h = excluded.cache_creation_1h,
	cache_read = excluded.cache_read,
	web_search_requests = excluded.web_search_requests
WHERE excluded.output > records.output
	OR (excluded.output = records.output AND excluded.ts < records.ts)`)
	return b.String()
}

// Timestamps outside years 1..9999 cannot come from an RFC 3339 log line;
// rejecting them keeps every stored ts well inside the range where the
// quarter-hour and latest-project arithmetic in Aggregate is exact.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Apply stores the batch's records and file states in one transaction.
// It returns EINVALID, and stores nothing, when a record has no key or a
// timestamp outside years 1 to 9999, or a file state has no path.
func (s *Store) Apply(ctx context.Context, b usage.Batch) error {
	var delta *mirrorDelta
	err := s.write(ctx, func(tx *sql.Tx) error {
		// A small batch while the in-memory rollup is in use (a live
		// append under ctm serve) patches the copy instead of making the
		// next reader reload all of it.
		var touched map[int64]bool
		if n := len(b.Records); n > 0 && n <= maxDeltaRecords && s.mirrorInUse() {
			var err error
			if touched, err = touchedQuarters(ctx, tx, b.Records); err != nil {
				return err
			}
		}
		if err := applyRecords(ctx, tx, b.Records); err != nil {
			return err
		}
		if err := applyFiles(ctx, tx, b.Files); err != nil {
			return err
		}
		if touched != nil {
			var err error
			if delta, err = readDelta(ctx, tx, touched); err != nil {
				return err
			}
		}
		if s.testHookBeforeCommit != nil {
			s.testHookBeforeCommit()
		}
		return nil
	})
	if err == nil && delta != nil {
		s.patchMirror(delta)
	}
	return err
}

// applyRecords upserts records, rowsPerInsert at a time through one
// prepared statement, and the remainder through a second one.
func applyRecords(ctx context.Context, tx *sql.Tx, records []usage.Record) error {
	if len(records) == 0 {
		return nil
	}
	for i := range records {
		if err := validRecord(&records[i]); err != nil {
			return err
		}
	}
	// Readers compare the generation with that of their in-memory rollup;
	// bumping it in this transaction makes the change and the new value
	// visible together.
	if _, err := tx.ExecContext(ctx, `UPDATE generation SET gen = gen + 1`); err != nil {
		return fmt.Errorf("apply: bump generation: %w", formatError(err))
	}
	args := make([]any, 0, rowsPerInsert*recordFields)
	exec := func(stmt *sql.Stmt, rs []usage.Record) error {
		args = args[:0]
		for i := range rs {
			args = appendRecordArgs(args, &rs[i])
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("apply: records %q to %q: %w", rs[0].Key, rs[len(rs)-1].Key, formatError(err))
		}
		return nil
	}
	full := len(records) / rowsPerInsert * rowsPerInsert
	if full > 0 {
		stmt, err := tx.PrepareContext(ctx, upsertRecords(rowsPerInsert))
		if err != nil {
			return fmt.Errorf("apply: prepare records: %w", formatError(err))
		}
		defer stmt.Close()
		for i := 0; i < full; i += rowsPerInsert {
			if err := exec(stmt, records[i:i+rowsPerInsert]); err != nil {
				return err
			}
		}
	}
	if rest := records[full:]; len(rest) > 0 {
		stmt, err := tx.PrepareContext(ctx, upsertRecords(len(rest)))
		if err != nil {
			return fmt.Errorf("apply: prepare records: %w", formatError(err))
		}
		defer stmt.Close()
		if err := exec(stmt, rest); err != nil {
			return err
		}
	}
	return nil
}

func validRecord(r *usage.Record) error {
	if r.Key == "" {
		return usage.Errorf(usage.EINVALID, "record at %s has no key", r.Timestamp.Format(time.RFC3339))
	}
	if r.Timestamp.Before(minTime) || !r.Timestamp.Before(maxTime) {
		return usage.Errorf(usage.EINVALID, "record %q: timestamp %s is out of range", r.Key, r.Timestamp)
	}
	return nil
}

// appendRecordArgs appends r's column values in recordColumns order.
func appendRecordArgs(args []any, r *usage.Record) []any {
	return append(args, r.Key, r.MessageID, r.RequestID, ms(r.Timestamp), r.Model,
		r.SessionID, r.Project, r.CWD, r.GitBranch, r.Version, r.IsSidechain,
		r.ServiceTier, r.Speed, r.User, r.Machine, r.Input, r.Output,
		r.CacheCreation5m, r.CacheCreation1h, r.CacheRead, r.WebSearchRequests)
}

// equalities returns the conditions and arguments for f's equality
// fields, which records and rollup rows share. Every value is a parameter.
func equalities(f usage.Filter) ([]string, []any) {
	var (
		conds []string
		args  []any
	)
	for _, c := range []struct{ col, val string }{
		{"project", f.Project},
		{"model", f.Model},
		{"session_id", f.SessionID},
		{"user", f.User},
	} {
		if c.val != "" {
			conds = append(conds, c.col+" = ?")
			args = append(args, c.val)
		}
	}
	return conds, args
}

// where returns the WHERE clause (with a leading space, or empty) and
// arguments that select the records passing f.
func where(f usage.Filter) (string, []any) {
	var (
		conds []string
		args  []any
	)
	if !f.Since.IsZero() {
		conds, args = append(conds, "ts >= ?"), append(args, ceilMS(f.Since))
	}
	if !f.Until.IsZero() {
		conds, args = append(conds, "ts < ?"), append(args, ceilMS(f.Until))
	}
	eq, eqArgs := equalities(f)
	conds, args = append(conds, eq...), append(args, eqArgs...)
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// limit returns SQLite's LIMIT and OFFSET for p, where -1 is no limit.
func limit(p usage.Page) (lim, off int, err error) {
	if p.Limit < 0 || p.Offset < 0 {
		return 0, 0, usage.Errorf(usage.EINVALID, "page limit %d and offset %d must not be negative", p.Limit, p.Offset)
	}
	if p.Limit == 0 {
		return -1, p.Offset, nil
	}
	return p.Limit, p.Offset, nil
}

// Records returns the records that pass f in timestamp order (ties in
// insertion order), windowed by p. A zero p.Limit means no limit; a
// negative limit or offset is EINVALID.
func (s *Store) Records(ctx context.Context, f usage.Filter, p usage.Page) ([]usage.Record, error) {
	lim, off, err := limit(p)
	if err != nil {
		return nil, err
	}
	cond, args := where(f)
	// ORDER BY ts, id is served by the ts index (which ends in the rowid)
	// without a sort.
	q := `SELECT ` + recordColumns + ` FROM records` + cond + ` ORDER BY ts, id LIMIT ? OFFSET ?`
	rows, err := s.reader.QueryContext(ctx, q, append(args, lim, off)...)
	if err != nil {
		return nil, fmt.Errorf("records: %w", formatError(err))
	}
	defer rows.Close()
	var out []usage.Record
	for rows.Next() {
		var (
			r  usage.Record
			ts int64
		)
		if err := rows.Scan(&r.Key, &r.MessageID, &r.RequestID, &ts, &r.Model, &r.SessionID,
			&r.Project, &r.CWD, &r.GitBranch, &r.Version, &r.IsSidechain, &r.ServiceTier,
			&r.Speed, &r.User, &r.Machine, &r.Input, &r.Output, &r.CacheCreation5m,
			&r.CacheCreation1h, &r.CacheRead, &r.WebSearchRequests); err != nil {
			return nil, fmt.Errorf("records: %w", formatError(err))
		}
		r.Timestamp = fromMS(ts)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("records: %w", formatError(err))
	}
	return out, nil
}

// CountRecords returns how many records pass f.
func (s *Store) CountRecords(ctx context.Context, f usage.Filter) (int64, error) {
	cond, args := where(f)
	var n int64
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM records`+cond, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count records: %w", formatError(err))
	}
	return n, nil
}

// LatestTimestamp returns the newest record timestamp, or the zero time
// when the store is empty.
func (s *Store) LatestTimestamp(ctx context.Context) (time.Time, error) {
	var ts sql.NullInt64
	if err := s.reader.QueryRowContext(ctx, `SELECT max(ts) FROM records`).Scan(&ts); err != nil {
		return time.Time{}, fmt.Errorf("latest timestamp: %w", formatError(err))
	}
	if !ts.Valid {
		return time.Time{}, nil
	}
	return fromMS(ts.Int64), nil
}
