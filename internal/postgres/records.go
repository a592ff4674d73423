package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/claude-token-monitor/ctm/internal/usage"
	"github.com/jackc/pgx/v5"
)

// recordColumns lists the records columns read back into a usage.Record,
// in the order scanRecord expects.
const recordColumns = `key, message_id, request_id, ts, model, session_id, project, cwd,
	git_branch, version, is_sidechain, service_tier, speed, inference_geo, user_name, machine,
	input, output, cache_creation_5m, cache_creation_1h, cache_read, web_search_requests,
	web_fetch_requests, cost, agent, attribution`

// upsertRecords inserts a whole batch in one statement: each column is
// bound as one array and unnest turns the arrays back into rows, so the
// statement text and its plan are the same for every batch size.
//
// A row whose key is stored replaces the stored copy only if it is of the
// same user (in team mode a user may write and replace only their own
// records: a key another user holds stays theirs) and usage.Record.Prefer
// prefers it: more output, then the earlier timestamp, then the smaller
// session id and project, then a known agent and attribution; an equal copy replaces it too (it is the same
// response read again, which fills in fields an older release did not
// keep). The decision depends only on the two rows, so any order of
// batches, and any interleaving of concurrent ones, converges to the same
// row.
const upsertRecords = `INSERT INTO records (key, message_id, request_id, ts, model,
	session_id, project, cwd, git_branch, version, is_sidechain, service_tier, speed,
	user_name, machine, telemetry, input, output, cache_creation_5m, cache_creation_1h,
	cache_read, web_search_requests, inference_geo, web_fetch_requests, cost, agent, attribution)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[],
	$5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::boolean[],
	$12::text[], $13::text[], $14::text[], $15::text[], $16::boolean[], $17::bigint[],
	$18::bigint[], $19::bigint[], $20::bigint[], $21::bigint[], $22::bigint[],
	$23::text[], $24::bigint[], $25::bigint[], $26::text[], $27::text[])
ON CONFLICT (key) DO UPDATE SET
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
	user_name = excluded.user_name,
	machine = excluded.machine,
	telemetry = excluded.telemetry,
	input = excluded.input,
	output = excluded.output,
	cache_creation_5m = excluded.cache_creation_5m,
	cache_creation_1h = excluded.cache_creation_1h,
	cache_read = excluded.cache_read,
	web_search_requests = excluded.web_search_requests,
	inference_geo = excluded.inference_geo,
	web_fetch_requests = excluded.web_fetch_requests,
	cost = excluded.cost,
	agent = excluded.agent,
	attribution = excluded.attribution
WHERE records.user_name = excluded.user_name AND (excluded.output > records.output
	OR (excluded.output = records.output AND (excluded.ts < records.ts
		OR (excluded.ts = records.ts AND (excluded.session_id < records.session_id
			OR (excluded.session_id = records.session_id AND (excluded.project < records.project
				OR (excluded.project = records.project AND ((excluded.agent <> '') > (records.agent <> '')
					OR ((excluded.agent <> '') = (records.agent <> '')
						AND (excluded.attribution <> '' OR records.attribution = '')))))))))))`

// deleteSuperseded deletes the telemetry records of the batch's request ids
// that a transcript record of the same user also reports
// (usage.Record.Supersedes), in either order of arrival. Only the same
// user's: otherwise anyone could delete another's telemetry by pushing a
// record that carries its request id.
const deleteSuperseded = `DELETE FROM records t
WHERE t.telemetry AND t.request_id <> '' AND t.request_id = ANY($1::text[])
	AND EXISTS (SELECT 1 FROM records r WHERE NOT r.telemetry AND r.request_id = t.request_id
		AND r.user_name = t.user_name)`

// writeLock serialises the team server's record writes. Whether a
// telemetry record survives depends on rows another transaction may be
// writing at the same moment (its transcript copy), which row locks cannot
// express; one transaction-scoped advisory lock keeps the rule exact at the
// cost of writes not overlapping, which a team server's push rate allows.
const writeLock = `SELECT pg_advisory_xact_lock(7245031976510201357)`

// Timestamps outside years 1..9999 cannot come from an RFC 3339 log line;
// the SQLite store rejects them too, so both stores accept the same input.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Apply stores the batch's records and file states in one transaction.
// It returns EINVALID, and stores nothing, when a record has no key, a
// timestamp outside years 1 to 9999, or text that PostgreSQL cannot store
// (invalid UTF-8 or NUL), or a file state has no path. Copies of one
// response are kept by usage.Record.Prefer, and a telemetry record is
// dropped once a transcript record supersedes it.
func (s *Store) Apply(ctx context.Context, b usage.Batch) error {
	rows, err := mergeBatch(b.Records)
	if err != nil {
		return err
	}
	for _, f := range b.Files {
		if f.Path == "" {
			return usage.Errorf(usage.EINVALID, "file state has no path")
		}
		if err := validText("file path", f.Path); err != nil {
			return err
		}
	}
	for i := range b.Prompts {
		if err := validPrompt(&b.Prompts[i]); err != nil {
			return err
		}
	}
	if len(rows) == 0 && len(b.Prompts) == 0 && len(b.Files) == 0 {
		return nil
	}
	return s.write(ctx, func(tx pgx.Tx) error {
		if err := s.applyRecords(ctx, tx, rows); err != nil {
			return err
		}
		if err := applyPrompts(ctx, tx, b.Prompts); err != nil {
			return err
		}
		return applyFiles(ctx, tx, b.Files)
	})
}

