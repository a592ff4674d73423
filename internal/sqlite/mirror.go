package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// The rollup table is small next to records, but SQLite has no hash
// aggregation: every GROUP BY sorts its input, and through the pure-Go
// driver that costs about 1.5 µs a row. At 500k records (36k rollup rows)
// an all-time total took 55 ms and a month by quarter hour 30 ms, which is
// what /stats and the WebSocket feed recompute after every ingest. So the
// store keeps a copy of the rollup in memory and sums it in Go (a few ms
// for the same queries), and reads only the partial quarter hours at the
// ends of a range from records.
//
// The copy is exact, not a cache that may lag: every Apply that changes
// records bumps generation.gen in its transaction, in this process or any
// other, and each Aggregate reads gen and the partial ends in one read
// transaction. When gen differs from the copy's, the copy is reloaded in
// that same transaction, so it always reflects exactly the snapshot the
// rest of the answer comes from.
//
// A reload reads every rollup row (about 75 ms for 36k rows), too slow to
// follow each live append. So a small Apply in this process patches the
// copy instead: it notes the quarter hours it touches (its records' and
// those of the stored copies they may replace), reads their rollup rows
// back inside its transaction, and after the commit swaps them into a new
// copy, provided the copy was at the generation just before its own.

// maxMirrorRows bounds the in-memory copy (about 100 bytes a row); a larger
// rollup, years of a whole team's use, is aggregated in SQL instead.
const maxMirrorRows = 1 << 20

// mirrorRow is one rollup row. Its strings are ids in a dictionary:
// grouping by a fixed-size key hashes several times faster than by
// strings, and the rows are smaller.
type mirrorRow struct {
	qh                            int64
	session, project, user, model int32
	cost                          usage.Money
	usage.Tokens
	entries, first, last int64
}

// mirrorState is an immutable copy of the rollup at one generation. Its
// rows come in up to three forms, each derived from another on first use:
// the rows themselves, their encoding in blocks (what the snapshot file
// holds and a patch splices), and the sums per quarter hour and model
// (what a calendar report reads). A state decoded from the file has the
// blocks and the sums; one loaded from SQL has the rows.
type mirrorState struct {
	gen int64
	// rows are in qh order, when the state was made from them; nil with
	// tooBig when the rollup has more than maxMirrorRows rows.
	rows   []mirrorRow
	tooBig bool
	// dict holds the strings of rows.
	dict dictionary

	// blocks, when set at construction, encode the rows (nrows of them)
	// by quarter hour; rows is then nil until allRows decodes them into
	// decoded.
	blocks   []rowBlock
	nrows    int
	rowsOnce sync.Once
	decoded  []mirrorRow
	rowsErr  error
	// ready is set once decoded is.
	ready atomic.Bool

	blocksOnce sync.Once
	madeBlocks []rowBlock

	// quarters sum the rows per quarter hour and model, in qh order and
	// within a quarter hour by first appearance, as quarterBuckets
	// returns them; their session, project and user are -1. They are
	// given when haveQuarters is set, else decoded from the blocks (or
	// summed from rows) on first use.
	quarters      []mirrorRow
	haveQuarters  bool
	quartersOnce  sync.Once
	madeQuarters  []mirrorRow
	quartersErr   error
	quartersReady atomic.Bool
	// nsums is the number of sums the blocks hold.
	nsums int
}

// rowBlock is the encoding of the n rows of one quarter hour and of
// their nsums sums by model.
type rowBlock struct {
	qh         int64
	n, nsums   int
	rows, sums []byte
}

// count returns the number of rows.
func (st *mirrorState) count() int {
	if st.blocks == nil {
		return len(st.rows)
	}
	return st.nrows
}

// allRows returns the rows, decoding the blocks on first use. The error
// (a file whose CRC checked out but whose blocks do not decode) sends
// the caller to SQL.
func (st *mirrorState) allRows() ([]mirrorRow, error) {
	if st.blocks == nil || st.rows != nil {
		return st.rows, nil
	}
	st.rowsOnce.Do(func() {
		st.decoded, st.rowsErr = decodeBlocks(st.blocks, st.nrows, len(st.dict.names))
		st.ready.Store(true)
	})
	return st.decoded, st.rowsErr
}

