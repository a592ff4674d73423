package claude

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// tree writes the files rel (relative to root's projects folder).
func tree(t *testing.T, root string, rel ...string) []string {
	t.Helper()
	var out []string
	for _, r := range rel {
		p := filepath.Join(ProjectsDir(root), r)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("{}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func transcripts(t *testing.T, l *Layout) []string {
	t.Helper()
	got, err := l.Transcripts(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return sorted(got)
}

// settle waits until an entry added now changes a folder's times: they
// come from a coarse clock (a kernel tick).
func settle() { time.Sleep(30 * time.Millisecond) }

func TestListingCacheReusesUnchangedFolders(t *testing.T) {
	ShiftClock(t, time.Hour) // every listing is old enough to trust
	root := t.TempDir()
	cache := filepath.Join(t.TempDir(), "dirs")
	want := tree(t, root, "-a/s1.jsonl", "-a/s1/subagents/agent-1.jsonl", "-b/s2.jsonl")
	l := New([]string{root})
	l.SetListingCache(cache)
	if got := transcripts(t, l); !slices.Equal(got, sorted(want)) {
		t.Fatalf("first walk = %v, want %v", got, want)
	}
	// A listing that was reused shows: plant a name in the cached
	// listing of -b, whose stamp did not move, in a fresh layout (a new
	// process) reading the saved file.
	ls := loadListings(cache)
	b := filepath.Join(ProjectsDir(root), "-b")
	if ls == nil || ls[b] == nil {
		t.Fatalf("saved listings = %v, want one for %s", ls, b)
	}
	ls[b].files = append(ls[b].files, "planted.jsonl")
	if _, err := saveListings(cache, ls, listingBase{}); err != nil {
		t.Fatal(err)
	}
	l2 := New([]string{root})
	l2.SetListingCache(cache)
	planted := filepath.Join(b, "planted.jsonl")
	if got := transcripts(t, l2); !slices.Contains(got, planted) {
		t.Fatalf("walk over an unchanged tree = %v, want the cached listing of %s reused", got, b)
	}
	// Once -b changes, it is listed again and the planted name is gone.
	settle()
	want = append(want, tree(t, root, "-b/s3.jsonl")...)
	if got := transcripts(t, l2); !slices.Equal(got, sorted(want)) {
		t.Fatalf("walk after adding -b/s3 = %v, want %v", got, sorted(want))
	}
}

func TestListingCacheSeesChanges(t *testing.T) {
	ShiftClock(t, time.Hour)
	root := t.TempDir()
	cache := filepath.Join(t.TempDir(), "dirs")
	files := tree(t, root, "-a/s1.jsonl", "-a/s2.jsonl")
	walk := func() []string {
		l := New([]string{root}) // a new process each time
		l.SetListingCache(cache)
		return transcripts(t, l)
	}
	walk()
	steps := []struct {
		name   string
		change func()
	}{
		{"new file in a known folder", func() { files = append(files, tree(t, root, "-a/s3.jsonl")...) }},
		{"new folder", func() { files = append(files, tree(t, root, "-c/s4.jsonl")...) }},
		{"new subagents folder", func() { files = append(files, tree(t, root, "-a/s1/subagents/agent-x.jsonl")...) }},
		{"new file in a new folder of a known one", func() { files = append(files, tree(t, root, "-a/s1/subagents/workflows/w/agent-y.jsonl")...) }},
		{"rename", func() {
			from, to := files[1], filepath.Join(filepath.Dir(files[1]), "s2-renamed.jsonl")
			if err := os.Rename(from, to); err != nil {
				t.Fatal(err)
			}
			files[1] = to
		}},
		{"remove", func() {
			if err := os.Remove(files[0]); err != nil {
				t.Fatal(err)
			}
			files = files[1:]
		}},
		{"folder replaced", func() {
			c := filepath.Join(ProjectsDir(root), "-c")
			if err := os.Rename(c, c+".old"); err != nil {
				t.Fatal(err)
			}
			for i, p := range files {
				if filepath.Dir(p) == c {
					files[i] = filepath.Join(c+".old", filepath.Base(p))
				}
			}
			files = append(files, tree(t, root, "-c/s5.jsonl")...)
		}},
	}
	for _, s := range steps {
		settle()
		s.change()
		if got := walk(); !slices.Equal(got, sorted(files)) {
			t.Fatalf("after %s: walk = %v, want %v", s.name, got, sorted(files))
		}
	}
}

func TestListingCacheDistrustsRecentChanges(t *testing.T) {
	// A folder changed less than racyMargin before its listing is listed
	// again, even when its stamp is the same: an entry added within the
	// same tick of the file system's clock would not have moved it.
	root := t.TempDir()
	cache := filepath.Join(t.TempDir(), "dirs")
	want := tree(t, root, "-a/s1.jsonl")
	l := New([]string{root})
	l.SetListingCache(cache)
	transcripts(t, l)
	ls := loadListings(cache)
	a := filepath.Join(ProjectsDir(root), "-a")
	if ls[a] == nil {
		t.Fatalf("no listing saved for %s", a)
	}
	ls[a].files = append(ls[a].files, "planted.jsonl")
	if _, err := saveListings(cache, ls, listingBase{}); err != nil {
		t.Fatal(err)
	}
	l2 := New([]string{root})
	l2.SetListingCache(cache)
	if got := transcripts(t, l2); !slices.Equal(got, sorted(want)) {
		t.Fatalf("walk = %v, want %v: a listing of a folder changed just before it was reused", got, want)
	}
}

func TestListingCacheFile(t *testing.T) {
	ls := map[string]*dirListing{
		"/r/projects":    {stamp: dirStamp{1, 2, 3, 4}, listed: 5, dirs: []string{"-a", "-b"}},
		"/r/projects/-a": {stamp: dirStamp{1, 3, -3, 4}, listed: 6, files: []string{"s1.jsonl", "s2.jsonl"}},
		"/r/projects/-b": {stamp: dirStamp{1 << 63, 4, 3, 4}, listed: 7, dirs: []string{"s"}, files: []string{"x.jsonl"}},
	}
	b := encodeListings(ls)
	got, err := decodeListings(b)
	if err != nil || len(got) != len(ls) {
		t.Fatalf("decode(encode) = %v, %v", got, err)
	}
	for k, v := range ls {
		g := got[k]
		if g == nil || g.stamp != v.stamp || g.listed != v.listed || !slices.Equal(g.dirs, v.dirs) || !slices.Equal(g.files, v.files) {
			t.Errorf("decoded %s = %+v, want %+v", k, g, v)
		}
	}
	for i := range b {
		if _, err := decodeListings(b[:i]); err == nil {
			t.Fatalf("a cache cut at %d of %d bytes decoded", i, len(b))
		}
		c := append([]byte(nil), b...)
		c[i] ^= 0x41
		if _, err := decodeListings(c); err == nil {
			t.Fatalf("a cache with byte %d changed decoded", i)
		}
	}
	// A name that is not one path element is refused, CRC or not.
	ls["/r/projects/-a"].files = []string{"../../etc/x.jsonl"}
	if _, err := decodeListings(encodeListings(ls)); err == nil {
		t.Error("a listing naming ../../etc/x.jsonl decoded")
	}
	// A damaged file costs a full walk, not a missed transcript.
	root := t.TempDir()
	want := tree(t, root, "-a/s1.jsonl")
	cache := filepath.Join(t.TempDir(), "dirs")
	if err := os.WriteFile(cache, []byte("ctm-dirs-1\ngarbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := New([]string{root})
	l.SetListingCache(cache)
	if got := transcripts(t, l); !slices.Equal(got, want) {
		t.Errorf("walk with a damaged cache = %v, want %v", got, want)
	}
}

func TestListingDeltaFile(t *testing.T) {
	changed := map[string]*dirListing{
		"/r/projects":    {stamp: dirStamp{1, 2, 3, 4}, listed: 5, dirs: []string{"-a", "-c"}},
		"/r/projects/-c": {stamp: dirStamp{1, 9, 3, 4}, listed: 6, files: []string{"s.jsonl"}},
	}
	gone := []string{"/r/projects/-b"}
	b := encodeListingDelta(changed, gone, 0xfeed)
	got, gotGone, err := decodeListingDelta(b, 0xfeed)
	if err != nil || len(got) != 2 || !slices.Equal(gotGone, gone) {
		t.Fatalf("decode(encode) = %v, %v, %v", got, gotGone, err)
	}
	if c := got["/r/projects/-c"]; c == nil || c.stamp != changed["/r/projects/-c"].stamp || !slices.Equal(c.files, []string{"s.jsonl"}) {
		t.Errorf("decoded -c = %+v", c)
	}
	if _, _, err := decodeListingDelta(b, 0xbeef); err == nil {
		t.Error("a delta decoded for another base")
	}
	if _, _, err := decodeListingDelta(encodeListings(changed), 0xfeed); err == nil {
		t.Error("a cache file decoded as a delta")
	}
	for i := range b {
		if _, _, err := decodeListingDelta(b[:i], 0xfeed); err == nil {
			t.Fatalf("a delta cut at %d of %d bytes decoded", i, len(b))
		}
		c := append([]byte(nil), b...)
		c[i] ^= 0x41
		if _, _, err := decodeListingDelta(c, 0xfeed); err == nil {
			t.Fatalf("a delta with byte %d changed decoded", i)
		}
	}
}

func TestListingCacheSavesDelta(t *testing.T) {
	ShiftClock(t, time.Hour) // every listing is old enough to trust
	root := t.TempDir()
	cache := filepath.Join(t.TempDir(), "dirs")
	var rel []string
	for i := range 30 {
		rel = append(rel, fmt.Sprintf("-p%02d/s.jsonl", i))
	}
	want := tree(t, root, rel...)
	l := New([]string{root})
	l.SetListingCache(cache)
	transcripts(t, l)
	base, err := os.ReadFile(cache)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(deltaPath(cache)); !os.IsNotExist(err) {
		t.Fatalf("a delta after the first walk: %v", err)
	}
	// A new project: two folders of 32 changed, saved as a delta; the
	// base stays as it was.
	settle()
	want = append(want, tree(t, root, "-new/s.jsonl")...)
	l = New([]string{root})
	l.SetListingCache(cache)
	if got := transcripts(t, l); !slices.Equal(got, sorted(want)) {
		t.Fatalf("walk after a new project = %v, want %v", got, want)
	}
	if again, _ := os.ReadFile(cache); !slices.Equal(again, base) {
		t.Error("the base was written again for two changed folders")
	}
	// The next process reads the two together, and the listing from the
	// delta is the one it trusts: plant a name in it.
	ls, b := loadListingFiles(cache)
	dir := filepath.Join(ProjectsDir(root), "-new")
	if ls == nil || ls[dir] == nil || len(ls) != 32 {
		t.Fatalf("listings from base and delta = %d, with %s: %v; want 32", len(ls), dir, ls[dir] != nil)
	}
	planted := *ls[dir]
	planted.files = append(slices.Clone(planted.files), "planted.jsonl")
	changed := map[string]*dirListing{dir: &planted}
	if err := os.WriteFile(deltaPath(cache), encodeListingDelta(changed, nil, b.crc), 0o600); err != nil {
		t.Fatal(err)
	}
	l = New([]string{root})
	l.SetListingCache(cache)
	if got := transcripts(t, l); !slices.Contains(got, filepath.Join(dir, "planted.jsonl")) {
		t.Fatalf("walk = %v, want the planted name of the delta", got)
	}
	// A delta of another base (left by a kill between writing a new base
	// and removing the delta) is not applied.
	if err := os.WriteFile(deltaPath(cache), encodeListingDelta(changed, nil, b.crc+1), 0o600); err != nil {
		t.Fatal(err)
	}
	l = New([]string{root})
	l.SetListingCache(cache)
	if got := transcripts(t, l); slices.Contains(got, filepath.Join(dir, "planted.jsonl")) || !slices.Equal(got, sorted(want)) {
		t.Fatalf("walk with a delta of another base = %v, want %v", got, want)
	}
	// Many changes write the base again and remove the delta.
	settle()
	for i := range 10 {
		want = append(want, tree(t, root, fmt.Sprintf("-q%02d/s.jsonl", i))...)
	}
	l = New([]string{root})
	l.SetListingCache(cache)
	if got := transcripts(t, l); !slices.Equal(got, sorted(want)) {
		t.Fatalf("walk after ten new projects = %v, want %v", got, want)
	}
	if again, _ := os.ReadFile(cache); slices.Equal(again, base) {
		t.Error("the base was not written again for twelve changed folders")
	}
	if _, err := os.Stat(deltaPath(cache)); !os.IsNotExist(err) {
		t.Errorf("the delta was not removed with the new base: %v", err)
	}
}
