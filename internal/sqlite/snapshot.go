package sqlite

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
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
// Version 2 keeps the rows of each quarter hour as a block of bytes,
// decoded only when a query needs rows, beside the sums of the block by
// model, which are all a calendar report needs: decoding every row of
// version 1 was a third of an unchanged daily report on 2 GB of long
// sessions (147k rows against 20k sums). A patch splices the blocks of
// the quarter hours it touched and saves the others as they were.
const snapshotMagic = "ctm-rollup-2\n"

// A copy patched since it was read from the file, or last written to it,
// is not written again whole (1 MB at 2 GB, 4.7 MB for 2 GB of long
// sessions) while the blocks it changed are a small part of it: they go
// to a second file (the snapshot's path plus "-delta") with the names
// added to the dictionary, and name the saved file they apply to (its
// generation, CRC and number of names) and the generation they bring it
// to. The delta is checked as the snapshot is; once its blocks reach an
// eighth of the snapshot's bytes, the snapshot is written again and the
// delta removed. Both are replaced by a rename, so a kill at any point
// leaves files that check out together or are ignored: a delta of another
// snapshot names one that is not there.

// snapshotDeltaMagic starts every delta file; the digit is its format
// version.
const snapshotDeltaMagic = "ctm-rollup-delta-1\n"

// rollupBase names a saved snapshot (its generation, CRC and names) and
// the quarter hours in which the copy at generation at differs from it.
// It is never changed once published.
type rollupBase struct {
	gen int64
	crc uint32
	// names is the saved snapshot's dictionary. A delta is written only
	// for a copy whose dictionary starts with it: two copies of one
	// generation (one decoded, one read from the rows) can number the
	// same strings differently, and a delta of one on the other's file
	// would credit rows to the wrong names.
	names []string
	at    int64
	dirty map[int64]bool
}

// snapshotDeltaPath is the file of the changes since the saved copy.
func (s *Store) snapshotDeltaPath() string { return s.path + "-rollup-delta" }

// notePatched moves the base on by a patch that took the copy from
// generation prev to gen in the quarter hours qhs.
func (s *Store) notePatched(prev, gen int64, qhs map[int64]bool) {
	b := s.rollupBase.Load()
	if b == nil || b.at != prev {
		s.rollupBase.Store(nil)
		return
	}
	dirty := maps.Clone(b.dirty)
	maps.Copy(dirty, qhs)
	s.rollupBase.Store(&rollupBase{gen: b.gen, crc: b.crc, names: b.names, at: gen, dirty: dirty})
}

// mirrorSize is about the size of st's blob, to allocate it at once.
func mirrorSize(st *mirrorState) int {
	blocks, err := st.getBlocks()
	if err != nil {
		return 0
	}
	size := 64
	for _, n := range st.dict.names {
		size += len(n) + binary.MaxVarintLen32
	}
	for i := range blocks {
		size += len(blocks[i].rows) + len(blocks[i].sums) + 5*binary.MaxVarintLen64
	}
	return size
}

// writeMirror writes st's body to w: the dictionary, the row and sum
// counts, then each block with its quarter hour as a delta from the
// previous block's, its row count and bytes and its sum count and bytes.
// The blocks go out as they are, so that saving a patched copy copies
// their bytes once, into the file.
func writeMirror(w io.Writer, st *mirrorState) error {
	blocks, err := st.getBlocks()
	if err != nil {
		return err
	}
	var b []byte
	put := func(data []byte) {
		if err == nil {
			_, err = w.Write(data)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(st.dict.names)))
	for _, n := range st.dict.names {
		b = binary.AppendUvarint(b, uint64(len(n)))
		b = append(b, n...)
	}
	nsums := 0
	for i := range blocks {
		nsums += blocks[i].nsums
	}
	b = binary.AppendUvarint(b, uint64(st.count()))
	b = binary.AppendUvarint(b, uint64(nsums))
	b = binary.AppendUvarint(b, uint64(len(blocks)))
	put(b)
	var prev int64
	for i := range blocks {
		k := &blocks[i]
		b = binary.AppendVarint(b[:0], k.qh-prev)
		prev = k.qh
		b = binary.AppendUvarint(b, uint64(k.n))
		b = binary.AppendUvarint(b, uint64(len(k.rows)))
		put(b)
		put(k.rows)
		b = binary.AppendUvarint(b[:0], uint64(k.nsums))
		b = binary.AppendUvarint(b, uint64(len(k.sums)))
		put(b)
		put(k.sums)
	}
	return err
}