// readyRows returns the rows when they need no decoding.
func (st *mirrorState) readyRows() ([]mirrorRow, bool) {
	if st.blocks == nil || st.rows != nil {
		return st.rows, true
	}
	if st.ready.Load() && st.rowsErr == nil {
		return st.decoded, true
	}
	return nil, false
}

// getBlocks returns the blocks, encoding the rows on first use.
func (st *mirrorState) getBlocks() ([]rowBlock, error) {
	if st.blocks != nil {
		return st.blocks, nil
	}
	st.blocksOnce.Do(func() { st.madeBlocks = encodeBlocks(st.rows) })
	return st.madeBlocks, nil
}

// getQuarters returns the sums per quarter hour and model.
func (st *mirrorState) getQuarters() ([]mirrorRow, error) {
	if st.haveQuarters {
		return st.quarters, nil
	}
	st.quartersOnce.Do(func() {
		if st.blocks != nil {
			st.madeQuarters, st.quartersErr = decodeSums(st.blocks, st.nsums, len(st.dict.names))
		} else {
			st.madeQuarters = sumQuarters(st.rows)
		}
		st.quartersReady.Store(true)
	})
	return st.madeQuarters, st.quartersErr
}

// readyQuarters returns the sums when they need no decoding.
func (st *mirrorState) readyQuarters() ([]mirrorRow, bool) {
	if st.haveQuarters {
		return st.quarters, true
	}
	if st.quartersReady.Load() && st.quartersErr == nil {
		return st.madeQuarters, true
	}
	return nil, false
}

// sumQuarters sums rows (in qh order) per quarter hour and model, in the
// order quarterBuckets gives.
func sumQuarters(rows []mirrorRow) []mirrorRow {
	var out []mirrorRow
	for i := 0; i < len(rows); {
		start := len(out)
		j := i
		for ; j < len(rows) && rows[j].qh == rows[i].qh; j++ {
			r := &rows[j]
			k := start
			for k < len(out) && out[k].model != r.model {
				k++
			}
			if k == len(out) {
				out = append(out, mirrorRow{qh: r.qh, session: -1, project: -1, user: -1, model: r.model,
					first: r.first, last: r.last})
			}
			q := &out[k]
			q.first, q.last = min(q.first, r.first), max(q.last, r.last)
			q.Tokens = q.Tokens.Add(r.Tokens)
			q.cost = q.cost.Add(r.cost)
			q.entries += r.entries
		}
		i = j
	}
	return out
}

// dictionary maps the distinct strings of the rollup to ids and back.
type dictionary struct {
	ids   map[string]int32
	names []string
}

// id returns b's id, adding it when it is new.
func (d *dictionary) id(b []byte) int32 {
	if id, ok := d.ids[string(b)]; ok { // no allocation for the lookup
		return id
	}
	id := int32(len(d.names))
	v := string(b)
	d.ids[v] = id
	d.names = append(d.names, v)
	return id
}

// lookup returns the id of s, or -1 when no row holds it.
func (d *dictionary) lookup(s string) int32 {
	if id, ok := d.ids[s]; ok {
		return id
	}
	return -1
}

// overlay is a dictionary that extends a mirror's without changing it,
// for the strings of the records read at the ends of a range.
type overlay struct {
	base  *dictionary
	extra dictionary
}

func newOverlay(base *dictionary) *overlay {
	return &overlay{base: base, extra: dictionary{ids: map[string]int32{}}}
}

// id returns b's id in base, or a new negative id below -1.
func (o *overlay) id(b []byte) int32 {
	if id, ok := o.base.ids[string(b)]; ok {
		return id
	}
	return -2 - o.extra.id(b)
}

// name returns the string of id.
func (o *overlay) name(id int32) string {
	if id >= 0 {
		return o.base.names[id]
	}
	return o.extra.names[-2-id]
}

// mirror holds the current copy. Aggregates read cur without locking;
// loads are serialised by mu so that concurrent readers that find the
// copy stale wait for one load instead of each running their own.
type mirror struct {
	mu  sync.Mutex
	cur atomic.Pointer[mirrorState]
}

// mirrorColumns are the rollup columns a mirrorRow holds, in scan order.
const mirrorColumns = sourceColumns

