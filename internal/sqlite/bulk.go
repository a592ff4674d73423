package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// A first index writes every record once into an empty store. Through
// Apply it cost, per record, an insert into the random-order key index
// and into the session index, an upsert of a rollup row, and a share of a
// commit that rewrote most index pages: on 512 MB of long sessions, the
// writer was the critical path and its cost per record grew with the size,
// because the indexes outgrew the page cache.
//
// A Bulk writes the whole first index in one transaction instead. It drops
// the secondary indexes and triggers of records for the duration, appends
// records in arrival order under ids it assigns (the table's B-tree only
// grows at its right edge), keeps one copy per key in a map of key hashes,
// sums the rollup in Go, and at Commit writes the rollup in key order and
// builds the indexes once, each by one sort. Nothing is visible until the
// commit, and a crash before it leaves the store as empty as it was, so a
// restart simply indexes again: the promises of DESIGN §7 hold by
// construction, without a recovery path.

// A first index needs little page cache: it appends records and the
// rollup at the right edge of their B-trees and builds each index by one
// sort, so it reads back almost nothing it wrote. The writer's usual 8 MiB
// (writerCacheKiB) filled during every first index larger than that and
// cost twice its size in RSS (the driver's allocator rounds a page and its
// header up to 8 KiB): on 512 MB of long sessions, 2 MiB cut peak RSS by
// about 12 MB at the same CPU time.
const bulkCacheKiB = 2048

// writerCacheKiB is the page cache of the writer connection outside a
// Bulk (see dsn).
const writerCacheKiB = 8192

// Bulk is a first index being written in one transaction (see BeginBulk).
// Its methods must be called from one goroutine at a time.
type Bulk struct {
	s    *Store
	conn *sql.Conn // the writer connection, which tx runs on
	tx   *sql.Tx

	// restore is the SQL of the indexes and triggers of records that
	// BeginBulk dropped; Commit creates them again.
	restore []string
	// inPlace is whether the transaction runs with a rollback journal
	// (see leaveWAL); the connection goes back to WAL when it ends.
	inPlace bool

	// seen knows each stored key by two independent 64-bit hashes,
	// which make a false match (two keys, one hash) about as likely as
	// 2^-100 for a million records. The record in slot i has id i+1.
	seed1, seed2 maphash.Seed
	seen         keySlots
	next         int64 // id of the next record

	// ids and names intern the strings that slots, rollup keys and
	// record_rows keep: an int32 in place of each, so that the map of
	// keys and the rollup, which grow with the records, cost tens of
	// bytes a row. The id of a string is its id in the interned table
	// too, which BeginBulk emptied (no record refers to it); the first
	// stored of names are in the table, the rest are inserted before
	// the next records.
	ids    map[string]int32
	names  []string
	stored int
	// last and lastID are the string and id of each interned field of
	// the record interned last: a record mostly repeats its
	// predecessor's, which a comparison finds faster than the map.
	last   [internedFields]string
	lastID [internedFields]int64
	rollup bulkRollup
	// stale lists rollup rows that lost a record at one of their time
	// bounds; Commit recomputes their bounds from records.
	stale []bulkRKey

	// insert, pinsert and rinsert insert rowsPerInsert records, prompts
	// and rollup rows, prepared on first use.
	insert, pinsert, rinsert driver.Stmt
	rreplace                 driver.Stmt // replaces rowsPerInsert records
	update                   *sql.Stmt   // prepared on the first rewrite
	pargs                    []any
	named                    []driver.NamedValue
	seenPrompts              map[[2]uint64]struct{}
	replaced                 int
	args                     []any
	pend                     []usage.Record
	// inexact lists the records of pend that flush must rewrite.
	inexact []int
	// later holds replacements of inserted records (see applyLater).
	later map[int64]usage.Record
	done  bool
}

// bulkSlot is a stored record as Record.Prefer compares it, and the
// second hash of its key (see keySlots).
type bulkSlot struct {
	h2               uint64
	ts, output       int64
	session, project int32
	agent, attrib    bool
}

// bulkRKey is the primary key of a rollup row, its strings interned.
type bulkRKey struct {
	qh                            int64
	session, project, user, model int32
}

// bulkRollup sums records per rollup row.
type bulkRollup struct {
	at   map[bulkRKey]int32
	keys []bulkRKey
	sums []rollupSum
}

// add adds r (sign 1) or takes it away (sign -1) from row k, and reports
// whether r was at one of the row's time bounds when taken away from a
// row that keeps other records: then the bounds are unknown.
func (d *bulkRollup) add(k bulkRKey, r *usage.Record, sign int64) (lostBound bool) {
	ts := ms(r.Timestamp)
	i, ok := d.at[k]
	if !ok {
		i = int32(len(d.keys))
		d.at[k] = i
		d.keys = append(d.keys, k)
		d.sums = append(d.sums, rollupSum{first: ts, last: ts})
	}
	s := &d.sums[i]
	t := r.Tokens
	if sign < 0 {
		t = usage.Tokens{Input: -t.Input, Output: -t.Output,
			CacheCreation5m: -t.CacheCreation5m, CacheCreation1h: -t.CacheCreation1h,
			CacheRead: -t.CacheRead, WebSearchRequests: -t.WebSearchRequests,
			WebFetchRequests: -t.WebFetchRequests}
	}
	s.Tokens = s.Tokens.Add(t)
	s.cost = s.cost.Add(usage.Money(sign) * r.Cost)
	s.entries += sign
	if sign > 0 {
		if s.entries == 1 {
			// The row was empty: its bounds were those of records that
			// have moved to other rows since.
			s.first, s.last = ts, ts
		} else {
			s.first, s.last = min(s.first, ts), max(s.last, ts)
		}
		return false
	}
	return s.entries != 0 && (ts == s.first || ts == s.last)
}