// appendSums appends r's figures and bounds, the bounds relative to its
// quarter hour.
func appendSums(b []byte, r *mirrorRow) []byte {
	for _, v := range [...]int64{int64(r.cost), r.Input, r.Output, r.CacheCreation5m,
		r.CacheCreation1h, r.CacheRead, r.WebSearchRequests, r.WebFetchRequests, r.entries,
		r.first - r.qh*quarterHourMS, r.last - r.first} {
		b = binary.AppendVarint(b, v)
	}
	return b
}

// encodeBlocks returns rows (in qh order) as one block per quarter hour.
func encodeBlocks(rows []mirrorRow) []rowBlock {
	var out []rowBlock
	for i := 0; i < len(rows); {
		j := i
		var data []byte
		for ; j < len(rows) && rows[j].qh == rows[i].qh; j++ {
			r := &rows[j]
			for _, id := range [...]int32{r.session, r.project, r.user, r.model} {
				data = binary.AppendUvarint(data, uint64(id))
			}
			data = appendSums(data, r)
		}
		sums := sumQuarters(rows[i:j])
		var sb []byte
		for k := range sums {
			sb = binary.AppendUvarint(sb, uint64(sums[k].model))
			sb = appendSums(sb, &sums[k])
		}
		out = append(out, rowBlock{qh: rows[i].qh, n: j - i, rows: data, nsums: len(sums), sums: sb})
		i = j
	}
	return out
}

// decodeSums decodes the n sums of blocks, checking that each model id
// is below names.
func decodeSums(blocks []rowBlock, n, names int) ([]mirrorRow, error) {
	out := make([]mirrorRow, 0, n)
	for i := range blocks {
		k := &blocks[i]
		if k.nsums > n-len(out) {
			return nil, errSnapshot
		}
		b := k.sums
		for range k.nsums {
			var v [12]uint64
			var ok bool
			if b, ok = uvarints(b, v[:]); !ok || v[0] >= uint64(names) {
				return nil, errSnapshot
			}
			r := mirrorRow{qh: k.qh, session: -1, project: -1, user: -1, model: int32(v[0])}
			setSums(&r, v[1:])
			out = append(out, r)
		}
		if len(b) != 0 {
			return nil, errSnapshot
		}
	}
	if len(out) != n {
		return nil, errSnapshot
	}
	return out, nil
}

// minRowBytes and minSumBytes are the fewest bytes a row and a sum of a
// block take: 4 ids, or a model's, and 11 figures of a byte each.
// minBlockBytes is the fewest a block takes: its quarter hour, two
// counts and two sizes of a byte each, a row and a sum.
const (
	minRowBytes   = 15
	minSumBytes   = 12
	minBlockBytes = 5 + minRowBytes + minSumBytes
)

// maxNamesHint caps the size a snapshot's dictionary is made with.
const maxNamesHint = 1 << 16

// decodeBlocks decodes blocks into n rows, checking that each id is
// below names.
func decodeBlocks(blocks []rowBlock, n, names int) ([]mirrorRow, error) {
	rows := make([]mirrorRow, 0, n)
	for i := range blocks {
		k := &blocks[i]
		if k.n > n-len(rows) {
			return nil, errSnapshot
		}
		b := k.rows
		for range k.n {
			var v [15]uint64
			var ok bool
			if b, ok = uvarints(b, v[:]); !ok {
				return nil, errSnapshot
			}
			for _, id := range v[:4] {
				if id >= uint64(names) {
					return nil, errSnapshot
				}
			}
			r := mirrorRow{qh: k.qh, session: int32(v[0]), project: int32(v[1]), user: int32(v[2]), model: int32(v[3])}
			setSums(&r, v[4:])
			rows = append(rows, r)
		}
		if len(b) != 0 {
			return nil, errSnapshot
		}
	}
	if len(rows) != n {
		return nil, errSnapshot
	}
	return rows, nil
}

