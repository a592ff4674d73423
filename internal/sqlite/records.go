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
	git_branch, version, is_sidechain, service_tier, speed, inference_geo, user, machine,
	input, output, cache_creation_5m, cache_creation_1h, cache_read, web_search_requests,
	web_fetch_requests, cost, agent, attribution`

// recordFields is the number of columns in recordColumns.
const recordFields = 26

// rowsPerInsert is how many records one INSERT statement carries. Binding
// many rows per statement amortises the per-statement cost of
// database/sql and the driver, which dominates single-row inserts; 64 rows
// use at most 1,792 parameters (an upsert's id, key_hash and 26 columns a
// row), far below SQLite's limit of 32,766.
const rowsPerInsert = 64

// upsertRecords returns an INSERT of n records, each with the id of its
// stored copy (see storedRows), that replaces the stored copy only if the
// new one is preferred by usage.Record.Prefer: more output, then the
// earlier timestamp, then the smaller session id and project, then a
// known agent and attribution. The decision depends only on the two rows,
// so any order of batches converges. A copy equal in all four also
// replaces the stored one: it is the same response read again, and
// reading it again is how fields that an older release did not keep get
// filled in. A batch holds one copy per key (see mergeCopies). Strings
// are ids of interned (0 is the empty string): equal ids are equal
// strings, and unequal ones are ordered by their strings.
func upsertRecords(n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO record_rows (id, key_hash, " + recordColumns + ") VALUES " + placeholders(n, recordFields+2))
	b.WriteString(` ON CONFLICT (id) DO UPDATE SET
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
	inference_geo = excluded.inference_geo,
	user = excluded.user,
	machine = excluded.machine,
	input = excluded.input,
	output = excluded.output,
	cache_creation_5m = excluded.cache_creation_5m,
	cache_creation_1h = excluded.cache_creation_1h,
	cache_read = excluded.cache_read,
	web_search_requests = excluded.web_search_requests,
	web_fetch_requests = excluded.web_fetch_requests,
	cost = excluded.cost,
	agent = excluded.agent,
	attribution = excluded.attribution
