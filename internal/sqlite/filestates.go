package sqlite

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"sync"
	"time"

	"github.com/claude-token-monitor/ctm/internal/sidefile"
	"github.com/claude-token-monitor/ctm/internal/usage"
)

// Every catch-up starts from the state of every file ingested so far:
// 13k rows at 2 GB, which cost 30 ms through database/sql in each
// process, a fifth of a report on an unchanged tree. So the states are
// also kept in a file beside the database (its path plus "-files"), as
// the rollup is (snapshot.go), and a process decodes that instead when
// it is current. It is a cache checked before use: the file names the
// database instance, the files generation it copies (generation.files_gen,
// drawn anew by every transaction that writes file states, in any process)
// and the number of migrations of the schema it was read from, and ends
// in a CRC of all before it. A file that does not decode or copies
// another instance or generation is ignored; the states are then read
// from the table and the file is replaced when the store closes.
//
// Within a process the store keeps its copy current through its own
// Applies, which know exactly which states they wrote, so that a report
// that catches up a few files saves the new copy without reading every
// row again.
//
// Nor does it write every state again: rewriting the 13k states of 2 GB
// (2 MB) was a tenth of a report after a small append. A copy built on
// the saved file (the base) saves the states it changed since in a second
// file (its path plus "-files-delta"), which names the base it applies to
// (files generation and CRC) and the files generation it brings that base
// to, and is checked as the base is. Once the changes reach an eighth of
// the states the base is written again and the delta removed. Each file
// is replaced by a rename, so a kill at any point leaves files that either
// check out together or are ignored: a delta written for another base, or
// left behind when a new base was written, names a base that is not there.

// filesMagic starts every file; the digit is the format version.
const filesMagic = "ctm-files-1\n"

// filesDeltaMagic starts every delta file; the digit is its format
// version.
const filesDeltaMagic = "ctm-files-delta-1\n"

// fileCopy is this process's copy of the files table.
type fileCopy struct {
	mu sync.Mutex
	// states is the table at files_gen gen; nil when there is no
	// current copy (none loaded, or another writer came in between).
	states map[string]usage.FileState
	gen    int64
	// loaded is whether a copy was ever loaded: only then does Close
	// save one (a process that never asked for every state does not
	// read them all to save them).
	loaded bool
	// saved is the files_gen of the saved file as this process last
	// read or wrote it; -1 when unknown (a generation drawn as -1 would
	// only cost a save).
	saved int64
	// lastSave is when the copy was last loaded or saved; a long-running
	// process (ctm serve) saves its patched copy at most once per
	// savePeriod.
	lastSave time.Time
	// base is the saved file that states was built on, and dirty the
	// states changed since (those a delta saves); dirty is nil when
	// states did not come from a base (read from the table).
	base  savedBase
	dirty map[string]usage.FileState
}

// savedBase names a saved file of every state: its files generation and
// the CRC that ends it.
type savedBase struct {
	gen int64
	crc uint32
}

// filesPath is the file of the saved copy, filesDeltaPath that of the
// changes since.
func (s *Store) filesPath() string      { return s.path + "-files" }
func (s *Store) filesDeltaPath() string { return s.path + "-files-delta" }

// cachedFileStates returns the file states at the current files
// generation, from this process's copy, the saved file or the table, in
// that order of preference. The map is the caller's.
func (s *Store) cachedFileStates(ctx context.Context) (map[string]usage.FileState, error) {
	tx, err := s.reader.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("file states: %w", formatError(err))
	}
	// The transaction only reads; ending it releases the snapshot.
	defer tx.Rollback()
	var (
		instance []byte
		gen      int64
	)
	if err := tx.QueryRowContext(ctx, `SELECT instance, files_gen FROM generation`).Scan(&instance, &gen); err != nil {
		return nil, fmt.Errorf("file states: %w", formatError(err))
	}
	c := &s.files
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.states == nil || c.gen != gen {
		states, base, dirty := readSavedStates(s.filesPath(), s.filesDeltaPath(), instance, gen)
		if states != nil {
			c.saved = gen
		} else {
			states = map[string]usage.FileState{}
			if err := queryFileStates(ctx, tx, states, ""); err != nil {
				return nil, err
			}
		}
		c.states, c.gen, c.loaded, c.lastSave = states, gen, true, time.Now()
		c.base, c.dirty = base, dirty
	}
	return maps.Clone(c.states), nil
}

