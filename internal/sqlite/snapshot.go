package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/claude-token-monitor/ctm/internal/sidefile"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// The in-memory rollup is saved in a file beside the database (its path
// plus "-rollup"), so that the next process at the same generation decodes
// it instead of scanning every rollup row through database/sql. It is a
// cache, checked before use: the file names the database instance
// (generation.instance) and the generation it copies, and ends in a CRC of
// all before it; a file that does not decode, or copies another instance
// or generation, is ignored and replaced. The format is private to this
// file and versioned by its first bytes.

// snapshotMagic starts every file; the digit is the format version.
const snapshotMagic = "ctm-rollup-1\n"

// encodeMirror returns st as a blob: the dictionary, then each row with
// its quarter hour as a delta from the previous row's (rows are in qh
// order) and its bounds relative to the quarter hour.
func encodeMirror(st *mirrorState) []byte {
	b := make([]byte, 0, 64+len(st.rows)*24)
	b = append(b, snapshotMagic...)
	b = binary.AppendUvarint(b, uint64(len(st.dict.names)))
	for _, n := range st.dict.names {
		b = binary.AppendUvarint(b, uint64(len(n)))
		b = append(b, n...)
	}
	b = binary.AppendUvarint(b, uint64(len(st.rows)))
	var prev int64
	for i := range st.rows {
		r := &st.rows[i]
		b = binary.AppendVarint(b, r.qh-prev)
		prev = r.qh
		for _, id := range [...]int32{r.session, r.project, r.user, r.model} {
			b = binary.AppendUvarint(b, uint64(id))
		}
		for _, v := range [...]int64{int64(r.cost), r.Input, r.Output, r.CacheCreation5m,
			r.CacheCreation1h, r.CacheRead, r.WebSearchRequests, r.WebFetchRequests, r.entries,
			r.first - r.qh*quarterHourMS, r.last - r.first} {
			b = binary.AppendVarint(b, v)
		}
	}
	return b
}

var errSnapshot = errors.New("rollup snapshot does not decode")

// decodeMirror is the inverse of encodeMirror.
func decodeMirror(b []byte, gen int64) (*mirrorState, error) {
	if len(b) < len(snapshotMagic) || string(b[:len(snapshotMagic)]) != snapshotMagic {
		return nil, errSnapshot
	}
	return decodeMirrorBody(b[len(snapshotMagic):], gen)
}

// decodeMirrorBody decodes what follows the magic of encodeMirror's blob.
func decodeMirrorBody(b []byte, gen int64) (*mirrorState, error) {
	d := sidefile.NewDecoder(b)
	// Every name takes at least a byte and every row at least 15: a
	// count larger than the blob can hold is corruption, not a reason to
	// allocate.
	nn := d.Count(1)
	if d.Failed() {
		return nil, errSnapshot
	}
	st := &mirrorState{gen: gen, dict: dictionary{ids: make(map[string]int32, nn), names: make([]string, 0, nn)}}
	for range nn {
		name := d.String(d.Uvarint())
		if d.Failed() {
			return nil, errSnapshot
		}
		st.dict.ids[name] = int32(len(st.dict.names))
		st.dict.names = append(st.dict.names, name)
	}
	nr := d.Count(15)
	if d.Failed() {
		return nil, errSnapshot
	}
	st.rows = make([]mirrorRow, nr)
	var prev int64
	for i := range st.rows {
		r := &st.rows[i]
		r.qh = prev + d.Varint()
		prev = r.qh
		ids := [4]uint64{d.Uvarint(), d.Uvarint(), d.Uvarint(), d.Uvarint()}
		for _, id := range ids {
			if id >= nn {
				return nil, errSnapshot
			}
		}
		r.session, r.project, r.user, r.model = int32(ids[0]), int32(ids[1]), int32(ids[2]), int32(ids[3])
		r.cost = usage.Money(d.Varint())
		r.Input, r.Output, r.CacheCreation5m, r.CacheCreation1h = d.Varint(), d.Varint(), d.Varint(), d.Varint()
		r.CacheRead, r.WebSearchRequests, r.WebFetchRequests, r.entries = d.Varint(), d.Varint(), d.Varint(), d.Varint()
		r.first = r.qh*quarterHourMS + d.Varint()
		r.last = r.first + d.Varint()
		if d.Failed() {
			return nil, errSnapshot
		}
	}
	if d.Len() != 0 {
		return nil, errSnapshot
	}
	return st, nil
}

// snapshotPath is the file of the saved copy.
func (s *Store) snapshotPath() string { return s.path + "-rollup" }