// uvarints reads len(v) unsigned varints from b into v and returns the
// rest of b; ok is false when b ends early or holds a bad varint. It is
// binary.Uvarint in a loop, without a call and its checks per field:
// decoding the sums was a tenth of an unchanged daily report.
func uvarints(b []byte, v []uint64) (rest []byte, ok bool) {
	for i := range v {
		var x uint64
		var s uint
		for j := 0; ; j++ {
			if j == len(b) || j == binary.MaxVarintLen64 {
				return nil, false
			}
			c := b[j]
			if c < 0x80 {
				if j == binary.MaxVarintLen64-1 && c > 1 {
					return nil, false // overflows 64 bits
				}
				v[i] = x | uint64(c)<<s
				b = b[j+1:]
				break
			}
			x |= uint64(c&0x7f) << s
			s += 7
		}
	}
	return b, true
}

// setSums sets r's figures and bounds from appendSums's 11 values, read
// as unsigned varints (zigzag, as binary.AppendVarint writes them); r.qh
// is set.
func setSums(r *mirrorRow, v []uint64) {
	var x [11]int64
	for i := range x {
		x[i] = int64(v[i] >> 1)
		if v[i]&1 != 0 {
			x[i] = ^x[i]
		}
	}
	r.cost = usage.Money(x[0])
	r.Input, r.Output, r.CacheCreation5m, r.CacheCreation1h = x[1], x[2], x[3], x[4]
	r.CacheRead, r.WebSearchRequests, r.WebFetchRequests, r.entries = x[5], x[6], x[7], x[8]
	r.first = r.qh*quarterHourMS + x[9]
	r.last = r.first + x[10]
}

var errSnapshot = errors.New("rollup snapshot does not decode")

// decodeMirrorBody decodes the body that writeMirror writes:
// the dictionary and the frame of each block. The blocks' bytes stay in
// b, decoded when rows or sums are first needed.
func decodeMirrorBody(b []byte, gen int64) (*mirrorState, error) {
	d := sidefile.NewDecoder(b)
	// Every name takes at least a byte, every block at least
	// minBlockBytes and every row and sum at least minSumBytes: a count
	// larger than the blob can hold is corruption, not a reason to
	// allocate.
	nn := d.Count(1)
	if d.Failed() || nn > 1<<31-1 {
		return nil, errSnapshot
	}
	// The count only says the names fit in the bytes left (empty names
	// take a byte each): a map sized by it costs some 70 times those
	// bytes before a name is read, so the size given is capped and a
	// larger dictionary grows.
	hint := min(nn, maxNamesHint)
	st := &mirrorState{gen: gen, dict: dictionary{ids: make(map[string]int32, hint), names: make([]string, 0, hint)}}
	for range nn {
		name := d.String(d.Uvarint())
		if d.Failed() {
			return nil, errSnapshot
		}
		// A name twice would give one string two ids, and a filter by
		// it would find the rows of one of them only.
		if _, dup := st.dict.ids[name]; dup {
			return nil, errSnapshot
		}
		st.dict.ids[name] = int32(len(st.dict.names))
		st.dict.names = append(st.dict.names, name)
	}
	nr := d.Count(minRowBytes)
	ns := d.Count(minSumBytes)
	nb := d.Count(minBlockBytes)
	if d.Failed() {
		return nil, errSnapshot
	}
	st.nrows, st.nsums = int(nr), int(ns)
	st.blocks = make([]rowBlock, nb)
	// The frames are read straight from the bytes: a Decoder per block
	// (to skip its bytes) was 12k allocations on 2 GB of long sessions.
	rest := b[len(b)-d.Len():]
	bad := false
	uvarint := func() uint64 {
		v, n := binary.Uvarint(rest)
		if n <= 0 {
			bad = true
			return 0
		}
		rest = rest[n:]
		return v
	}
	// section reads a count of items that take at least least bytes each
	// and their bytes, which it returns without copying them.
	section := func(least uint64) (int, []byte) {
		n, size := uvarint(), uvarint()
		if bad || n == 0 || size > uint64(len(rest)) || n > size/least {
			bad = true
			return 0, nil
		}
		data := rest[:size:size]
		rest = rest[size:]
		return int(n), data
	}
	var prev int64
	rows, sums := 0, 0
	for i := range st.blocks {
		k := &st.blocks[i]
		u := uvarint()
		delta := int64(u >> 1) // zigzag, as binary.AppendVarint writes it
		if u&1 != 0 {
			delta = ^delta
		}
		// Blocks are in strictly increasing qh order.
		if bad || i > 0 && delta <= 0 {
			return nil, errSnapshot
		}
		k.qh = prev + delta
		prev = k.qh
		k.n, k.rows = section(minRowBytes)
		k.nsums, k.sums = section(minSumBytes)
		if bad || k.nsums > k.n {
			return nil, errSnapshot
		}
		rows += k.n
		sums += k.nsums
	}
	if rows != st.nrows || sums != st.nsums || len(rest) != 0 {
		return nil, errSnapshot
	}
	return st, nil
}