// BeginBulk starts a bulk write of a first index when the store holds no
// records, and returns nil when it holds some: then Apply is the way. The
// writer holds the write lock until Commit or Rollback.
func (s *Store) BeginBulk(ctx context.Context) (usage.BulkWriter, error) {
	b, err := s.beginBulk(ctx)
	if b == nil || err != nil {
		return nil, err
	}
	return b, nil
}

func (s *Store) beginBulk(ctx context.Context) (b *Bulk, err error) {
	conn, err := s.writer.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("bulk: begin: %w", formatError(err))
	}
	inPlace := s.inPlace && s.leaveWAL(ctx, conn)
	setCache(conn, bulkCacheKiB)
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		if inPlace {
			enterWAL(conn)
		}
		setCache(conn, writerCacheKiB)
		conn.Close()
		return nil, fmt.Errorf("bulk: begin: %w", formatError(err))
	}
	defer func() {
		if b == nil {
			tx.Rollback()
			if inPlace {
				enterWAL(conn)
			}
			setCache(conn, writerCacheKiB)
			conn.Close()
		}
	}()
	var has int
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM records) OR EXISTS (SELECT 1 FROM prompts)`).Scan(&has); err != nil {
		return nil, fmt.Errorf("bulk: %w", formatError(err))
	}
	if has != 0 {
		return nil, nil
	}
	if err := s.ensurePriced(ctx, tx); err != nil {
		return nil, err
	}
	// Every page the run writes stays in the WAL until the commit;
	// checkpointing halfway would copy pages that are written again.
	if err := s.setCheckpoint(ctx, tx, true); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE generation SET `+bumpGen); err != nil {
		return nil, fmt.Errorf("bulk: bump generation: %w", formatError(err))
	}
	// An empty records table can have rollup rows only if something
	// other than Apply wrote them; start from nothing either way.
	if _, err := tx.ExecContext(ctx, `DELETE FROM rollup`); err != nil {
		return nil, fmt.Errorf("bulk: clear rollup: %w", formatError(err))
	}
	// No record refers to an interned string: the Bulk numbers them
	// afresh, as it interns them, from the empty string's 0.
	if _, err := tx.ExecContext(ctx, `DELETE FROM interned`); err != nil {
		return nil, fmt.Errorf("bulk: clear interned strings: %w", formatError(err))
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO interned (id, value) VALUES (0, '')`); err != nil {
		return nil, fmt.Errorf("bulk: clear interned strings: %w", formatError(err))
	}
	rows, err := tx.QueryContext(ctx, `SELECT type, name, sql FROM sqlite_schema
		WHERE tbl_name IN ('record_rows', 'prompts') AND type IN ('index', 'trigger') AND sql IS NOT NULL
		ORDER BY type, name`)
	if err != nil {
		return nil, fmt.Errorf("bulk: read schema: %w", formatError(err))
	}
	var drops, restore []string
	for rows.Next() {
		var typ, name, q string
		if err := rows.Scan(&typ, &name, &q); err != nil {
			rows.Close()
			return nil, fmt.Errorf("bulk: read schema: %w", formatError(err))
		}
		drops = append(drops, fmt.Sprintf("DROP %s %q", typ, name))
		restore = append(restore, q)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("bulk: read schema: %w", formatError(err))
	}
	for _, q := range drops {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("bulk: %s: %w", q, formatError(err))
		}
	}
	return &Bulk{
		s: s, conn: conn, tx: tx, restore: restore, inPlace: inPlace,
		seed1: maphash.MakeSeed(), seed2: maphash.MakeSeed(),
		seen: keySlots{at: map[uint64]int32{}}, seenPrompts: map[[2]uint64]struct{}{}, next: 1,
		ids: map[string]int32{"": 0}, names: []string{""}, stored: 1, rollup: bulkRollup{at: map[bulkRKey]int32{}},
		args: make([]any, 0, rowsPerInsert*bulkArgs),
	}, nil
}

// Binding a value costs the driver a lookup of the parameter's name and
// a locked call into SQLite, about 70 ns: for the 27 columns of a record,
// most of a first index's insert. Most of those values are small (the
// interned ids, the token counts, a flag), so a Bulk packs them three to
// an integer parameter and SQLite takes them apart, which costs a few
// operations of its VM per value instead of a bind. message_id and
// request_id are NULL when the key tells them. A record with a value that
// does not fit (an id or count of 2^21 or more, or the ids themselves)
// is inserted with zeros there and rewritten in full by the UPDATE of
// replace, before the statement's records are ever read.

// packBits is the width of a value packed into a parameter, three to a
// parameter, the last in its top bits.
const packBits = 21

// bulkArgs is how many parameters a record takes in bulkInsert.
const bulkArgs = 12

// bulkInsert returns an INSERT of n records with their ids, bound by
// appendBulkArgs. The anonymous parameters of the VALUES are each bound
// once, and the SELECT over it names them as columns, twice or thrice
// for a packed one.
func bulkInsert(n int) string {
	const mask = "2097151" // 1<<packBits - 1
	lo := func(c int) string { return fmt.Sprintf("column%d & %s", c, mask) }
	mid := func(c int) string { return fmt.Sprintf("(column%d >> %d) & %s", c, packBits, mask) }
	hi := func(c int) string { return fmt.Sprintf("column%d >> %d", c, 2*packBits) }
	// The order of recordColumns; the comments name appendBulkArgs's
	// values.
	cols := []string{
		"column2", "NULL", "NULL", "column3", // key, message_id, request_id, ts
		lo(4), mid(4), hi(4), // model, session_id, project
		lo(5), mid(5), hi(5), // cwd, git_branch, version
		mid(8),               // is_sidechain
		lo(6), mid(6), hi(6), // service_tier, speed, inference_geo
		lo(7), mid(7), // user, machine
		lo(9), mid(9), hi(9), // input, output, cache_creation_5m
		lo(10), mid(10), hi(10), // cache_creation_1h, cache_read, web_search_requests
		hi(8),        // web_fetch_requests
		"column11",   // cost
		hi(7), lo(8), // agent, attribution
	}
	return "INSERT INTO record_rows (id, key_hash, " + recordColumns + ") SELECT column1, column12, " +
		strings.Join(cols, ", ") + " FROM (VALUES " + placeholders(n, bulkArgs) + ")"
}

// pack3 returns a, b and c packed as bulkInsert takes them apart, and
// whether each is in [0, 2^packBits).
func pack3(a, b, c int64) (int64, bool) {
	const limit = 1 << packBits
	ok := uint64(a) < limit && uint64(b) < limit && uint64(c) < limit
	return a | b<<packBits | c<<(2*packBits), ok
}

// appendBulkArgs appends id and r's values for bulkInsert, and reports
// whether they are r's: when not, the record must be rewritten (see
// replace). Only the key is bound as a string: binding one costs the
// driver a C allocation and two locked calls into SQLite.
func (b *Bulk) appendBulkArgs(args []any, id int64, r *usage.Record) ([]any, bool) {
	v := b.internAll(r)
	msg, req := keyIDs(r)
	exact := msg == nil && req == nil
	var side int64
	if r.IsSidechain {
		side = 1
	}
	var p [7]int64
	var ok [7]bool
	p[0], ok[0] = pack3(v[0], v[1], v[2])
	p[1], ok[1] = pack3(v[3], v[4], v[5])
	p[2], ok[2] = pack3(v[6], v[7], v[8])
	p[3], ok[3] = pack3(v[9], v[10], v[11])
	p[4], ok[4] = pack3(v[12], side, r.WebFetchRequests)
	p[5], ok[5] = pack3(r.Input, r.Output, r.CacheCreation5m)
	p[6], ok[6] = pack3(r.CacheCreation1h, r.CacheRead, r.WebSearchRequests)
	for i := range p {
		if !ok[i] {
			p[i], exact = 0, false
		}
	}
	return append(args, id, r.Key, ms(r.Timestamp), p[0], p[1], p[2], p[3], p[4], p[5], p[6],
		int64(r.Cost), keyHash(r.Key)), exact
}

// appendRowArgs appends r's record_rows values in recordColumns order,
// its strings as the Bulk's ids.
func (b *Bulk) appendRowArgs(args []any, r *usage.Record) []any {
	v := b.internAll(r)
	msg, req := keyIDs(r)
	return append(args, r.Key, msg, req, ms(r.Timestamp), v[0], v[1], v[2], v[3], v[4], v[5],
		r.IsSidechain, v[6], v[7], v[8], v[9], v[10], r.Input, r.Output,
		r.CacheCreation5m, r.CacheCreation1h, r.CacheRead, r.WebSearchRequests,
		r.WebFetchRequests, int64(r.Cost), v[11], v[12])
}

// internAll returns the ids of r's interned strings.
func (b *Bulk) internAll(r *usage.Record) [internedFields]int64 {
	f := internedStrings(r)
	var v [internedFields]int64
	for i, s := range f {
		if s == b.last[i] {
			v[i] = b.lastID[i]
			continue
		}
		v[i] = int64(b.intern(s))
		b.last[i], b.lastID[i] = s, v[i]
	}
	return v
}

// storeNames inserts the strings interned since the last call into the
// interned table, before records that refer to them.
func (b *Bulk) storeNames(ctx context.Context) error {
	for b.stored < len(b.names) {
		part := b.names[b.stored:min(b.stored+internChunk, len(b.names))]
		args := make([]any, 0, 2*len(part))
		for i, name := range part {
			args = append(args, b.stored+i, name)
		}
		if _, err := b.tx.ExecContext(ctx, `INSERT INTO interned (id, value) VALUES `+
			placeholders(len(part), 2), args...); err != nil {
			return fmt.Errorf("bulk: interned strings: %w", formatError(err))
		}
		b.stored += len(part)
	}
	return nil
}

func (b *Bulk) intern(s string) int32 {
	if v, ok := b.ids[s]; ok {
		return v
	}
	v := int32(len(b.names))
	b.ids[s] = v
	b.names = append(b.names, s)
	return v
}

// rkey returns the rollup row of r.
func (b *Bulk) rkey(r *usage.Record) bulkRKey {
	return bulkRKey{qh: floorDiv(ms(r.Timestamp), quarterHourMS), session: b.intern(r.SessionID),
		project: b.intern(r.Project), user: b.intern(r.User), model: b.intern(r.Model)}
}

// slot returns what the map of keys keeps of r.
func (b *Bulk) slot(r *usage.Record) bulkSlot {
	return bulkSlot{ts: ms(r.Timestamp), output: r.Output, session: b.intern(r.SessionID),
		project: b.intern(r.Project), agent: r.Agent != "", attrib: r.Attribution != ""}
}

// take moves old's sums out of the rollup and r's in.
func (b *Bulk) take(old, r *usage.Record) {
	if k := b.rkey(old); b.rollup.add(k, old, -1) {
		b.stale = append(b.stale, k)
	}
	b.rollup.add(b.rkey(r), r, 1)
}

// Apply adds a batch, as Store.Apply would, to the bulk transaction.
func (b *Bulk) Apply(ctx context.Context, batch usage.Batch) error {
	if b.done {
		return errors.New("bulk: already committed or rolled back")
	}
	for i := range batch.Records {
		if err := validRecord(&batch.Records[i]); err != nil {
			return err
		}
	}
	rs := mergeCopies(batch.Records)
	for i := range rs {
		r := &rs[i]
		r.Cost, _ = b.s.prices.Price(r)
		h := [2]uint64{maphash.String(b.seed1, r.Key), maphash.String(b.seed2, r.Key)}
		i, stored := b.seen.find(h)
		if !stored {
			b.seen.add(h, b.slot(r))
			b.rollup.add(b.rkey(r), r, 1)
			if err := b.queue(ctx, r); err != nil {
				return err
			}
			continue
		}
		if !b.seen.slot(i).replacedBy(r, b.names) {
			continue
		}
		if err := b.replace(ctx, int64(i)+1, r); err != nil {
			return err
		}
	}
	// Records and prompts short of a full statement wait for the next
	// batch: a shorter statement is prepared for its one use.
	if err := b.prompts(ctx, batch.Prompts); err != nil {
		return err
	}
	return applyFiles(ctx, b.tx, batch.Files)
}

// prompts stores the prompts not seen before in this bulk write; like
// applyPrompts, it keeps the first copy of each.
func (b *Bulk) prompts(ctx context.Context, prompts []usage.Prompt) error {
	for i := range prompts {
		p := &prompts[i]
		if err := validPrompt(p); err != nil {
			return err
		}
		h := [2]uint64{maphash.String(b.seed1, p.Key), maphash.String(b.seed2, p.Key)}
		if _, ok := b.seenPrompts[h]; ok {
			continue
		}
		b.seenPrompts[h] = struct{}{}
		b.pargs = append(b.pargs, p.Key, p.SessionID, p.Project, ms(p.Timestamp), p.Text, p.User, p.Machine, keyHash(p.Key))
		if len(b.pargs) == rowsPerInsert*promptFields {
			if err := b.flushPrompts(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// flushPrompts inserts the queued prompts.
func (b *Bulk) flushPrompts(ctx context.Context) error {
	n := len(b.pargs) / promptFields
	if n == 0 {
		return nil
	}
	if err := b.exec(ctx, &b.pinsert, n == rowsPerInsert, insertPrompts, n, b.pargs); err != nil {
		return fmt.Errorf("bulk: prompts: %w", formatError(err))
	}
	clear(b.pargs)
	b.pargs = b.pargs[:0]
	return nil
}

// replacedBy is the WHERE clause of upsertRecords: whether r replaces the
// stored copy. A copy equal in every compared field replaces it too.
func (o *bulkSlot) replacedBy(r *usage.Record, names []string) bool {
	if r.Output != o.output {
		return r.Output > o.output
	}
	if ts := ms(r.Timestamp); ts != o.ts {
		return ts < o.ts
	}
	if s := names[o.session]; r.SessionID != s {
		return r.SessionID < s
	}
	if p := names[o.project]; r.Project != p {
		return r.Project < p
	}
	if (r.Agent != "") != o.agent {
		return r.Agent != ""
	}
	return r.Attribution != "" || !o.attrib
}

// queue adds r to the records inserted by the next full statement.
func (b *Bulk) queue(ctx context.Context, r *usage.Record) error {
	b.pend = append(b.pend, *r)
	b.next++
	if len(b.pend) == rowsPerInsert {
		return b.flush(ctx)
	}
	return nil
}

// flush inserts the queued records, then rewrites those whose values
// bulkInsert could not carry.
func (b *Bulk) flush(ctx context.Context) error {
	if len(b.pend) == 0 {
		return nil
	}
	first := b.next - int64(len(b.pend))
	b.args = b.args[:0]
	b.inexact = b.inexact[:0]
	for i := range b.pend {
		var exact bool
		b.args, exact = b.appendBulkArgs(b.args, first+int64(i), &b.pend[i])
		if !exact {
			b.inexact = append(b.inexact, i)
		}
	}
	if err := b.storeNames(ctx); err != nil {
		return err
	}
	if err := b.exec(ctx, &b.insert, len(b.pend) == rowsPerInsert, bulkInsert, len(b.pend), b.args); err != nil {
		return fmt.Errorf("bulk: records %q to %q: %w", b.pend[0].Key, b.pend[len(b.pend)-1].Key, formatError(err))
	}
	for _, i := range b.inexact {
		if err := b.rewrite(ctx, first+int64(i), &b.pend[i]); err != nil {
			return err
		}
	}
	clear(b.pend)
	b.pend = b.pend[:0]
	return nil
}

// prepareRewrite prepares the statement that rewrites a stored record,
// on first use.
func (b *Bulk) prepareRewrite(ctx context.Context) error {
	if b.update != nil {
		return nil
	}
	var err error
	if b.update, err = b.tx.PrepareContext(ctx, `UPDATE record_rows SET (`+recordColumns+`) = `+
		placeholders(1, recordFields)+` WHERE id = ?`); err != nil {
		return fmt.Errorf("bulk: prepare: %w", formatError(err))
	}
	return nil
}

// rewrite stores every value of r in the record with id.
func (b *Bulk) rewrite(ctx context.Context, id int64, r *usage.Record) error {
	if err := b.prepareRewrite(ctx); err != nil {
		return err
	}
	args := append(b.appendRowArgs(make([]any, 0, recordFields+1), r), id)
	if err := b.storeNames(ctx); err != nil {
		return err
	}
	if _, err := b.update.ExecContext(ctx, args...); err != nil {
		return fmt.Errorf("bulk: write record %q: %w", r.Key, formatError(err))
	}
	return nil
}

// A copy that replaces a record already inserted (in a first index, one
// in another file, a subagent's transcript that repeats its parent's
// responses) needs the stored copy's sums to move it in the rollup. Read
// and rewritten one at a time, through database/sql, such a replacement
// cost about 20 µs, most of it the driver's per-query work. The Bulk
// keeps them instead, the last preferred copy of each id, and replaces
// them in bulk: one query reads the stored copies of many ids, in id
// order, which also keeps the rewrites on neighbouring pages.

// laterLimit is how many replacements wait before they are applied; a
// variable for tests.
var laterLimit = 4096

// laterChunk is how many stored copies one query of applyLater reads.
const laterChunk = 500

// replace stores r over the stored copy with id, moving its sums in the
// rollup from the old copy's row to r's.
func (b *Bulk) replace(ctx context.Context, id int64, r *usage.Record) error {
	sl := b.seen.slot(int32(id - 1))
	h2 := sl.h2
	*sl = b.slot(r)
	sl.h2 = h2
	// The stored copy may still be queued: replace it there.
	if first := b.next - int64(len(b.pend)); id >= first {
		old := &b.pend[id-first]
		b.take(old, r)
		*old = *r
		return nil
	}
	if b.later == nil {
		b.later = map[int64]usage.Record{}
	}
	// The stored copy is the one the last applyLater left: a replacement
	// of the same id kept since is itself replaced.
	b.later[id] = *r
	if len(b.later) >= laterLimit {
		return b.applyLater(ctx)
	}
	return nil
}

// applyLater applies the replacements that replace kept.
func (b *Bulk) applyLater(ctx context.Context) error {
	if len(b.later) == 0 {
		return nil
	}
	if err := b.prepareRewrite(ctx); err != nil {
		return err
	}
	ids := make([]int64, 0, len(b.later))
	for id := range b.later {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for lo := 0; lo < len(ids); lo += laterChunk {
		part := ids[lo:min(lo+laterChunk, len(ids))]
		args := make([]any, len(part))
		for i, id := range part {
			args[i] = id
		}
		olds, err := b.readStored(ctx, args)
		if err != nil {
			return err
		}
		recs := make([]usage.Record, len(part))
		for i, id := range part {
			recs[i] = b.later[id]
			b.take(&olds[i], &recs[i])
			b.replaced++
		}
		if err := b.replaceRows(ctx, part, recs); err != nil {
			return err
		}
	}
	clear(b.later)
	return nil
}

// replaceRows stores recs over the records with ids, rowsPerInsert to a
// statement: the statement of a first insert, with OR REPLACE, costs a
// fraction of an UPDATE a record (the Bulk dropped the table's indexes
// and triggers, so replacing a row by its id is all it does). Values the
// packed form cannot carry are rewritten after, as flush does.
func (b *Bulk) replaceRows(ctx context.Context, ids []int64, recs []usage.Record) error {
	args := make([]any, 0, min(len(ids), rowsPerInsert)*bulkArgs)
	for lo := 0; lo < len(ids); lo += rowsPerInsert {
		hi := min(lo+rowsPerInsert, len(ids))
		args = args[:0]
		var inexact []int
		for i := lo; i < hi; i++ {
			var exact bool
			if args, exact = b.appendBulkArgs(args, ids[i], &recs[i]); !exact {
				inexact = append(inexact, i)
			}
		}
		if err := b.storeNames(ctx); err != nil {
			return err
		}
		if err := b.exec(ctx, &b.rreplace, hi-lo == rowsPerInsert, bulkReplace, hi-lo, args); err != nil {
			return fmt.Errorf("bulk: replace records %q to %q: %w", recs[lo].Key, recs[hi-1].Key, formatError(err))
		}
		for _, i := range inexact {
			if err := b.rewrite(ctx, ids[i], &recs[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// bulkReplace is bulkInsert over rows that exist: each replaces the
// record with its id.
func bulkReplace(n int) string {
	return "INSERT OR REPLACE" + strings.TrimPrefix(bulkInsert(n), "INSERT")
}

// readStored returns what take needs of the stored records with ids, in
// their order, which is the order of ids. The stored strings are ids of
// the Bulk's own names.
func (b *Bulk) readStored(ctx context.Context, ids []any) ([]usage.Record, error) {
	olds := make([]usage.Record, len(ids))
	named := make([]driver.NamedValue, len(ids))
	for i, id := range ids {
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: id}
	}
	// Through the driver: database/sql's scan of 14 columns a row was
	// half the cost of a replacement.
	err := b.conn.Raw(func(dc any) error {
		q, ok := dc.(driver.QueryerContext)
		if !ok {
			return errors.New("the driver cannot query with a context")
		}
		rows, err := q.QueryContext(ctx, `SELECT id, ts, session_id, project, user, model,
			input, output, cache_creation_5m, cache_creation_1h, cache_read, web_search_requests,
			web_fetch_requests, cost FROM record_rows WHERE id IN (`+placeholders(1, len(ids))[1:]+` ORDER BY id`, named)
		if err != nil {
			return err
		}
		defer rows.Close()
		var v [14]int64
		dest := make([]driver.Value, len(v))
		j := 0
		for {
			if err := rows.Next(dest); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return err
			}
			for i, d := range dest {
				n, ok := d.(int64)
				if !ok {
					return fmt.Errorf("column %d of a record is %T, not an integer", i, d)
				}
				v[i] = n
			}
			id := v[0]
			for _, s := range v[2:6] {
				if s < 0 || s >= int64(len(b.names)) {
					return fmt.Errorf("record %d: string id %d out of range", id, s)
				}
			}
			if j == len(ids) || ids[j].(int64) != id {
				return fmt.Errorf("record %d where %v was expected", id, ids[min(j, len(ids)-1)])
			}
			olds[j] = usage.Record{Timestamp: fromMS(v[1]), SessionID: b.names[v[2]], Project: b.names[v[3]],
				User: b.names[v[4]], Model: b.names[v[5]], Cost: usage.Money(v[13]),
				Tokens: usage.Tokens{Input: v[6], Output: v[7], CacheCreation5m: v[8], CacheCreation1h: v[9],
					CacheRead: v[10], WebSearchRequests: v[11], WebFetchRequests: v[12]}}
			j++
		}
		if j != len(ids) {
			return fmt.Errorf("record %v is missing", ids[j])
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bulk: read records: %w", formatError(err))
	}
	return olds, nil
}

// Commit writes the rollup, builds the indexes and triggers dropped by
// BeginBulk and commits: the whole first index becomes visible at once.
func (b *Bulk) Commit(ctx context.Context) error {
	if b.done {
		return errors.New("bulk: already committed or rolled back")
	}
	err := b.commit(ctx)
	if err != nil {
		b.Rollback()
	}
	return err
}

func (b *Bulk) commit(ctx context.Context) error {
	if err := b.flush(ctx); err != nil {
		return err
	}
	if err := b.applyLater(ctx); err != nil {
		return err
	}
	if err := b.flushPrompts(ctx); err != nil {
		return err
	}
	if b.update != nil {
		b.update.Close()
	}
	order := b.rollupOrder()
	if err := b.writeRollup(ctx, order); err != nil {
		return err
	}
	if err := b.closeRaw(); err != nil {
		return err
	}
	var (
		gen      int64
		instance []byte
	)
	if err := b.tx.QueryRowContext(ctx, `SELECT gen, instance FROM generation`).Scan(&gen, &instance); err != nil {
		return fmt.Errorf("bulk: generation: %w", formatError(err))
	}
	b.stale = b.liveStale()
	h := b.handOver(order, gen, instance)
	defer h.discard()
	// Nothing below needs the maps that deduplicated records and
	// prompts or the rollup's (the handover holds its rows): let the
	// collector have them before the index builds. The heap they and the
	// reading filled would otherwise stay resident while SQLite's sorts
	// add their own memory (outside the Go heap) on top: returning it to
	// the system first, for one collection of what is left, cut the RSS
	// at this point from about 115 to 65 MB on 2 GB of long sessions, and
	// the peak RSS of 512 MB of long sessions from about 92 to 81 MB.
	b.seen, b.seenPrompts, b.ids, b.pend, b.rollup = keySlots{}, nil, nil, nil, bulkRollup{}
	debug.FreeOSMemory()
	for _, q := range b.restore {
		if _, err := b.tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("bulk: %s: %w", q, formatError(err))
		}
	}
	bounds, err := b.staleBounds(ctx)
	if err != nil {
		return err
	}
	b.fixBounds(h, bounds)
	if b.s.testHookBeforeCommit != nil {
		b.s.testHookBeforeCommit()
	}
	b.done = true
	err = b.tx.Commit()
	b.end()
	if err != nil {
		return fmt.Errorf("bulk: commit: %w", formatError(err))
	}
	h.publish(b.s)
	return nil
}

// staleChunk is how many rollup rows one statement of staleBounds reads
// or writes; a variable for tests.
var staleChunk = 500

// liveStale returns the rows of b.stale that still hold records, each
// once: a row whose records all moved to other rows is not written.
func (b *Bulk) liveStale() []bulkRKey {
	seen := make(map[bulkRKey]bool, len(b.stale))
	live := b.stale[:0]
	for _, k := range b.stale {
		if i, ok := b.rollup.at[k]; ok && b.rollup.sums[i].entries != 0 && !seen[k] {
			seen[k] = true
			live = append(live, k)
		}
	}
	return live
}

// staleBounds recomputes the time bounds of the rollup rows in b.stale
// (see liveStale) and stores them: a replaced copy that was the first or
// last of its rollup row leaves bounds that only records can tell. It
// returns them in b.stale's order, for the handed-over copy. One query
// reads the bounds of staleChunk rows, from records_session, and one
// statement writes them: a statement a row, twice with the copy's, was
// 6 % of a first index of 512 MB. A row's ids are those of the interned
// table.
func (b *Bulk) staleBounds(ctx context.Context) ([][2]int64, error) {
	bounds := make([][2]int64, len(b.stale))
	for lo := 0; lo < len(b.stale); lo += staleChunk {
		part := b.stale[lo:min(lo+staleChunk, len(b.stale))]
		args := make([]any, 0, 7*len(part))
		for j, k := range part {
			args = append(args, lo+j, k.qh*quarterHourMS, (k.qh+1)*quarterHourMS, k.session, k.project, k.user, k.model)
		}
		rows, err := b.tx.QueryContext(ctx, `SELECT v.column1, min(r.ts), max(r.ts)
			FROM (VALUES `+placeholders(len(part), 7)+`) AS v
			JOIN record_rows r ON r.session_id = v.column4 AND r.ts >= v.column2 AND r.ts < v.column3
			WHERE r.project = v.column5 AND r.user = v.column6 AND r.model = v.column7
			GROUP BY v.column1`, args...)
		if err != nil {
			return nil, fmt.Errorf("bulk: rollup bounds: %w", formatError(err))
		}
		n := 0
		for rows.Next() {
			var (
				j           int
				first, last int64
			)
			if err := rows.Scan(&j, &first, &last); err != nil {
				rows.Close()
				return nil, fmt.Errorf("bulk: rollup bounds: %w", formatError(err))
			}
			if j < lo || j >= lo+len(part) {
				rows.Close()
				return nil, fmt.Errorf("bulk: rollup bounds: row %d of a query for %d to %d", j, lo, lo+len(part))
			}
			bounds[j] = [2]int64{first, last}
			n++
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("bulk: rollup bounds: %w", formatError(err))
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("bulk: rollup bounds: %w", formatError(err))
		}
		// Every row holds records: one without would be a sum of none.
		if n != len(part) {
			return nil, fmt.Errorf("bulk: rollup bounds: %d of %d rows have records", n, len(part))
		}
		args = args[:0]
		for j, k := range part {
			args = append(args, k.qh, b.names[k.session], b.names[k.project], b.names[k.user], b.names[k.model],
				bounds[lo+j][0], bounds[lo+j][1])
		}
		if _, err := b.tx.ExecContext(ctx, `UPDATE rollup SET first_ts = v.column6, last_ts = v.column7
			FROM (VALUES `+placeholders(len(part), 7)+`) AS v
			WHERE rollup.qh = v.column1 AND rollup.session_id = v.column2 AND rollup.project = v.column3
				AND rollup.user = v.column4 AND rollup.model = v.column5`, args...); err != nil {
			return nil, fmt.Errorf("bulk: rollup bounds: %w", formatError(err))
		}
	}
	return bounds, nil
}

// The report that follows a first index used to load the rollup it had
// just written back from SQLite (a quarter of a second for 38k rows
// through database/sql) and save it to the snapshot file. The Bulk has
// every sum in Go: a handover builds the in-memory copy from them, and
// encodes its snapshot, on another goroutine while SQLite builds the
// indexes. Both take effect only once the transaction has committed (the
// file is written then, in a millisecond or two), since a copy of a
// generation that never committed could later be taken for another
// write's, and a file written before a crash would be left behind.

// handover is the in-memory rollup of a committing Bulk and its encoded
// snapshot.
type handover struct {
	done chan struct{}
	// snapshot is whether the goroutine encodes the snapshot; when some
	// rows' bounds must be read back first, fixBounds does instead.
	snapshot bool
	instance []byte
	stale    []int32 // row of st of each of Bulk.stale, -1 for none

	st   *mirrorState
	data []byte
}

// handOver starts building the in-memory rollup of generation gen from
// the summed rows in order; it returns nil when the store keeps none.
func (b *Bulk) handOver(order []int32, gen int64, instance []byte) *handover {
	if b.s.noMirror {
		return nil
	}
	limit := maxMirrorRows
	if b.s.mirrorLimit > 0 {
		limit = b.s.mirrorLimit
	}
	h := &handover{done: make(chan struct{}), snapshot: len(b.stale) == 0, instance: instance}
	if len(order) > limit {
		h.st = &mirrorState{gen: gen, tooBig: true}
		close(h.done)
		return h
	}
	if !h.snapshot {
		pos := make([]int32, len(b.rollup.keys))
		for i := range pos {
			pos[i] = -1
		}
		for j, i := range order {
			pos[i] = int32(j)
		}
		h.stale = make([]int32, len(b.stale))
		for j, k := range b.stale {
			// A row that lost all its records is in no position.
			if i, ok := b.rollup.at[k]; ok {
				h.stale[j] = pos[i]
			} else {
				h.stale[j] = -1
			}
		}
	}
	keys, sums, names := b.rollup.keys, b.rollup.sums, b.names
	go func() {
		defer close(h.done)
		// Ids in the order loadMirror would give them, so that the copy
		// is the one a reload would make.
		st := &mirrorState{gen: gen, rows: make([]mirrorRow, len(order)), dict: dictionary{ids: map[string]int32{}}}
		for j, i := range order {
			k, sum := &keys[i], &sums[i]
			st.rows[j] = mirrorRow{qh: k.qh,
				session: st.dict.id([]byte(names[k.session])), project: st.dict.id([]byte(names[k.project])),
				user: st.dict.id([]byte(names[k.user])), model: st.dict.id([]byte(names[k.model])),
				cost: sum.cost, Tokens: sum.Tokens, entries: sum.entries, first: sum.first, last: sum.last}
		}
		h.st = st
		if h.snapshot {
			h.data = encodeSnapshot(st, instance)
		}
	}()
	return h
}

// fixBounds copies into the handed-over rollup the bounds that
// staleBounds recomputed, then encodes its snapshot.
func (b *Bulk) fixBounds(h *handover, bounds [][2]int64) {
	if h == nil || h.snapshot {
		return
	}
	<-h.done
	if h.st.tooBig {
		return
	}
	for j, at := range h.stale {
		if at >= 0 {
			h.st.rows[at].first, h.st.rows[at].last = bounds[j][0], bounds[j][1]
		}
	}
	h.data = encodeSnapshot(h.st, h.instance)
}

// publish makes the handed-over rollup the store's in-memory copy and
// saves its snapshot, once the transaction has committed.
func (h *handover) publish(s *Store) {
	if h == nil {
		return
	}
	<-h.done
	s.mirror.mu.Lock()
	if cur := s.mirror.cur.Load(); cur == nil || cur.gen < h.st.gen {
		s.mirror.cur.Store(h.st)
	}
	s.mirror.mu.Unlock()
	if h.data == nil {
		return
	}
	s.lastSave.Store(time.Now().UnixNano())
	if err := s.writeSnapshot(h.data); err != nil {
		s.snapshotErr.Store(&err)
		return
	}
	s.savedGen.Store(h.st.gen)
}

// discard waits for the goroutine, which reads the Bulk's sums, to end.
func (h *handover) discard() {
	if h != nil {
		<-h.done
	}
}

// Rollback abandons the bulk write; the store is as BeginBulk found it.
func (b *Bulk) Rollback() error {
	if b.done {
		return nil
	}
	b.done = true
	b.closeRaw()
	err := b.tx.Rollback()
	b.end()
	return err
}

// end hands the writer connection back, in WAL mode and with its page
// cache again.
func (b *Bulk) end() {
	if b.inPlace {
		enterWAL(b.conn)
	}
	setCache(b.conn, writerCacheKiB)
	b.conn.Close()
}

// setCache sets conn's page cache to kib KiB. Like enterWAL, it only
// costs memory or speed if it fails, so a failure is not an error.
func setCache(conn *sql.Conn, kib int) {
	conn.ExecContext(context.Background(), fmt.Sprintf("PRAGMA cache_size = -%d", kib))
}

// In WAL mode, every page a first index writes goes to the log and is then
// copied into the database file by a checkpoint: on 2 GB of long sessions,
// the copy alone was 0.8 s of the commit, on the critical path. Into an
// empty database, a rollback journal writes each page once, in place, and
// journals almost nothing (pages past the file's old end need no copy to
// be undone), while a crash still leaves the empty store: the next open
// rolls the hot journal back. But a rollback journal makes readers wait
// for the commit, so a Bulk writes in place only for a process that reads
// nothing until then (InPlaceFirstIndex), and only when no other
// connection has the file open: SQLite refuses to leave WAL mode
// otherwise.

// InPlaceFirstIndex lets a first index (BeginBulk) write the database file
// in place, with a rollback journal, when no other process has it open.
// Call it only when this process reads nothing from the store until the
// first index has committed, as a command that catches up before it
// reports does: readers of the file wait for that commit (up to the busy
// timeout), where in WAL mode they would see the empty store.
func (s *Store) InPlaceFirstIndex() { s.inPlace = true }

// leaveWAL switches conn's database to a rollback journal and reports
// whether it did. It closes the idle connections of the read pool first,
// since any open connection keeps the file in WAL mode.
func (s *Store) leaveWAL(ctx context.Context, conn *sql.Conn) bool {
	s.reader.SetMaxIdleConns(0)
	defer s.reader.SetMaxIdleConns(s.readers)
	var mode string
	if err := conn.QueryRowContext(ctx, `PRAGMA journal_mode = DELETE`).Scan(&mode); err != nil {
		return false // another connection has the file open
	}
	return mode == "delete"
}

// enterWAL switches conn's database back to WAL mode. A failure leaves a
// working store with a rollback journal, and the next Open switches it
// (every writer connection asks for WAL), so it is not an error.
func enterWAL(conn *sql.Conn) {
	var mode string
	conn.QueryRowContext(context.Background(), `PRAGMA journal_mode = WAL`).Scan(&mode)
}

// exec runs the INSERT query(n) with args. The driver binds them
// itself: through database/sql, checking and converting each of a first
// index's millions of arguments took a tenth of the time of writing
// them. A full statement (full set) is prepared once into *st; a shorter
// one is prepared for the one call.
func (b *Bulk) exec(ctx context.Context, st *driver.Stmt, full bool, query func(n int) string, n int, args []any) error {
	b.named = b.named[:0]
	for i, v := range args {
		b.named = append(b.named, driver.NamedValue{Ordinal: i + 1, Value: v})
	}
	return b.conn.Raw(func(dc any) error {
		var stmt driver.Stmt
		if full && *st != nil {
			stmt = *st
		} else {
			p, ok := dc.(driver.ConnPrepareContext)
			if !ok {
				return errors.New("the driver cannot prepare a statement with a context")
			}
			var err error
			if stmt, err = p.PrepareContext(ctx, query(n)); err != nil {
				return err
			}
			if full {
				*st = stmt
			} else {
				defer stmt.Close()
			}
		}
		e, ok := stmt.(driver.StmtExecContext)
		if !ok {
			return errors.New("the driver cannot run a statement with a context")
		}
		_, err := e.ExecContext(ctx, b.named)
		return err
	})
}

// closeRaw closes the statements that exec prepared.
func (b *Bulk) closeRaw() error {
	return b.conn.Raw(func(any) error {
		var errs []error
		for _, st := range []*driver.Stmt{&b.insert, &b.pinsert, &b.rinsert, &b.rreplace} {
			if *st != nil {
				errs = append(errs, (*st).Close())
				*st = nil
			}
		}
		return errors.Join(errs...)
	})
}

// rollupOrder returns the rollup rows that hold records, in primary-key
// order: by quarter hour, then session, project, user and model as SQLite
// compares text, byte by byte. The names are compared by their rank in
// that order, found once, and only as far as the quarter hours tie:
// comparing every string of both keys took 30 ms of the commit's single
// thread on 512 MB of long sessions (38k rows).
func (b *Bulk) rollupOrder() []int32 {
	d := &b.rollup
	order := make([]int32, 0, len(d.keys))
	for i := range d.keys {
		if d.sums[i].entries != 0 {
			order = append(order, int32(i))
		}
	}
	rank := nameRanks(b.names)
	slices.SortFunc(order, func(x, y int32) int {
		p, q := &d.keys[x], &d.keys[y]
		if c := cmp.Compare(p.qh, q.qh); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(rank[p.session], rank[q.session]), cmp.Compare(rank[p.project], rank[q.project]),
			cmp.Compare(rank[p.user], rank[q.user]), cmp.Compare(rank[p.model], rank[q.model]))
	})
	return order
}

// nameRanks returns the rank of each of names, which are distinct, in
// byte order.
func nameRanks(names []string) []int32 {
	byName := make([]int32, len(names))
	for i := range byName {
		byName[i] = int32(i)
	}
	slices.SortFunc(byName, func(x, y int32) int { return strings.Compare(names[x], names[y]) })
	rank := make([]int32, len(names))
	for r, i := range byName {
		rank[i] = int32(r)
	}
	return rank
}

// writeRollup inserts the summed rollup rows (the table is empty) in
// primary-key order, so that each lands at the right edge of its B-tree.
func (b *Bulk) writeRollup(ctx context.Context, order []int32) error {
	d, n := &b.rollup, b.names
	args := make([]any, 0, rowsPerInsert*rollupFields)
	for lo := 0; lo < len(order); lo += rowsPerInsert {
		hi := min(lo+rowsPerInsert, len(order))
		args = args[:0]
		for _, i := range order[lo:hi] {
			k, s := &d.keys[i], &d.sums[i]
			args = append(args, k.qh, n[k.session], n[k.project], n[k.user], n[k.model], int64(s.cost),
				s.Input, s.Output, s.CacheCreation5m, s.CacheCreation1h, s.CacheRead,
				s.WebSearchRequests, s.WebFetchRequests, s.entries, s.first, s.last)
		}
		if err := b.exec(ctx, &b.rinsert, hi-lo == rowsPerInsert, insertRollup, hi-lo, args); err != nil {
			return fmt.Errorf("bulk: rollup: %w", formatError(err))
		}
	}
	return nil
}

// insertRollup returns a plain INSERT of n rollup rows.
func insertRollup(n int) string {
	return `INSERT INTO rollup (` + sourceColumns + `) VALUES ` + placeholders(n, rollupFields)
}