// mergeBatch validates records and resolves copies of one response inside
// the batch, as the database would across batches: one statement cannot
// touch a row twice. Telemetry records superseded by a transcript record
// of the batch are dropped. The result is sorted by key so that concurrent
// batches touch rows in the same order.
func mergeBatch(records []usage.Record) ([]*usage.Record, error) {
	byKey := make(map[string]*usage.Record, len(records))
	// transcriptRequests holds (user, request id): a user's transcript
	// supersedes only that user's telemetry.
	transcriptRequests := map[[2]string]bool{}
	for i := range records {
		r := &records[i]
		if err := validRecord(r); err != nil {
			return nil, err
		}
		// Copies of one key from different users: the first keeps it,
		// as the database does across batches.
		if old, ok := byKey[r.Key]; !ok || (old.User == r.User && r.Prefer(old)) {
			byKey[r.Key] = r
		}
		if !r.FromTelemetry() && r.RequestID != "" {
			transcriptRequests[[2]string{r.User, r.RequestID}] = true
		}
	}
	rows := make([]*usage.Record, 0, len(byKey))
	for _, r := range byKey {
		if r.FromTelemetry() && transcriptRequests[[2]string{r.User, r.RequestID}] {
			continue
		}
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b *usage.Record) int { return cmp.Compare(a.Key, b.Key) })
	return rows, nil
}

// validRecord checks what PostgreSQL would otherwise reject with a less
// helpful message.
func validRecord(r *usage.Record) error {
	if r.Key == "" {
		return usage.Errorf(usage.EINVALID, "record at %s has no key", r.Timestamp.Format(time.RFC3339))
	}
	if r.Timestamp.Before(minTime) || !r.Timestamp.Before(maxTime) {
		return usage.Errorf(usage.EINVALID, "record %q: timestamp %s is out of range", r.Key, r.Timestamp)
	}
	for _, f := range []struct{ name, v string }{
		{"key", r.Key}, {"message_id", r.MessageID}, {"request_id", r.RequestID},
		{"model", r.Model}, {"session_id", r.SessionID}, {"project", r.Project},
		{"cwd", r.CWD}, {"git_branch", r.GitBranch}, {"version", r.Version},
		{"service_tier", r.ServiceTier}, {"speed", r.Speed}, {"inference_geo", r.InferenceGeo}, {"user", r.User},
		{"machine", r.Machine}, {"agent", r.Agent}, {"attribution", r.Attribution},
	} {
		if err := validText(f.name, f.v); err != nil {
			return usage.Errorf(usage.EINVALID, "record %q: %s", r.Key, usage.ErrorMessage(err))
		}
	}
	return nil
}

// validText rejects strings that a PostgreSQL text column cannot hold.
func validText(name, v string) error {
	if !utf8.ValidString(v) {
		return usage.Errorf(usage.EINVALID, "%s is not valid UTF-8", name)
	}
	if strings.IndexByte(v, 0) >= 0 {
		return usage.Errorf(usage.EINVALID, "%s contains a NUL character", name)
	}
	return nil
}

// applyRecords prices rows, already merged and sorted, and upserts them in
// one statement.
func (s *Store) applyRecords(ctx context.Context, tx pgx.Tx, rows []*usage.Record) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	var (
		key, msgID, reqID, model, session            = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		project, cwd, branch, version, tier, speed   = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		user, machine                                = make([]string, n), make([]string, n)
		ts                                           = make([]time.Time, n)
		sidechain, telemetry                         = make([]bool, n), make([]bool, n)
		input, output, cc5m, cc1h, cacheRead, search = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		geo, fetch, cost                             = make([]string, n), make([]int64, n), make([]int64, n)
		agent, attribution                           = make([]string, n), make([]string, n)
	)
	for i, r := range rows {
		key[i], msgID[i], reqID[i] = r.Key, r.MessageID, r.RequestID
		ts[i], model[i], session[i], project[i], cwd[i] = ms(r.Timestamp), r.Model, r.SessionID, r.Project, r.CWD
		branch[i], version[i], sidechain[i], tier[i], speed[i] = r.GitBranch, r.Version, r.IsSidechain, r.ServiceTier, r.Speed
		user[i], machine[i], telemetry[i] = r.User, r.Machine, r.FromTelemetry()
		input[i], output[i], cc5m[i], cc1h[i], cacheRead[i], search[i] = r.Input, r.Output, r.CacheCreation5m, r.CacheCreation1h, r.CacheRead, r.WebSearchRequests
		c, _ := s.prices.Price(r)
		geo[i], fetch[i], cost[i] = r.InferenceGeo, r.WebFetchRequests, int64(c)
		agent[i], attribution[i] = r.Agent, r.Attribution
	}
	if _, err := tx.Exec(ctx, writeLock); err != nil {
		return fmt.Errorf("apply: lock: %w", formatError(err))
	}
	// Under the write lock: costs added here join costs of the same table.
	if err := s.ensurePriced(ctx, tx); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, upsertRecords, key, msgID, reqID, ts, model, session,
		project, cwd, branch, version, sidechain, tier, speed, user, machine, telemetry,
		input, output, cc5m, cc1h, cacheRead, search, geo, fetch, cost, agent, attribution); err != nil {
		return fmt.Errorf("apply: %d records: %w", n, formatError(err))
	}
	if _, err := tx.Exec(ctx, deleteSuperseded, reqID); err != nil {
		return fmt.Errorf("apply: superseded telemetry: %w", formatError(err))
	}
	return nil
}

