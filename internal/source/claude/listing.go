package claude

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/sidefile"
)

// Listing every folder of a projects tree (1,000 at 512 MB) was a third
// of a report on an unchanged tree: an open, two getdents and a close
// each. A folder whose entries did not change since the last walk has the
// same device, inode, modification and change times, so with a listing
// cache (Layout.SetListingCache) a walk stats each known folder and reads
// only those whose stamp moved. Appending to a transcript does not touch
// its folder; the ingester stats every transcript anyway.
//
// A stamp is trusted only when its times are at least racyMargin older
// than the listing it was taken with: file systems keep coarse times (a
// kernel tick, or a second or two on some), so an entry added just after
// a listing could leave the folder's times as they were. A folder changed
// that recently is listed again on every walk until it settles. The change
// time cannot be set from user space, so a touch -d on a folder does not
// hide a change either.

// racyMargin is how much older than its listing a folder's times must be
// for the listing to be reused.
const racyMargin = 3 * time.Second

// now is the clock that dates listings; tests move it.
var now = time.Now

// listingMagic starts the cache file; the digit is the format version.
const listingMagic = "ctm-dirs-1\n"

// A walk that changed a few folders (a new session, a new project) does
// not write every listing again (500 KB at 2 GB): it writes the listings
// that differ from those of the cache file (the base), and the folders
// gone since, to a second file (the cache's path plus "-delta") that
// names the base by its CRC. Once the changes reach an eighth of the
// folders the base is written again and the delta removed. A delta of
// another base is ignored; any listing, from either file, is used only
// while its folder's stamp is the one it was taken with.

// listingDeltaMagic starts the delta file; the digit is its format
// version.
const listingDeltaMagic = "ctm-dirs-delta-1\n"

// listingBase is the cache file as a walk loaded or last wrote it: its
// listings and the CRC that ends it.
type listingBase struct {
	listings map[string]*dirListing
	crc      uint32
}

// dirStamp is what a folder's stat says about its entries.
type dirStamp struct {
	dev, ino     uint64
	mtime, ctime int64 // unix ns
}

// dirListing is one folder as a walk found it.
type dirListing struct {
	stamp dirStamp
	// listed is when the listing was taken (unix ns), before the stat
	// that gave stamp.
	listed int64
	// dirs and files are the names of its subfolders and of its
	// transcripts (regular files and symlinks named *.jsonl), sorted.
	dirs, files []string
}

// trusted reports whether l still describes a folder whose stamp is now s.
func (l *dirListing) trusted(s dirStamp) bool {
	return l.stamp == s && max(s.mtime, s.ctime) <= l.listed-int64(racyMargin)
}

// SetListingCache makes Transcripts keep the folder listings it took in
// the file at path and reuse those of folders that did not change (see
// racyMargin). The file is a cache: a missing or damaged one costs a full
// walk, never a missed transcript. "" turns the cache off.
func (l *Layout) SetListingCache(path string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cachePath, l.listings, l.base = path, nil, listingBase{}
}

// walker walks the projects folders of one Transcripts call.
type walker struct {
	ctx    context.Context
	logger *slog.Logger
	// old are the listings of the previous walk (nil without a cache),
	// next those of this one; changed is whether next differs from old
	// in more than the folders it dropped.
	old, next map[string]*dirListing
	changed   bool
	// seen holds the paths listed so far when one root's projects folder
	// lies within another's (Layout.nested); otherwise it is nil, as no
	// path can come twice, and a map of every path was a fifth of a walk.
	seen  map[string]bool
	paths []string
}