// readSnapshot returns the saved copy when it is of this database at
// generation gen (as tx sees them), or nil.
func (s *Store) readSnapshot(ctx context.Context, tx *sql.Tx, gen int64) (*mirrorState, error) {
	data, err := os.ReadFile(s.snapshotPath())
	if err != nil {
		return nil, nil // none yet, or unreadable: rebuilt from the rows
	}
	var instance []byte
	if err := tx.QueryRowContext(ctx, `SELECT instance FROM generation`).Scan(&instance); err != nil {
		return nil, fmt.Errorf("read rollup snapshot: %w", formatError(err))
	}
	st, err := decodeSnapshot(data, instance, gen)
	if err != nil {
		return nil, nil
	}
	return st, nil
}

// saveSnapshot writes st to the snapshot file.
func (s *Store) saveSnapshot(ctx context.Context, st *mirrorState) error {
	var instance []byte
	if err := s.reader.QueryRowContext(ctx, `SELECT instance FROM generation`).Scan(&instance); err != nil {
		return fmt.Errorf("save rollup snapshot: %w", formatError(err))
	}
	return s.writeSnapshot(encodeSnapshot(st, instance))
}

// writeSnapshot writes data to the snapshot file, by a rename
// (sidefile.Write).
func (s *Store) writeSnapshot(data []byte) error {
	if err := sidefile.Write(s.snapshotPath(), data); err != nil {
		return fmt.Errorf("save rollup snapshot: %w", err)
	}
	return nil
}

// encodeSnapshot frames encodeMirror's blob with the instance, the
// generation and a CRC.
func encodeSnapshot(st *mirrorState, instance []byte) []byte {
	body := encodeMirror(st)
	b := make([]byte, 0, len(body)+len(instance)+24)
	b = append(b, body[:len(snapshotMagic)]...)
	b = binary.AppendUvarint(b, uint64(len(instance)))
	b = append(b, instance...)
	b = binary.AppendVarint(b, st.gen)
	b = append(b, body[len(snapshotMagic):]...)
	return sidefile.Seal(b)
}

// decodeSnapshot is the inverse of encodeSnapshot; it fails unless the
// file is intact and copies instance at gen.
func decodeSnapshot(b, instance []byte, gen int64) (*mirrorState, error) {
	rest, ok := sidefile.Open(b, snapshotMagic)
	if !ok || len(instance) == 0 {
		return nil, errSnapshot
	}
	n, k := binary.Uvarint(rest)
	if k <= 0 || n > uint64(len(rest)-k) || string(rest[k:k+int(n)]) != string(instance) {
		return nil, errSnapshot
	}
	rest = rest[k+int(n):]
	at, k := binary.Varint(rest)
	if k <= 0 || at != gen {
		return nil, errSnapshot
	}
	// The body is decoded in place: copying it behind the magic again
	// cost a copy of the whole file (megabytes of long sessions).
	return decodeMirrorBody(rest[k:], gen)
}

// adoptSnapshot makes the saved copy the in-memory one when it is at the
// generation tx sees.
func (s *Store) adoptSnapshot(ctx context.Context, tx *sql.Tx) error {
	var gen int64
	if err := tx.QueryRowContext(ctx, `SELECT gen FROM generation`).Scan(&gen); err != nil {
		return fmt.Errorf("apply: read generation: %w", formatError(err))
	}
	st, err := s.readSnapshot(ctx, tx, gen)
	if err != nil || st == nil {
		return err
	}
	limit := maxMirrorRows
	if s.mirrorLimit > 0 {
		limit = s.mirrorLimit
	}
	if len(st.rows) > limit {
		return nil
	}
	s.mirror.mu.Lock()
	defer s.mirror.mu.Unlock()
	if s.mirror.cur.Load() == nil {
		s.mirror.cur.Store(st)
		s.savedGen.Store(gen)
	}
	return nil
}

// savePeriod is how often a process that patches its copy (ctm serve
// following appends) saves it; Close saves the last one.
const savePeriod = 2 * time.Second

// savePatched saves the in-memory copy after a patch, at most once per
// savePeriod, so that the next process finds it current.
func (s *Store) savePatched(ctx context.Context) {
	st := s.mirror.cur.Load()
	if st == nil || st.tooBig || st.gen == s.savedGen.Load() {
		return
	}
	if last := s.lastSave.Load(); last != 0 && time.Since(time.Unix(0, last)) < savePeriod {
		return
	}
	s.saveCurrent(ctx, st)
}

// saveCurrent saves st and notes it.
func (s *Store) saveCurrent(ctx context.Context, st *mirrorState) {
	s.lastSave.Store(time.Now().UnixNano())
	if err := s.saveSnapshot(ctx, st); err != nil {
		s.snapshotErr.Store(&err)
		return
	}
	s.savedGen.Store(st.gen)
}