// aggregateMirror answers Aggregate from the in-memory rollup. ok is
// false when the rollup is too large to copy; the caller then runs the
// query in SQL.
//
// label, when set (dim is then ByQuarterHour or BySessionQuarterHour),
// merges quarter hours in a row with one label into one bucket per model
// (and session), as AggregatePeriods says.
func (s *Store) aggregateMirror(ctx context.Context, f usage.Filter, dim usage.Dimension, label func(time.Time) string) (out []usage.Bucket, ok bool, err error) {
	tx, err := s.reader.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, formatError(err)
	}
	// The transaction only reads; ending it releases the snapshot.
	defer tx.Rollback()
	var gen int64
	if err := tx.QueryRowContext(ctx, `SELECT gen FROM generation`).Scan(&gen); err != nil {
		return nil, false, formatError(err)
	}
	// A narrow range (a day or two: the status line's today, a block)
	// is a short range scan of the rollup's primary key in SQL, and one
	// session a scan of its records by the session index; loading the
	// whole copy for either, when none is current, cost many times more
	// (15 ms of the status line's 35 ms on 2 GB of long sessions).
	if st := s.mirror.cur.Load(); (st == nil || st.gen != gen) && (narrow(f) || f.SessionID != "") {
		return nil, false, nil
	}
	st, err := s.mirrorAt(ctx, tx, gen)
	if err != nil {
		return nil, false, err
	}
	if st.tooBig {
		return nil, false, nil
	}
	dict := newOverlay(&st.dict)
	acc := newAccumulator(dim, dict)
	if dim == usage.BySessionQuarterHour {
		acc.label = label
	}
	p := planRange(f)
	var whole []usage.Bucket
	if want, ok := equalIDs(f, &st.dict); ok && p.rollup {
		// A calendar report of everyone's use (or one model's) needs no
		// row: the sums per quarter hour and model hold its buckets.
		var rows []mirrorRow
		sums := dim == usage.ByQuarterHour && want.session < 0 && want.project < 0 && want.user < 0
		if sums {
			rows, err = st.getQuarters()
		} else {
			rows, err = st.allRows()
		}
		if err != nil {
			return nil, false, nil // the copy does not decode: SQL answers
		}
		lo, hi := 0, len(rows)
		if p.hasLo {
			lo = sort.Search(len(rows), func(i int) bool { return rows[i].qh >= p.loQ })
		}
		if p.hasHi {
			hi = sort.Search(len(rows), func(i int) bool { return rows[i].qh >= p.hiQ })
		}
		if dim == usage.ByQuarterHour {
			// The partial quarter hours at the ends (edges) lie outside
			// [loQ, hiQ), so their buckets never meet these.
			size := 0
			if sums && want.model < 0 {
				size = hi - lo // a bucket for each sum
			}
			if label != nil {
				size = 0 // far fewer
			}
			whole = quarterBuckets(rows[lo:hi], want, st.dict.names, size, label)
		} else {
			for i := lo; i < hi; i++ {
				if r := &rows[i]; want.matches(r) {
					acc.add(r)
				}
			}
		}
	}
	for _, e := range p.edges {
		if err := edgeRows(ctx, tx, f, e, dict, acc); err != nil {
			return nil, false, err
		}
	}
	return append(whole, acc.buckets()...), true, nil
}