// walk adds the transcripts under dir to w.paths. The root of a tree is
// followed when it is a symlink (stat); folders below are not (their
// entries' types come from the listing).
func (w *walker) walk(dir string, root bool) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	listed := now().UnixNano()
	var (
		fi  os.FileInfo
		err error
	)
	if root {
		fi, err = os.Stat(dir)
	} else {
		fi, err = os.Lstat(dir)
	}
	if err != nil || !fi.IsDir() {
		// Gone since its parent was listed, or not a folder any more:
		// its parent's stamp moved too, and nothing is cached for it.
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			w.logger.Warn("skipping unreadable path", slog.String("path", dir), slog.Any("error", err))
		}
		return nil
	}
	stamp, stamped := stampOf(fi)
	l := w.old[dir]
	if l == nil || !stamped || !l.trusted(stamp) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			// Keep walking the rest of the tree; one unreadable folder
			// must not hide the others.
			w.logger.Warn("skipping unreadable path", slog.String("path", dir), slog.Any("error", err))
			return nil
		}
		l = &dirListing{stamp: stamp, listed: listed}
		for _, e := range entries { // sorted by name
			switch name := e.Name(); {
			case e.IsDir():
				l.dirs = append(l.dirs, name)
			case strings.HasSuffix(name, transcriptExt) && (e.Type().IsRegular() || e.Type()&os.ModeSymlink != 0):
				l.files = append(l.files, name)
			}
		}
		w.changed = true
	}
	if stamped && w.next != nil {
		w.next[dir] = l
	}
	// dir is clean and each name one element: a separator joins them,
	// without filepath.Join's Clean (a tenth of a walk). The paths of a
	// folder are cut from one string, one allocation instead of one each.
	size := 0
	for _, name := range l.files {
		size += len(dir) + 1 + len(name)
	}
	buf := make([]byte, 0, size)
	for _, name := range l.files {
		buf = append(append(append(buf, dir...), filepath.Separator), name...)
	}
	all, at := string(buf), 0
	for _, name := range l.files {
		n := len(dir) + 1 + len(name)
		path := all[at : at+n]
		at += n
		if w.seen != nil {
			if w.seen[path] {
				continue
			}
			w.seen[path] = true
		}
		w.paths = append(w.paths, path)
	}
	for _, name := range l.dirs {
		if err := w.walk(dir+string(filepath.Separator)+name, false); err != nil {
			return err
		}
	}
	return nil
}

// loadListings returns the listings saved at path, or nil.
func loadListings(path string) map[string]*dirListing {
	ls, _ := loadListingFiles(path)
	return ls
}

// loadListingFiles returns the listings saved at path with the changes
// saved beside it applied, and the base they were applied to; nil and a
// zero base when there is no intact file at path.
func loadListingFiles(path string) (map[string]*dirListing, listingBase) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, listingBase{}
	}
	ls, err := decodeListings(data)
	if err != nil {
		return nil, listingBase{}
	}
	base := listingBase{listings: ls, crc: binary.BigEndian.Uint32(data[len(data)-4:])}
	delta, err := os.ReadFile(deltaPath(path))
	if err != nil {
		return ls, base
	}
	changed, gone, err := decodeListingDelta(delta, base.crc)
	if err != nil {
		return ls, base
	}
	out := maps.Clone(ls)
	for _, d := range gone {
		delete(out, d)
	}
	maps.Copy(out, changed)
	return out, base
}

// deltaPath is the delta file of the cache at path.
func deltaPath(path string) string { return path + "-delta" }

// saveListings writes ls to path, or, when ls differs from base in at
// most an eighth of its folders, the difference to the delta file; both
// by a rename (sidefile.Write). It returns the base the files now hold.
func saveListings(path string, ls map[string]*dirListing, base listingBase) (listingBase, error) {
	if base.listings != nil {
		changed := map[string]*dirListing{}
		for d, l := range ls {
			// A listing carried over from the base is the same pointer.
			if base.listings[d] != l {
				changed[d] = l
			}
		}
		var gone []string
		for d := range base.listings {
			if ls[d] == nil {
				gone = append(gone, d)
			}
		}
		if len(changed)+len(gone) <= len(ls)/8 {
			return base, sidefile.Write(deltaPath(path), encodeListingDelta(changed, gone, base.crc))
		}
	}
	data := encodeListings(ls)
	if err := sidefile.Write(path, data); err != nil {
		return listingBase{}, err
	}
	// A delta left beside the new base names another one and would be
	// ignored; removing it spares the next walk reading it.
	if err := os.Remove(deltaPath(path)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return listingBase{}, err
	}
	return listingBase{listings: ls, crc: binary.BigEndian.Uint32(data[len(data)-4:])}, nil
}

// encodeListings returns ls as a file: the folders in path order, each
// path as the length it shares with the previous one and the rest, then
// its stamp and entries, and a CRC of it all.
func encodeListings(ls map[string]*dirListing) []byte {
	b := make([]byte, 0, 64+len(ls)*128)
	b = append(b, listingMagic...)
	return sidefile.Seal(appendListings(b, ls))
}

