package claude

import (
	"context"
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
	if err := saveListings(cache, ls); err != nil {
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
	if err := saveListings(cache, ls); err != nil {
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