// snapshotPath is the file of the saved copy.
func (s *Store) snapshotPath() string { return s.path + "-rollup" }

// readSnapshot returns the saved copy when it is of this database at
// generation gen (as tx sees them), by itself or with the delta saved
// beside it, or nil; base describes what it was read from.
func (s *Store) readSnapshot(ctx context.Context, tx *sql.Tx, gen int64) (st *mirrorState, base *rollupBase, err error) {
	data, err := os.ReadFile(s.snapshotPath())
	if err != nil {
		return nil, nil, nil // none yet, or unreadable: rebuilt from the rows
	}
	var instance []byte
	if err := tx.QueryRowContext(ctx, `SELECT instance FROM generation`).Scan(&instance); err != nil {
		return nil, nil, fmt.Errorf("read rollup snapshot: %w", formatError(err))
	}
	st, at, err := decodeSnapshotAt(data, instance)
	if err != nil {
		return nil, nil, nil
	}
	base = &rollupBase{gen: at, crc: binary.BigEndian.Uint32(data[len(data)-4:]), names: slices.Clip(st.dict.names), at: at, dirty: map[int64]bool{}}
	if at == gen {
		return st, base, nil
	}
	delta, err := os.ReadFile(s.snapshotDeltaPath())
	if err != nil {
		return nil, nil, nil
	}
	if st, base.dirty, err = applySnapshotDelta(st, delta, instance, gen, base); err != nil {
		return nil, nil, nil
	}
	base.at = gen
	return st, base, nil
}

// saveSnapshot writes st to the snapshot file, or the blocks it changed
// since the saved one to the delta file. It streams the snapshot rather
// than building it in memory first: on 2 GB of long sessions the 4.7 MB
// buffer, the copy into it and its fresh pages were most of the cost of
// saving.
func (s *Store) saveSnapshot(ctx context.Context, st *mirrorState) error {
	var (
		instance []byte
		gen      int64
	)
	if err := s.reader.QueryRowContext(ctx, `SELECT instance, gen FROM generation`).Scan(&instance, &gen); err != nil {
		return fmt.Errorf("save rollup snapshot: %w", formatError(err))
	}
	if gen != st.gen {
		// Another process has written since st: a copy of an older
		// generation is of no use to the next process, and it would
		// replace the current one that process may have saved.
		return nil
	}
	if b := s.rollupBase.Load(); b != nil && b.at == st.gen {
		if data, ok := encodeSnapshotDelta(st, instance, b); ok {
			if err := sidefile.Write(s.snapshotDeltaPath(), data); err != nil {
				return fmt.Errorf("save rollup snapshot: %w", err)
			}
			return nil
		}
	}
	var crc uint32
	if err := sidefile.WriteSealed(s.snapshotPath(), func(w io.Writer) error {
		sum := crc32.NewIEEE()
		w = io.MultiWriter(w, sum)
		if _, err := w.Write(snapshotHeader(st.gen, instance)); err != nil {
			return err
		}
		err := writeMirror(w, st)
		crc = sum.Sum32()
		return err
	}); err != nil {
		return fmt.Errorf("save rollup snapshot: %w", err)
	}
	s.rollupBase.Store(&rollupBase{gen: st.gen, crc: crc, names: slices.Clip(st.dict.names), at: st.gen, dirty: map[int64]bool{}})
	// A delta left beside the new snapshot names another one and would
	// be ignored; removing it spares the next process reading it.
	if err := os.Remove(s.snapshotDeltaPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("save rollup snapshot: %w", err)
	}
	return nil
}