// quarterBuckets sums the rows (in qh order) that pass want into one
// bucket per quarter hour and model, as an accumulator of ByQuarterHour
// does, without its map: the rows of a quarter hour are adjacent and hold
// a few models, so a short list per quarter hour does. On 512 MB of long
// sessions (27k quarter hours) the map and its groups were a fifth of a
// daily report.
//
// size is the expected number of buckets, to allocate them at once.
// label, when set, merges quarter hours in a row that have one label (see
// AggregatePeriods); a bucket's Time is then the first of its quarter
// hours.
func quarterBuckets(rows []mirrorRow, want idFilter, names []string, size int, label func(time.Time) string) []usage.Bucket {
	type run struct {
		model int32
		g     group
	}
	var (
		out = make([]usage.Bucket, 0, size)
		cur []run
		// start is the first quarter hour of the run, qh the last seen
		// and name its label.
		start, qh int64
		name      string
	)
	flush := func() {
		for i := range cur {
			g := &cur[i].g
			out = append(out, usage.Bucket{Model: names[cur[i].model], Time: fromMS(start * quarterHourMS),
				Tokens: g.Tokens, Cost: g.cost, Entries: g.entries, First: fromMS(g.first), Last: fromMS(g.last)})
		}
		cur = cur[:0]
	}
	for i := range rows {
		r := &rows[i]
		if !want.matches(r) {
			continue
		}
		if len(cur) == 0 {
			start = r.qh
			if label != nil {
				name = label(fromMS(r.qh * quarterHourMS))
			}
		} else if r.qh != qh {
			// A new quarter hour ends the run unless it has the run's
			// label.
			if label == nil {
				flush()
				start = r.qh
			} else if n := label(fromMS(r.qh * quarterHourMS)); n != name {
				flush()
				start, name = r.qh, n
			}
		}
		qh = r.qh
		j := 0
		for j < len(cur) && cur[j].model != r.model {
			j++
		}
		if j == len(cur) {
			cur = append(cur, run{model: r.model, g: group{first: r.first, last: r.last}})
		}
		g := &cur[j].g
		g.first, g.last = min(g.first, r.first), max(g.last, r.last)
		g.Tokens = g.Tokens.Add(r.Tokens)
		g.cost = g.cost.Add(r.cost)
		g.entries += r.entries
	}
	flush()
	return out
}

// narrowQuarters is the widest range, in quarter hours (two days), that
// narrow calls narrow.
const narrowQuarters = 2 * 24 * 4

// narrow reports whether f's time range spans at most narrowQuarters.
func narrow(f usage.Filter) bool {
	p := planRange(f)
	return !p.rollup || p.hasLo && p.hasHi && p.hiQ-p.loQ <= narrowQuarters
}

// idFilter holds the ids of a filter's equality fields; -1 matches any.
type idFilter struct{ session, project, user, model int32 }

// equalIDs returns f's equality fields as ids of d. ok is false when a
// field names a string no rollup row holds: no row can match.
func equalIDs(f usage.Filter, d *dictionary) (idFilter, bool) {
	w := idFilter{-1, -1, -1, -1}
	for _, c := range []struct {
		val string
		id  *int32
	}{{f.SessionID, &w.session}, {f.Project, &w.project}, {f.User, &w.user}, {f.Model, &w.model}} {
		if c.val == "" {
			continue
		}
		if *c.id = d.lookup(c.val); *c.id < 0 {
			return w, false
		}
	}
	return w, true
}

// matches reports whether r passes the equality fields; the time range is
// applied by the caller.
func (w idFilter) matches(r *mirrorRow) bool {
	return (w.session < 0 || r.session == w.session) &&
		(w.project < 0 || r.project == w.project) &&
		(w.user < 0 || r.user == w.user) &&
		(w.model < 0 || r.model == w.model)
}

// mirrorAt returns the copy of the rollup at generation gen, loading it
// through tx (whose snapshot is at gen) unless the current copy is it.
func (s *Store) mirrorAt(ctx context.Context, tx *sql.Tx, gen int64) (*mirrorState, error) {
	if st := s.mirror.cur.Load(); st != nil && st.gen == gen {
		return st, nil
	}
	s.mirror.mu.Lock()
	defer s.mirror.mu.Unlock()
	if st := s.mirror.cur.Load(); st != nil && st.gen == gen {
		return st, nil // loaded while this reader waited
	}
	limit := maxMirrorRows
	if s.mirrorLimit > 0 {
		limit = s.mirrorLimit
	}
	st, base, err := s.readSnapshot(ctx, tx, gen)
	if err != nil {
		return nil, err
	}
	if st == nil {
		if st, err = loadMirror(ctx, tx, gen, limit); err != nil {
			return nil, err
		}
		if !st.tooBig {
			// Best effort: the next process decodes this copy instead
			// of reading every row again.
			s.saveCurrent(ctx, st)
		}
	} else if st.count() > limit {
		st = &mirrorState{gen: gen, tooBig: true}
	} else {
		s.savedGen.Store(gen)
	}
	// A reader on an older snapshot must not replace a newer copy; it
	// still answers from the copy of its own snapshot.
	if cur := s.mirror.cur.Load(); cur == nil || cur.gen < gen {
		s.mirror.cur.Store(st)
		if base != nil {
			s.rollupBase.Store(base)
		}
	}
	return st, nil
}