// patchFileStates applies the states an Apply committed, which took the
// files generation from prev to gen, to the copy when it was at prev;
// otherwise another writer came in between and the copy is dropped. A
// long-running process saves the patched copy now and then so that other
// processes find it current.
func (s *Store) patchFileStates(ctx context.Context, prev, gen int64, files []usage.FileState) {
	c := &s.files
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.states == nil || c.gen != prev {
		c.states, c.dirty = nil, nil
		return
	}
	for _, f := range files {
		f = storedFileState(f)
		c.states[f.Path] = f
		if c.dirty != nil {
			c.dirty[f.Path] = f
		}
	}
	c.gen = gen
	if time.Since(c.lastSave) >= savePeriod {
		s.saveFileStatesLocked(ctx)
	}
}

// storedFileState returns f as the table gives it back: the modification
// time in UTC, to the nanosecond, without a monotonic reading.
func storedFileState(f usage.FileState) usage.FileState {
	if !f.ModTime.IsZero() {
		f.ModTime = time.Unix(0, f.ModTime.UnixNano()).UTC()
	}
	return f
}

// saveFileStates saves the copy for the next process unless the saved
// file is current. When this process's copy is not current it is read
// again from the table first: the process wrote states it could not
// follow (a bulk first index) or another process did.
func (s *Store) saveFileStates(ctx context.Context) {
	c := &s.files
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loaded {
		s.saveFileStatesLocked(ctx)
	}
}

// saveFileStatesLocked is saveFileStates with s.files.mu held. Failures
// are kept for tests; they cost the next process time, never a wrong
// answer.
func (s *Store) saveFileStatesLocked(ctx context.Context) {
	c := &s.files
	err := func() error {
		tx, err := s.reader.BeginTx(ctx, nil)
		if err != nil {
			return formatError(err)
		}
		defer tx.Rollback()
		var (
			instance []byte
			gen      int64
		)
		if err := tx.QueryRowContext(ctx, `SELECT instance, files_gen FROM generation`).Scan(&instance, &gen); err != nil {
			return formatError(err)
		}
		if c.saved == gen {
			return nil
		}
		if c.states == nil || c.gen != gen {
			states := map[string]usage.FileState{}
			if err := queryFileStates(ctx, tx, states, ""); err != nil {
				return err
			}
			c.states, c.gen, c.dirty = states, gen, nil
		}
		c.lastSave = time.Now()
		if c.dirty != nil && len(c.dirty) <= len(c.states)/8 {
			data := encodeFilesDelta(c.dirty, instance, gen, c.base)
			if err := sidefile.Write(s.filesDeltaPath(), data); err != nil {
				return err
			}
			c.saved = gen
			return nil
		}
		data := encodeFileStates(c.states, instance, gen)
		if err := sidefile.Write(s.filesPath(), data); err != nil {
			return err
		}
		c.saved = gen
		c.base, c.dirty = savedBase{gen: gen, crc: binary.BigEndian.Uint32(data[len(data)-4:])}, map[string]usage.FileState{}
		// A delta left beside the new base names another one and would
		// be ignored; removing it spares the next process reading it.
		if err := os.Remove(s.filesDeltaPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}()
	if err != nil {
		err = fmt.Errorf("save file states: %w", err)
		s.snapshotErr.Store(&err)
	}
}

// schemaVersion is the number of migrations this binary knows; a saved
// copy names it, so that one taken under another schema is not trusted.
func schemaVersion() int {
	names, _ := fs.Glob(migrationFS, "migrations/*.sql")
	return len(names)
}

// encodeFileStates returns the states as a file: the header, then the
// states in no particular order (sorting them cost more than the rest of
// the encoding), and a CRC of it all. Paths are written whole, so that
// decoding takes them as substrings of one string instead of allocating
// each.
func encodeFileStates(states map[string]usage.FileState, instance []byte, gen int64) []byte {
	b := appendFilesHeader(make([]byte, 0, 64+len(states)*160), filesMagic, instance, gen)
	return sidefile.Seal(appendStates(b, states))
}

// appendFilesHeader appends what the file states and their delta both
// start with: the magic, the database instance, the files generation and
// the schema version.
func appendFilesHeader(b []byte, magic string, instance []byte, gen int64) []byte {
	b = append(b, magic...)
	b = binary.AppendUvarint(b, uint64(len(instance)))
	b = append(b, instance...)
	b = binary.AppendVarint(b, gen)
	return binary.AppendUvarint(b, uint64(schemaVersion()))
}

// encodeFilesDelta returns the states changed since base as a delta file:
// the header, the base it applies to, the states as encodeFileStates
// writes them, and a CRC of it all.
func encodeFilesDelta(changed map[string]usage.FileState, instance []byte, gen int64, base savedBase) []byte {
	b := appendFilesHeader(make([]byte, 0, 64+len(changed)*160), filesDeltaMagic, instance, gen)
	b = binary.AppendVarint(b, base.gen)
	b = binary.AppendUvarint(b, uint64(base.crc))
	return sidefile.Seal(appendStates(b, changed))
}

// appendStates appends the count of states and each state to b.
func appendStates(b []byte, states map[string]usage.FileState) []byte {
	b = binary.AppendUvarint(b, uint64(len(states)))
	for _, f := range states {
		b = binary.AppendUvarint(b, uint64(len(f.Path)))
		b = append(b, f.Path...)
		var mtime, hasMtime int64
		if !f.ModTime.IsZero() {
			mtime, hasMtime = f.ModTime.UnixNano(), 1
		}
		b = binary.AppendUvarint(b, f.Device)
		b = binary.AppendUvarint(b, f.Inode)
		b = binary.AppendUvarint(b, f.Fingerprint)
		for _, v := range [...]int64{hasMtime, mtime, f.Size, f.Offset, f.BadLines} {
			b = binary.AppendVarint(b, v)
		}
	}
	return b
}

var errFilesFile = errors.New("file states copy does not decode")

// readSavedStates returns the states saved at path, with the changes
// saved at deltaPath applied when they bring it to gen, when that copies
// instance at files generation gen under this schema; else nil. base
// names the file at path and dirty holds the changes applied (the map is
// the caller's).
func readSavedStates(path, deltaPath string, instance []byte, gen int64) (states map[string]usage.FileState, base savedBase, dirty map[string]usage.FileState) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, base, nil
	}
	states, at, err := decodeFileStatesAt(data, instance)
	if err != nil {
		return nil, base, nil
	}
	base = savedBase{gen: at, crc: binary.BigEndian.Uint32(data[len(data)-4:])}
	if at == gen {
		return states, base, map[string]usage.FileState{}
	}
	delta, err := os.ReadFile(deltaPath)
	if err != nil {
		return nil, base, nil
	}
	dirty, err = decodeFilesDelta(delta, instance, gen, base)
	if err != nil {
		return nil, base, nil
	}
	for p, f := range dirty {
		states[p] = f
	}
	return states, base, dirty
}