// where returns the WHERE clause (with a leading space, or empty) that
// selects the records passing f, adding its values to a.
func where(f usage.Filter, a *args) string {
	var conds []string
	if !f.Since.IsZero() {
		conds = append(conds, "ts >= "+a.add(ceilMS(f.Since)))
	}
	if !f.Until.IsZero() {
		conds = append(conds, "ts < "+a.add(ceilMS(f.Until)))
	}
	if f.Project != "" {
		conds = append(conds, "project = "+a.add(f.Project))
	}
	if f.Model != "" {
		conds = append(conds, "model = "+a.add(f.Model))
	}
	if f.SessionID != "" {
		conds = append(conds, "session_id = "+a.add(f.SessionID))
	}
	if f.User != "" {
		conds = append(conds, "user_name = "+a.add(f.User))
	}
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// page returns the LIMIT and OFFSET clause for p; a zero limit is LIMIT
// ALL (a NULL limit).
func page(p usage.Page, a *args) (string, error) {
	if p.Limit < 0 || p.Offset < 0 {
		return "", usage.Errorf(usage.EINVALID, "page limit %d and offset %d must not be negative", p.Limit, p.Offset)
	}
	var lim *int64
	if p.Limit > 0 {
		l := int64(p.Limit)
		lim = &l
	}
	return " LIMIT " + a.add(lim) + " OFFSET " + a.add(int64(p.Offset)), nil
}

// Records returns the records that pass f in timestamp order (ties in
// insertion order), windowed by p. A zero p.Limit means no limit; a
// negative limit or offset is EINVALID.
func (s *Store) Records(ctx context.Context, f usage.Filter, p usage.Page) ([]usage.Record, error) {
	var a args
	cond := where(f, &a)
	lim, err := page(p, &a)
	if err != nil {
		return nil, err
	}
	if err := s.checkPrices(ctx); err != nil {
		return nil, fmt.Errorf("records: %w", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+recordColumns+` FROM records`+cond+` ORDER BY ts, id`+lim, a...)
	if err != nil {
		return nil, fmt.Errorf("records: %w", formatError(err))
	}
	defer rows.Close()
	var out []usage.Record
	for rows.Next() {
		var r usage.Record
		if err := rows.Scan(&r.Key, &r.MessageID, &r.RequestID, &r.Timestamp, &r.Model, &r.SessionID,
			&r.Project, &r.CWD, &r.GitBranch, &r.Version, &r.IsSidechain, &r.ServiceTier,
			&r.Speed, &r.InferenceGeo, &r.User, &r.Machine, &r.Input, &r.Output, &r.CacheCreation5m,
			&r.CacheCreation1h, &r.CacheRead, &r.WebSearchRequests, &r.WebFetchRequests,
			&r.Cost, &r.Agent, &r.Attribution); err != nil {
			return nil, fmt.Errorf("records: %w", formatError(err))
		}
		r.Timestamp = r.Timestamp.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("records: %w", formatError(err))
	}
	return out, nil
}

// CountRecords returns how many records pass f.
func (s *Store) CountRecords(ctx context.Context, f usage.Filter) (int64, error) {
	var a args
	cond := where(f, &a)
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM records`+cond, a...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count records: %w", formatError(err))
	}
	return n, nil
}

// LatestTimestamp returns the newest record timestamp, or the zero time
// when the store is empty.
func (s *Store) LatestTimestamp(ctx context.Context) (time.Time, error) {
	var ts *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT max(ts) FROM records`).Scan(&ts); err != nil {
		return time.Time{}, fmt.Errorf("latest timestamp: %w", formatError(err))
	}
	if ts == nil {
		return time.Time{}, nil
	}
	return ts.UTC(), nil
}