WHERE excluded.output > record_rows.output
	OR (excluded.output = record_rows.output AND (excluded.ts < record_rows.ts
		OR (excluded.ts = record_rows.ts AND ((excluded.session_id <> record_rows.session_id
				AND ` + internedValue("excluded.session_id") + ` < ` + internedValue("record_rows.session_id") + `)
			OR (excluded.session_id = record_rows.session_id AND ((excluded.project <> record_rows.project
					AND ` + internedValue("excluded.project") + ` < ` + internedValue("record_rows.project") + `)
				OR (excluded.project = record_rows.project AND ((excluded.agent <> 0) > (record_rows.agent <> 0)
					OR ((excluded.agent <> 0) = (record_rows.agent <> 0)
						AND (excluded.attribution <> 0 OR record_rows.attribution = 0))))))))))`)
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
	var (
		delta                  *mirrorDelta
		filesGen, prevFilesGen int64
	)
	err := s.write(ctx, func(tx *sql.Tx) error {
		// Another process may have re-priced the store with its own table;
		// records priced here must join costs of the same table.
		if len(b.Records) > 0 {
			if err := s.ensurePriced(ctx, tx); err != nil {
				return err
			}
		}
		// A small batch while the in-memory rollup is in use (a live
		// append under ctm serve) patches the copy instead of making the
		// next reader reload all of it.
		var touched map[int64]bool
		if n := len(b.Records); n > 0 && n <= maxDeltaRecords && !s.noMirror && s.mirror.cur.Load() == nil {
			// A process that has no copy yet (a report catching up
			// before it reads) starts from the saved one, when it is
			// current, and patches it like a live append would.
			if err := s.adoptSnapshot(ctx, tx); err != nil {
				return err
			}
		}
		if n := len(b.Records); n > 0 && n <= maxDeltaRecords && s.mirrorInUse() {
			touched = recordQuarters(b.Records)
		}
		if err := s.setCheckpoint(ctx, tx, len(b.Records) > maxDeltaRecords); err != nil {
			return err
		}
		// Read after any re-pricing, which bumps the generation too.
		var prevGen int64
		if touched != nil {
			if err := tx.QueryRowContext(ctx, `SELECT gen FROM generation`).Scan(&prevGen); err != nil {
				return fmt.Errorf("apply: generation: %w", formatError(err))
			}
		}
		if err := s.applyRecords(ctx, tx, b.Records, touched); err != nil {
			return err
		}
		if err := applyPrompts(ctx, tx, b.Prompts); err != nil {
			return err
		}
		if len(b.Files) > 0 {
			if err := tx.QueryRowContext(ctx, `SELECT files_gen FROM generation`).Scan(&prevFilesGen); err != nil {
				return fmt.Errorf("apply: files generation: %w", formatError(err))
			}
		}
		if err := applyFiles(ctx, tx, b.Files); err != nil {
			return err
		}
		if len(b.Files) > 0 {
			if err := tx.QueryRowContext(ctx, `SELECT files_gen FROM generation`).Scan(&filesGen); err != nil {
				return fmt.Errorf("apply: files generation: %w", formatError(err))
			}
		}
		if touched != nil {
			var err error
			if delta, err = readDelta(ctx, tx, touched); err != nil {
				return err
			}
			delta.prev = prevGen
		}
		if s.testHookBeforeCommit != nil {
			s.testHookBeforeCommit()
		}
		return nil
	})
	if err == nil && delta != nil {
		s.patchMirror(delta)
		s.savePatched(ctx)
	}
	if err == nil && len(b.Files) > 0 {
		s.patchFileStates(ctx, prevFilesGen, filesGen, b.Files)
	}
	return err
}

// WAL auto-checkpoint thresholds, in pages. SQLite checkpoints at the end
// of a commit that leaves the WAL longer than the threshold, copying every
// page in it into the database file and syncing both. The default (1,000
// pages, 4 MB) suits small commits. A catch-up's commits each rewrite
// megabytes of the same index pages, so checkpointing after each copies
// those pages again and again: deferring the checkpoint until the catch-up
// is over (the next small commit, or Close) copies each page once, and
// made a 600 MB first index about 7% faster. journal_size_limit in dsn
// shrinks the WAL file back afterwards.
const (
	defaultCheckpointPages = 1000
	bulkCheckpointPages    = 16384
)

// setCheckpoint raises the auto-checkpoint threshold for a large batch and
// restores the default for a small one. The setting belongs to the writer
// connection, which only write transactions use, one at a time. It is not
// undone by a rollback, and neither is the flag; should database/sql ever
// replace the connection, a stale flag costs only speed, never data.
func (s *Store) setCheckpoint(ctx context.Context, tx *sql.Tx, bulk bool) error {
	if bulk == s.bulkCheckpoint {
		return nil
	}
	pages := defaultCheckpointPages
	if bulk {
		pages = bulkCheckpointPages
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", pages)); err != nil {
		return fmt.Errorf("apply: set checkpoint threshold: %w", formatError(err))
	}
	s.bulkCheckpoint = bulk
	return nil
}

// insertRecords returns an INSERT of n records whose keys are not stored.
func insertRecords(n int) string {
	return "INSERT INTO record_rows (key_hash, " + recordColumns + ") VALUES " + placeholders(n, recordFields+1)
}

// placeholders returns n parenthesised groups of fields '?'.
func placeholders(n, fields int) string {
	row := "(" + strings.Repeat("?, ", fields-1) + "?)"
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	return b.String()
}

// applyRecords stores records in three steps, once storedRows has found
// which keys are stored. New keys are inserted, and their sums added to
// the rollup from Go, one upsert per rollup row instead of one per record
// as a trigger would. Keys already stored go through the upsert of
// upsertRecords, whose update trigger moves the replaced record's sums in
// the rollup. When touched is set, the quarter hours of the stored copies
// that the upsert may replace are added to it (see storedQuarters).
func (s *Store) applyRecords(ctx context.Context, tx *sql.Tx, records []usage.Record, touched map[int64]bool) error {
	if len(records) == 0 {
		return nil
	}
	for i := range records {
		if err := validRecord(&records[i]); err != nil {
			return err
		}
	}
	for i := range records {
		records[i].Cost, _ = s.prices.Price(&records[i])
	}
	// Readers compare the generation with that of their in-memory rollup;
	// bumping it in this transaction makes the change and the new value
	// visible together.
	if _, err := tx.ExecContext(ctx, `UPDATE generation SET `+bumpGen); err != nil {
		return fmt.Errorf("apply: bump generation: %w", formatError(err))
	}
	// One copy per key, so that an insert and an update of one key never
	// meet in one batch: the rollup sums of a record inserted here are
	// added only after all inserts.
	rs := mergeCopies(records)
	ids, err := internAll(ctx, tx, rs)
	if err != nil {
		return err
	}
	keys := make([]string, len(rs))
	for i := range rs {
		keys[i] = rs[i].Key
	}
	at, err := storedRows(ctx, tx, "record_rows", keys)
	if err != nil {
		return fmt.Errorf("apply: stored records: %w", err)
	}
	var fresh, stored []usage.Record
	var storedAt []int64
	for i := range rs {
		if id, ok := at[rs[i].Key]; ok {
			stored = append(stored, rs[i])
			storedAt = append(storedAt, id)
		} else {
			fresh = append(fresh, rs[i])
		}
	}
	if err := inChunks(ctx, tx, fresh, nil, ids, insertRecords); err != nil {
		return err
	}
	rollup := newRollupDelta()
	for i := range fresh {
		rollup.add(&fresh[i])
	}
	if err := rollup.apply(ctx, tx); err != nil {
		return err
	}
	if touched != nil && len(stored) > 0 {
		if err := storedQuarters(ctx, tx, storedAt, touched); err != nil {
			return err
		}
	}
	return inChunks(ctx, tx, stored, storedAt, ids, upsertRecords)
}

// mergeCopies returns records with one copy per key, the one
// usage.Record.Prefer keeps (the first among identical copies, as the
// upsert does),
// in first-seen order. It returns records itself when every key is
// distinct, as the ingester's batches are.
func mergeCopies(records []usage.Record) []usage.Record {
	at := make(map[string]int, len(records))
	var out []usage.Record
	for i := range records {
		r := &records[i]
		j, seen := at[r.Key]
		if !seen {
			at[r.Key] = i
			if out != nil {
				at[r.Key] = len(out)
				out = append(out, *r)
			}
			continue
		}
		if out == nil {
			// The first repeat: from here on, copy.
			out = append(make([]usage.Record, 0, len(records)), records[:i]...)
		}
		if r.Prefer(&out[j]) {
			out[j] = *r
		}
	}
	if out == nil {
		return records
	}
	return out
}

// inChunks runs the statement of query for records, rowsPerInsert at a
// time through one prepared statement and the remainder through a second.
// Each record's values are its id in rowIDs when rowIDs is set, its
// key_hash, then its values in recordColumns order; ids holds the
// interned id of every string of records.
func inChunks(ctx context.Context, tx *sql.Tx, records []usage.Record, rowIDs []int64, ids map[string]int64,
	query func(n int) string) error {
	args := make([]any, 0, rowsPerInsert*(recordFields+2))
	id := func(s string) int64 { return ids[s] }
	run := func(stmt *sql.Stmt, lo, hi int) error {
		args = args[:0]
		for i := lo; i < hi; i++ {
			if rowIDs != nil {
				args = append(args, rowIDs[i])
			}
			args = appendSlimArgs(append(args, keyHash(records[i].Key)), &records[i], id)
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("apply: records %q to %q: %w", records[lo].Key, records[hi-1].Key, formatError(err))
		}
		return nil
	}
	full := len(records) / rowsPerInsert * rowsPerInsert
	if full > 0 {
		stmt, err := tx.PrepareContext(ctx, query(rowsPerInsert))
		if err != nil {
			return fmt.Errorf("apply: prepare records: %w", formatError(err))
		}
		defer stmt.Close()
		for i := 0; i < full; i += rowsPerInsert {
			if err := run(stmt, i, i+rowsPerInsert); err != nil {
				return err
			}
		}
	}
	if full < len(records) {
		stmt, err := tx.PrepareContext(ctx, query(len(records)-full))
		if err != nil {
			return fmt.Errorf("apply: prepare records: %w", formatError(err))
		}
		defer stmt.Close()
		if err := run(stmt, full, len(records)); err != nil {
			return err
		}
	}
	return nil
}

// rollupKey is the primary key of a rollup row.
type rollupKey struct {
	qh                            int64
	session, project, user, model string
}

// rollupSum is what a batch adds to one rollup row.
type rollupSum struct {
	usage.Tokens
	cost                 usage.Money
	entries, first, last int64
}

// rollupDelta sums inserted records per rollup row, in first-seen order.
type rollupDelta struct {
	at   map[rollupKey]int
	keys []rollupKey
	sums []rollupSum
}

func newRollupDelta() *rollupDelta { return &rollupDelta{at: map[rollupKey]int{}} }

// add counts r in its rollup row, with the quarter hour that the
// rollup trigger computes in SQL.
func (d *rollupDelta) add(r *usage.Record) {
	ts := ms(r.Timestamp)
	k := rollupKey{qh: floorDiv(ts, quarterHourMS), session: r.SessionID, project: r.Project,
		user: r.User, model: r.Model}
	i, ok := d.at[k]
	if !ok {
		i = len(d.keys)
		d.at[k] = i
		d.keys = append(d.keys, k)
		d.sums = append(d.sums, rollupSum{first: ts, last: ts})
	}
	s := &d.sums[i]
	s.Tokens = s.Tokens.Add(r.Tokens)
	s.cost = s.cost.Add(r.Cost)
	s.entries++
	s.first, s.last = min(s.first, ts), max(s.last, ts)
}

// rollupFields is the number of columns upsertRollup binds per row.
const rollupFields = 16

// upsertRollup returns an upsert of n rollup rows that adds them to the
// stored rows of the same key, as the insert trigger did per record.
func upsertRollup(n int) string {
	return `INSERT INTO rollup (` + sourceColumns + `) VALUES ` + placeholders(n, rollupFields) + `