// decodeFileStates is the inverse of encodeFileStates; it fails unless the
// data is intact and copies instance at gen under this schema.
func decodeFileStates(b, instance []byte, gen int64) (map[string]usage.FileState, error) {
	states, at, err := decodeFileStatesAt(b, instance)
	if err != nil || at != gen {
		return nil, errFilesFile
	}
	return states, nil
}

// decodeFileStatesAt decodes a file of encodeFileStates that copies
// instance under this schema, and returns its files generation.
func decodeFileStatesAt(b, instance []byte) (map[string]usage.FileState, int64, error) {
	body, ok := sidefile.Open(b, filesMagic)
	if len(instance) == 0 || !ok {
		return nil, 0, errFilesFile
	}
	d := sidefile.NewSharingDecoder(body)
	if d.String(d.Uvarint()) != string(instance) {
		return nil, 0, errFilesFile
	}
	gen := d.Varint()
	if d.Uvarint() != uint64(schemaVersion()) || d.Failed() {
		return nil, 0, errFilesFile
	}
	states, err := decodeStates(d)
	return states, gen, err
}

// decodeFilesDelta is the inverse of encodeFilesDelta; it fails unless
// the data is intact, copies instance at gen under this schema and
// applies to base.
func decodeFilesDelta(b, instance []byte, gen int64, base savedBase) (map[string]usage.FileState, error) {
	body, ok := sidefile.Open(b, filesDeltaMagic)
	if len(instance) == 0 || !ok {
		return nil, errFilesFile
	}
	d := sidefile.NewSharingDecoder(body)
	if d.String(d.Uvarint()) != string(instance) || d.Varint() != gen || d.Uvarint() != uint64(schemaVersion()) ||
		d.Varint() != base.gen || d.Uvarint() != uint64(base.crc) || d.Failed() {
		return nil, errFilesFile
	}
	return decodeStates(d)
}

// decodeStates reads what appendStates wrote, which must be all d holds.
func decodeStates(d *sidefile.Decoder) (map[string]usage.FileState, error) {
	// Every state takes at least 10 bytes.
	n := d.Count(10)
	if d.Failed() {
		return nil, errFilesFile
	}
	states := make(map[string]usage.FileState, n)
	for range n {
		f := usage.FileState{Path: d.String(d.Uvarint())}
		f.Device, f.Inode, f.Fingerprint = d.Uvarint(), d.Uvarint(), d.Uvarint()
		hasMtime, mtime := d.Varint(), d.Varint()
		f.Size, f.Offset, f.BadLines = d.Varint(), d.Varint(), d.Varint()
		if d.Failed() || f.Path == "" {
			return nil, errFilesFile
		}
		if hasMtime != 0 {
			f.ModTime = time.Unix(0, mtime).UTC()
		}
		states[f.Path] = f
	}
	if d.Len() != 0 {
		return nil, errFilesFile
	}
	return states, nil
}