// encodeSnapshotDelta returns the delta file that brings the saved copy b
// names to st: the header, the base, the names added since, and for each
// quarter hour changed since, in order, its block or an empty one when it
// has no rows any more; and a CRC of it all. ok is false when st does not
// encode or its changed blocks are more than an eighth of its bytes.
func encodeSnapshotDelta(st *mirrorState, instance []byte, b *rollupBase) ([]byte, bool) {
	blocks, err := st.getBlocks()
	if err != nil || len(b.names) > len(st.dict.names) || !slices.Equal(b.names, st.dict.names[:len(b.names)]) {
		return nil, false
	}
	total, changed := 0, 0
	for i := range blocks {
		n := len(blocks[i].rows) + len(blocks[i].sums)
		total += n
		if b.dirty[blocks[i].qh] {
			changed += n
		}
	}
	if changed > total/8 {
		return nil, false
	}
	out := append([]byte(nil), snapshotDeltaMagic...)
	out = binary.AppendUvarint(out, uint64(len(instance)))
	out = append(out, instance...)
	out = binary.AppendVarint(out, st.gen)
	out = binary.AppendVarint(out, b.gen)
	out = binary.AppendUvarint(out, uint64(b.crc))
	out = binary.AppendUvarint(out, uint64(len(b.names)))
	added := st.dict.names[len(b.names):]
	out = binary.AppendUvarint(out, uint64(len(added)))
	for _, n := range added {
		out = binary.AppendUvarint(out, uint64(len(n)))
		out = append(out, n...)
	}
	qhs := slices.Sorted(maps.Keys(b.dirty))
	out = binary.AppendUvarint(out, uint64(len(qhs)))
	for _, qh := range qhs {
		out = binary.AppendVarint(out, qh)
		i, found := slices.BinarySearchFunc(blocks, qh, func(k rowBlock, qh int64) int { return cmp.Compare(k.qh, qh) })
		if !found {
			out = binary.AppendUvarint(out, 0)
			continue
		}
		k := &blocks[i]
		out = binary.AppendUvarint(out, uint64(k.n))
		out = binary.AppendUvarint(out, uint64(len(k.rows)))
		out = append(out, k.rows...)
		out = binary.AppendUvarint(out, uint64(k.nsums))
		out = binary.AppendUvarint(out, uint64(len(k.sums)))
		out = append(out, k.sums...)
	}
	return sidefile.Seal(out), true
}

// applySnapshotDelta returns base (the copy decoded from the snapshot
// that b names) with the delta file data applied, and the quarter hours
// the delta changed; it fails unless data is intact, copies instance at
// gen and applies to b. The blocks it brings are checked as the
// snapshot's are.
func applySnapshotDelta(base *mirrorState, data, instance []byte, gen int64, b *rollupBase) (*mirrorState, map[int64]bool, error) {
	body, ok := sidefile.Open(data, snapshotDeltaMagic)
	if !ok || len(instance) == 0 {
		return nil, nil, errSnapshot
	}
	d := sidefile.NewDecoder(body)
	if d.String(d.Uvarint()) != string(instance) || d.Varint() != gen || d.Varint() != b.gen ||
		d.Uvarint() != uint64(b.crc) || d.Uvarint() != uint64(len(b.names)) || d.Failed() || len(base.dict.names) != len(b.names) {
		return nil, nil, errSnapshot
	}
	st := &mirrorState{gen: gen, dict: dictionary{ids: maps.Clone(base.dict.ids), names: slices.Clone(base.dict.names)}}
	nn := d.Count(1)
	for range nn {
		name := d.String(d.Uvarint())
		if _, dup := st.dict.ids[name]; dup || d.Failed() {
			return nil, nil, errSnapshot
		}
		st.dict.ids[name] = int32(len(st.dict.names))
		st.dict.names = append(st.dict.names, name)
	}
	nq := d.Count(2)
	if d.Failed() {
		return nil, nil, errSnapshot
	}
	qhs := make(map[int64]bool, nq)
	var added []rowBlock
	// section reads a count of items that take at least least bytes
	// each and their bytes.
	section := func(n, least uint64) []byte {
		size := d.Uvarint()
		if d.Failed() || n == 0 || size > uint64(d.Len()) || n > size/least {
			d.Fail()
			return nil
		}
		return []byte(d.String(size))
	}
	var last int64
	for i := range nq {
		// In strictly increasing order, as the snapshot's blocks are.
		qh := d.Varint()
		if d.Failed() || i > 0 && qh <= last {
			return nil, nil, errSnapshot
		}
		last = qh
		qhs[qh] = true
		n := d.Uvarint()
		if n == 0 {
			continue
		}
		k := rowBlock{qh: qh, n: int(n)}
		k.rows = section(n, minRowBytes)
		ns := d.Uvarint()
		k.nsums = int(ns)
		k.sums = section(ns, minSumBytes)
		if d.Failed() || ns > n {
			return nil, nil, errSnapshot
		}
		added = append(added, k)
	}
	if d.Len() != 0 {
		return nil, nil, errSnapshot
	}
	st.blocks = spliceQuarters(base.blocks, added, qhs, func(k *rowBlock) int64 { return k.qh })
	for i := range st.blocks {
		st.nrows += st.blocks[i].n
		st.nsums += st.blocks[i].nsums
	}
	return st, qhs, nil
}