ON CONFLICT (qh, session_id, project, user, model) DO UPDATE SET
	cost = cost + excluded.cost,
	input = input + excluded.input,
	output = output + excluded.output,
	cache_creation_5m = cache_creation_5m + excluded.cache_creation_5m,
	cache_creation_1h = cache_creation_1h + excluded.cache_creation_1h,
	cache_read = cache_read + excluded.cache_read,
	web_search_requests = web_search_requests + excluded.web_search_requests,
	web_fetch_requests = web_fetch_requests + excluded.web_fetch_requests,
	entries = entries + excluded.entries,
	first_ts = min(first_ts, excluded.first_ts),
	last_ts = max(last_ts, excluded.last_ts)`
}

// apply adds the sums to the rollup table. Full statements share one
// prepared statement: preparing the upsert again for every 64 rows took
// a third of the time of writing them.
func (d *rollupDelta) apply(ctx context.Context, tx *sql.Tx) error {
	args := make([]any, 0, rowsPerInsert*rollupFields)
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	for lo := 0; lo < len(d.keys); lo += rowsPerInsert {
		hi := min(lo+rowsPerInsert, len(d.keys))
		args = args[:0]
		for i := lo; i < hi; i++ {
			k, s := &d.keys[i], &d.sums[i]
			args = append(args, k.qh, k.session, k.project, k.user, k.model, s.cost,
				s.Input, s.Output, s.CacheCreation5m, s.CacheCreation1h, s.CacheRead,
				s.WebSearchRequests, s.WebFetchRequests, s.entries, s.first, s.last)
		}
		var err error
		if hi-lo == rowsPerInsert {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, upsertRollup(rowsPerInsert)); err != nil {
					return fmt.Errorf("apply: rollup: %w", formatError(err))
				}
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, upsertRollup(hi-lo), args...)
		}
		if err != nil {
			return fmt.Errorf("apply: rollup: %w", formatError(err))
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

// internedValue returns the SQL of the string whose interned id is the
// value of expr.
func internedValue(expr string) string {
	return "(SELECT value FROM interned WHERE id = " + expr + ")"
}

// equalities returns the conditions and arguments for f's equality
// fields, which records and rollup rows share. Every value is a parameter.
func equalities(f usage.Filter) ([]string, []any) { return equalitiesOf(f, "?") }

// equalitiesOf is equalities with each column compared to value, an
// expression of the one parameter.
func equalitiesOf(f usage.Filter, value string) ([]string, []any) {
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
			conds = append(conds, c.col+" = "+value)
			args = append(args, c.val)
		}
	}
	return conds, args
}

// where returns the WHERE clause (with a leading space, or empty) and
// arguments that select the records passing f.
func where(f usage.Filter) (string, []any) { return whereOf(f, "?") }

// rowsWhere is where for queries of record_rows, whose strings are
// interned ids. Aggregate queries read record_rows rather than the view
// records: SQLite leaves out the joins of unused columns only in queries
// that are not aggregates, and would look up all thirteen strings of
// every row. A string that is not interned has no id and so selects no
// record, as it should.
func rowsWhere(f usage.Filter) (string, []any) {
	return whereOf(f, "(SELECT id FROM interned WHERE value = ?)")
}

// whereOf is where with equalitiesOf(f, value).
func whereOf(f usage.Filter, value string) (string, []any) {
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
	eq, eqArgs := equalitiesOf(f, value)
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
	if err := s.checkPrices(ctx); err != nil {
		return nil, fmt.Errorf("records: %w", err)
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
			&r.Speed, &r.InferenceGeo, &r.User, &r.Machine, &r.Input, &r.Output, &r.CacheCreation5m,
			&r.CacheCreation1h, &r.CacheRead, &r.WebSearchRequests, &r.WebFetchRequests,
			&r.Cost, &r.Agent, &r.Attribution); err != nil {
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
	cond, args := rowsWhere(f)
	var n int64
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM record_rows`+cond, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count records: %w", formatError(err))
	}
	return n, nil
}

// LatestTimestamp returns the newest record timestamp, or the zero time
// when the store is empty.
func (s *Store) LatestTimestamp(ctx context.Context) (time.Time, error) {
	var ts sql.NullInt64
	if err := s.reader.QueryRowContext(ctx, `SELECT max(ts) FROM record_rows`).Scan(&ts); err != nil {
		return time.Time{}, fmt.Errorf("latest timestamp: %w", formatError(err))
	}
	if !ts.Valid {
		return time.Time{}, nil
	}
	return fromMS(ts.Int64), nil
}