// loadMirror reads the whole rollup through tx, unless it has more than
// limit rows.
func loadMirror(ctx context.Context, tx *sql.Tx, gen int64, limit int) (*mirrorState, error) {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM rollup`).Scan(&n); err != nil {
		return nil, fmt.Errorf("load rollup: %w", formatError(err))
	}
	if n > limit {
		return &mirrorState{gen: gen, tooBig: true}, nil
	}
	// ORDER BY qh follows the primary key: no sort.
	rows, err := tx.QueryContext(ctx, `SELECT `+mirrorColumns+` FROM rollup ORDER BY qh`)
	if err != nil {
		return nil, fmt.Errorf("load rollup: %w", formatError(err))
	}
	defer rows.Close()
	st := &mirrorState{gen: gen, rows: make([]mirrorRow, 0, n), dict: dictionary{ids: map[string]int32{}}}
	for rows.Next() {
		r, err := scanRow(rows, st.dict.id)
		if err != nil {
			return nil, fmt.Errorf("load rollup: %w", err)
		}
		st.rows = append(st.rows, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load rollup: %w", formatError(err))
	}
	return st, nil
}

// scanRow reads one row in mirrorColumns order, turning its strings into
// ids with id.
func scanRow(rows *sql.Rows, id func([]byte) int32) (mirrorRow, error) {
	var (
		r                             mirrorRow
		session, project, user, model sql.RawBytes
	)
	if err := rows.Scan(&r.qh, &session, &project, &user, &model, &r.cost,
		&r.Input, &r.Output, &r.CacheCreation5m, &r.CacheCreation1h, &r.CacheRead,
		&r.WebSearchRequests, &r.WebFetchRequests, &r.entries, &r.first, &r.last); err != nil {
		return r, formatError(err)
	}
	r.session, r.project, r.user, r.model = id(session), id(project), id(user), id(model)
	return r, nil
}

// edgeRows adds the records of f in the [e[0], e[1]) milliseconds to acc,
// each as a rollup-shaped row of one record.
func edgeRows(ctx context.Context, tx *sql.Tx, f usage.Filter, e [2]int64, dict *overlay, acc *accumulator) error {
	conds, args := equalities(f)
	conds = append(conds, "ts >= ?", "ts < ?")
	args = append(args, e[0], e[1])
	rows, err := tx.QueryContext(ctx, recordsSource+" WHERE "+strings.Join(conds, " AND "), args...)
	if err != nil {
		return formatError(err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRow(rows, dict.id)
		if err != nil {
			return err
		}
		acc.add(&r)
	}
	return formatError(rows.Err())
}

// groupKey identifies a bucket: the dimension's key and quarter hour and
// the model, as ids.
type groupKey struct {
	qh         int64
	key, model int32
}

// group is a bucket being summed, with its bounds in milliseconds.
type group struct {
	usage.Tokens
	cost                 usage.Money
	entries, first, last int64
	// project is the id of the project of the latest row (BySession).
	project int32
}

// accumulator sums rollup-shaped rows into the buckets of one dimension,
// as the SQL path's GROUP BY does.
type accumulator struct {
	dim    usage.Dimension
	dict   *overlay
	groups map[groupKey]*group
	// label, when set (BySessionQuarterHour), merges quarter hours in a
	// row that have one label: a row's group is that of the first
	// quarter hour of its run (see periodStart).
	label func(time.Time) string
	run   struct {
		qh, start int64
		name      string
		started   bool
	}
}

// periodStart returns the first quarter hour of the run of quarter hours
// with qh's label that qh continues, or qh itself when it starts one.
// Rows come in quarter-hour order, then the edges: a run only ever
// merges quarter hours whose label is that of its start.
func (a *accumulator) periodStart(qh int64) int64 {
	r := &a.run
	if r.started && qh == r.qh {
		return r.start
	}
	name := a.label(fromMS(qh * quarterHourMS))
	if !r.started || name != r.name {
		r.start, r.name, r.started = qh, name, true
	}
	r.qh = qh
	return r.start
}

func newAccumulator(dim usage.Dimension, dict *overlay) *accumulator {
	return &accumulator{dim: dim, dict: dict, groups: map[groupKey]*group{}}
}

func (a *accumulator) add(r *mirrorRow) {
	k := groupKey{key: -1, model: r.model}
	switch a.dim {
	case usage.ByQuarterHour:
		k.qh = r.qh
	case usage.BySession:
		k.key = r.session
	case usage.ByProject:
		k.key = r.project
	case usage.ByUser:
		k.key = r.user
	case usage.BySessionQuarterHour:
		k.key, k.qh = r.session, r.qh
		if a.label != nil {
			k.qh = a.periodStart(r.qh)
		}
	}
	g := a.groups[k]
	if g == nil {
		g = &group{first: r.first, last: r.last, project: r.project}
		a.groups[k] = g
	} else {
		// The project of a session is that of its latest row; among rows
		// of the same millisecond the greatest, as in the SQL path.
		if a.dim == usage.BySession && (r.last > g.last ||
			r.last == g.last && r.project != g.project && a.dict.name(r.project) > a.dict.name(g.project)) {
			g.project = r.project
		}
		g.first, g.last = min(g.first, r.first), max(g.last, r.last)
	}
	g.Tokens = g.Tokens.Add(r.Tokens)
	g.cost = g.cost.Add(r.cost)
	g.entries += r.entries
}

// buckets returns the sums, in no particular order.
func (a *accumulator) buckets() []usage.Bucket {
	out := make([]usage.Bucket, 0, len(a.groups))
	for k, g := range a.groups {
		b := usage.Bucket{Model: a.dict.name(k.model), Tokens: g.Tokens, Cost: g.cost, Entries: g.entries,
			First: fromMS(g.first), Last: fromMS(g.last)}
		if k.key >= 0 || k.key < -1 {
			b.Key = a.dict.name(k.key)
		}
		switch a.dim {
		case usage.ByQuarterHour, usage.BySessionQuarterHour:
			b.Time = fromMS(k.qh * quarterHourMS)
		case usage.BySession:
			b.Project = a.dict.name(g.project)
		}
		out = append(out, b)
	}
	return out
}

// maxDeltaRecords is the largest batch that patches the in-memory rollup;
// a larger one (a catch-up) is cheaper to follow by one reload.
const maxDeltaRecords = 1000

// mirrorInUse reports whether there is an in-memory rollup to patch.
func (s *Store) mirrorInUse() bool {
	st := s.mirror.cur.Load()
	return !s.noMirror && st != nil && !st.tooBig
}

// bumpGen is the assignment that moves generation.gen on: by a random
// step rather than by one, so that it still grows, but a database put
// back from a backup does not reach the generation of a snapshot saved
// after the backup (whose records it lacks) by writing others.
const bumpGen = `gen = gen + 1 + (random() & 4294967295)`

// mirrorDelta is what an Apply changed in the rollup: the rows of the
// quarter hours it touched, as they are after it, at generation gen; prev
// is the generation just before the Apply's own bump.
type mirrorDelta struct {
	gen, prev int64
	qhs       map[int64]bool
	rows      []deltaRow // in qh order
}

// deltaRow is a rollup row with its strings, before they get ids.
type deltaRow struct {
	r     mirrorRow
	names [4]string // session, project, user, model
}

// recordQuarters returns the quarter hours of records, whose rollup rows
// applying them changes. The stored copies they replace may lie in other
// quarter hours; storedQuarters adds those.
func recordQuarters(records []usage.Record) map[int64]bool {
	qhs := map[int64]bool{}
	for i := range records {
		qhs[floorDiv(ms(records[i].Timestamp), quarterHourMS)] = true
	}
	return qhs
}

// storedQuarters adds to qhs the quarter hours of the stored records with
// ids, the stored copies of records that the upsert may replace (the
// update trigger moves a replaced record out of its old quarter hour). It
// runs before they are replaced.
func storedQuarters(ctx context.Context, tx *sql.Tx, ids []int64, qhs map[int64]bool) error {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	// SQLite allows 32,766 parameters; maxDeltaRecords is far below.
	q := `SELECT DISTINCT ` + quarterExpr + ` FROM record_rows WHERE id IN (?` + strings.Repeat(", ?", len(ids)-1) + `)`
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("apply: stored copies: %w", formatError(err))
	}
	defer rows.Close()
	for rows.Next() {
		var qh int64
		if err := rows.Scan(&qh); err != nil {
			return fmt.Errorf("apply: stored copies: %w", formatError(err))
		}
		qhs[qh] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("apply: stored copies: %w", formatError(err))
	}
	return nil
}

// readDelta reads, inside the Apply's transaction and after its writes,
// the generation and the rollup rows of the touched quarter hours.
func readDelta(ctx context.Context, tx *sql.Tx, qhs map[int64]bool) (*mirrorDelta, error) {
	d := &mirrorDelta{qhs: qhs}
	if err := tx.QueryRowContext(ctx, `SELECT gen FROM generation`).Scan(&d.gen); err != nil {
		return nil, fmt.Errorf("apply: generation: %w", formatError(err))
	}
	list := make([]int64, 0, len(qhs))
	for qh := range qhs {
		list = append(list, qh)
	}
	arg, err := json.Marshal(list)
	if err != nil {
		return nil, fmt.Errorf("apply: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+mirrorColumns+` FROM rollup
		WHERE qh IN (SELECT value FROM json_each(?)) ORDER BY qh`, string(arg))
	if err != nil {
		return nil, fmt.Errorf("apply: read rollup: %w", formatError(err))
	}
	defer rows.Close()
	for rows.Next() {
		// Keep the strings, in scan order; ids are assigned when the
		// delta is applied to a copy.
		var dr deltaRow
		n := int32(0)
		r, err := scanRow(rows, func(b []byte) int32 {
			dr.names[n] = string(b)
			n++
			return n - 1
		})
		if err != nil {
			return nil, fmt.Errorf("apply: read rollup: %w", err)
		}
		dr.r = r
		d.rows = append(d.rows, dr)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("apply: read rollup: %w", formatError(err))
	}
	return d, nil
}

// patchMirror applies d to the in-memory rollup when the copy is at the
// generation just before d's; otherwise another writer (or a re-pricing
// in the same transaction) came in between and the next reader reloads
// the copy.
func (s *Store) patchMirror(d *mirrorDelta) {
	s.mirror.mu.Lock()
	defer s.mirror.mu.Unlock()
	cur := s.mirror.cur.Load()
	if cur == nil || cur.tooBig || cur.gen != d.prev {
		return
	}
	// The copy is shared with readers: patch a new one.
	next := &mirrorState{gen: d.gen, dict: dictionary{
		ids:   maps.Clone(cur.dict.ids),
		names: slices.Clone(cur.dict.names),
	}}
	added := make([]mirrorRow, len(d.rows))
	for i := range d.rows {
		r := d.rows[i].r
		n := &d.rows[i].names
		r.session, r.project = next.dict.id([]byte(n[0])), next.dict.id([]byte(n[1]))
		r.user, r.model = next.dict.id([]byte(n[2])), next.dict.id([]byte(n[3]))
		added[i] = r
	}
	// The blocks (with their sums) of the untouched quarter hours carry
	// over, so that a copy decoded from the file is patched and saved
	// again without decoding them.
	blocks, err := cur.getBlocks()
	if err != nil {
		return
	}
	next.blocks = spliceQuarters(blocks, encodeBlocks(added), d.qhs, func(b *rowBlock) int64 { return b.qh })
	for i := range next.blocks {
		next.nrows += next.blocks[i].n
		next.nsums += next.blocks[i].nsums
	}
	s.notePatched(d.prev, d.gen, d.qhs)
	if quarters, ok := cur.readyQuarters(); ok {
		next.quarters = spliceQuarters(quarters, sumQuarters(added), d.qhs, func(r *mirrorRow) int64 { return r.qh })
		next.haveQuarters = true
	}
	if rows, ok := cur.readyRows(); ok {
		next.rows = spliceQuarters(rows, added, d.qhs, func(r *mirrorRow) int64 { return r.qh })
		if next.rows == nil {
			next.rows = []mirrorRow{} // decoded, and empty
		}
	}
	s.mirror.cur.Store(next)
}

// spliceQuarters merges kept (in qh order) without its items in the
// quarter hours of drop, and added (in qh order), into one list in qh
// order.
func spliceQuarters[T any](kept, added []T, drop map[int64]bool, qh func(*T) int64) []T {
	out := make([]T, 0, len(kept)+len(added))
	j := 0
	for i := range kept {
		q := qh(&kept[i])
		if drop[q] {
			continue
		}
		for j < len(added) && qh(&added[j]) < q {
			out = append(out, added[j])
			j++
		}
		out = append(out, kept[i])
	}
	return append(out, added[j:]...)
}