// writeSnapshot writes data to the snapshot file, by a rename
// (sidefile.Write).
func (s *Store) writeSnapshot(data []byte) error {
	if err := sidefile.Write(s.snapshotPath(), data); err != nil {
		return fmt.Errorf("save rollup snapshot: %w", err)
	}
	return nil
}

// snapshotHeader is the start of the snapshot file: the magic, the
// instance and the generation.
func snapshotHeader(gen int64, instance []byte) []byte {
	b := append([]byte(snapshotMagic), binary.AppendUvarint(nil, uint64(len(instance)))...)
	b = append(b, instance...)
	return binary.AppendVarint(b, gen)
}

// encodeSnapshot frames writeMirror's body with the instance, the
// generation and a CRC; it returns nil when st does not encode.
func encodeSnapshot(st *mirrorState, instance []byte) []byte {
	var b bytes.Buffer
	head := snapshotHeader(st.gen, instance)
	b.Grow(len(head) + mirrorSize(st) + 4)
	b.Write(head)
	if writeMirror(&b, st) != nil {
		return nil
	}
	return sidefile.Seal(b.Bytes())
}

// decodeSnapshot is the inverse of encodeSnapshot; it fails unless the
// file is intact and copies instance at gen.
func decodeSnapshot(b, instance []byte, gen int64) (*mirrorState, error) {
	st, at, err := decodeSnapshotAt(b, instance)
	if err != nil || at != gen {
		return nil, errSnapshot
	}
	return st, nil
}

// decodeSnapshotAt decodes a file of encodeSnapshot that copies instance
// and returns the generation it copies. Its counts bound what it
// allocates by the file's size, and no name may appear twice; beyond that,
// a file that passes these checks is trusted as the database beside it is
// (whoever can write one can write the other): its sums per quarter hour
// are not checked against its rows.
func decodeSnapshotAt(b, instance []byte) (*mirrorState, int64, error) {
	rest, ok := sidefile.Open(b, snapshotMagic)
	if !ok || len(instance) == 0 {
		return nil, 0, errSnapshot
	}
	n, k := binary.Uvarint(rest)
	if k <= 0 || n > uint64(len(rest)-k) || string(rest[k:k+int(n)]) != string(instance) {
		return nil, 0, errSnapshot
	}
	rest = rest[k+int(n):]
	at, k := binary.Varint(rest)
	if k <= 0 {
		return nil, 0, errSnapshot
	}
	// The body is decoded in place: copying it behind the magic again
	// cost a copy of the whole file (megabytes of long sessions).
	st, err := decodeMirrorBody(rest[k:], at)
	return st, at, err
}

// adoptSnapshot makes the saved copy the in-memory one when it is at the
// generation tx sees.
func (s *Store) adoptSnapshot(ctx context.Context, tx *sql.Tx) error {
	var gen int64
	if err := tx.QueryRowContext(ctx, `SELECT gen FROM generation`).Scan(&gen); err != nil {
		return fmt.Errorf("apply: read generation: %w", formatError(err))
	}
	st, base, err := s.readSnapshot(ctx, tx, gen)
	if err != nil || st == nil {
		return err
	}
	limit := maxMirrorRows
	if s.mirrorLimit > 0 {
		limit = s.mirrorLimit
	}
	if st.count() > limit {
		return nil
	}
	s.mirror.mu.Lock()
	defer s.mirror.mu.Unlock()
	if s.mirror.cur.Load() == nil {
		s.mirror.cur.Store(st)
		s.savedGen.Store(gen)
		s.rollupBase.Store(base)
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