// encodeListingDelta returns a delta file: the CRC of the base it applies
// to, the listings changed as encodeListings writes them, the folders
// gone, and a CRC of it all.
func encodeListingDelta(changed map[string]*dirListing, gone []string, baseCRC uint32) []byte {
	b := make([]byte, 0, 64+len(changed)*128)
	b = append(b, listingDeltaMagic...)
	b = binary.AppendUvarint(b, uint64(baseCRC))
	b = appendListings(b, changed)
	b = binary.AppendUvarint(b, uint64(len(gone)))
	for _, d := range gone {
		b = binary.AppendUvarint(b, uint64(len(d)))
		b = append(b, d...)
	}
	return sidefile.Seal(b)
}

// appendListings appends the listings of ls to b, in path order.
func appendListings(b []byte, ls map[string]*dirListing) []byte {
	dirs := slices.Sorted(maps.Keys(ls))
	b = binary.AppendUvarint(b, uint64(len(dirs)))
	appendString := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	prev := ""
	for _, d := range dirs {
		n := 0
		for n < len(prev) && n < len(d) && prev[n] == d[n] {
			n++
		}
		b = binary.AppendUvarint(b, uint64(n))
		appendString(d[n:])
		prev = d
		l := ls[d]
		b = binary.AppendUvarint(b, l.stamp.dev)
		b = binary.AppendUvarint(b, l.stamp.ino)
		b = binary.AppendVarint(b, l.stamp.mtime)
		b = binary.AppendVarint(b, l.stamp.ctime)
		b = binary.AppendVarint(b, l.listed)
		for _, names := range [2][]string{l.dirs, l.files} {
			b = binary.AppendUvarint(b, uint64(len(names)))
			for _, name := range names {
				appendString(name)
			}
		}
	}
	return b
}

var errListings = errors.New("listing cache does not decode")

// decodeListings is the inverse of encodeListings.
func decodeListings(b []byte) (map[string]*dirListing, error) {
	body, ok := sidefile.Open(b, listingMagic)
	if !ok {
		return nil, errListings
	}
	// Names are substrings of one copy of the data: one allocation
	// instead of one per name.
	d := sidefile.NewSharingDecoder(body)
	ls, err := readListings(d)
	if err != nil || d.Len() != 0 {
		return nil, errListings
	}
	return ls, nil
}

// decodeListingDelta is the inverse of encodeListingDelta; it fails
// unless the data is intact and applies to the base of CRC baseCRC.
func decodeListingDelta(b []byte, baseCRC uint32) (changed map[string]*dirListing, gone []string, err error) {
	body, ok := sidefile.Open(b, listingDeltaMagic)
	if !ok {
		return nil, nil, errListings
	}
	d := sidefile.NewSharingDecoder(body)
	if d.Uvarint() != uint64(baseCRC) || d.Failed() {
		return nil, nil, errListings
	}
	if changed, err = readListings(d); err != nil {
		return nil, nil, err
	}
	n := d.Count(1)
	for range n {
		gone = append(gone, d.String(d.Uvarint()))
	}
	if d.Failed() || d.Len() != 0 {
		return nil, nil, errListings
	}
	return changed, gone, nil
}

// readListings reads what appendListings wrote.
func readListings(d *sidefile.Decoder) (map[string]*dirListing, error) {
	str := func() string { return d.String(d.Uvarint()) }
	names := func() []string {
		n := d.Count(1)
		var out []string
		if n > 0 {
			out = make([]string, 0, n)
		}
		for range n {
			s := str()
			// A name is one path element: a damaged cache must not lead
			// the walk out of the tree.
			if s == "" || s == "." || s == ".." || strings.ContainsRune(s, '/') || strings.ContainsRune(s, filepath.Separator) {
				d.Fail()
			}
			out = append(out, s)
		}
		return out
	}
	n := d.Count(1)
	if d.Failed() {
		return nil, errListings
	}
	ls := make(map[string]*dirListing, n)
	prev := ""
	for range n {
		shared := d.Uvarint()
		if d.Failed() || shared > uint64(len(prev)) {
			return nil, errListings
		}
		dir := prev[:shared] + str()
		l := &dirListing{}
		l.stamp.dev, l.stamp.ino = d.Uvarint(), d.Uvarint()
		l.stamp.mtime, l.stamp.ctime, l.listed = d.Varint(), d.Varint(), d.Varint()
		l.dirs, l.files = names(), names()
		if d.Failed() || cmp.Compare(dir, prev) <= 0 && len(ls) > 0 {
			return nil, errListings
		}
		ls[dir] = l
		prev = dir
	}
	return ls, nil
}
