//go:build unix

package ingest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestStatRangeAsOSStat(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "a.jsonl")
	if err := os.WriteFile(file, []byte("{}\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	paths := []string{
		file,
		filepath.Join(dir, "missing.jsonl"),
		filepath.Join(sub, "b.jsonl"), // missing, in another folder
		filepath.Join(dir, "nofolder", "c.jsonl"),
		sub,
	}
	link := filepath.Join(sub, "link.jsonl")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(sub, "fifo.jsonl")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(sub, "dangling.jsonl")
	if err := os.Symlink(filepath.Join(dir, "gone"), dangling); err != nil {
		t.Fatal(err)
	}
	paths = append(paths, link, fifo, dangling, file)
	got := make([]statted, len(paths))
	statRange(paths, got)
	for i, p := range paths {
		want, werr := os.Stat(p)
		fi, err := got[i].fi, got[i].err
		if (err == nil) != (werr == nil) || errors.Is(err, fs.ErrNotExist) != errors.Is(werr, fs.ErrNotExist) {
			t.Errorf("stat %s: error %v, want %v", p, err, werr)
			continue
		}
		if err != nil {
			var pe *fs.PathError
			if !errors.As(err, &pe) || pe.Path != p {
				t.Errorf("stat %s: error %v does not name the path", p, err)
			}
			continue
		}
		gd, gi := fileID(fi)
		wd, wi := fileID(want)
		if fi.Name() != want.Name() || fi.Size() != want.Size() || fi.Mode() != want.Mode() ||
			!fi.ModTime().Equal(want.ModTime()) || fi.IsDir() != want.IsDir() || gd != wd || gi != wi {
			t.Errorf("stat %s = %s %d %v %v %d:%d, want %s %d %v %v %d:%d", p,
				fi.Name(), fi.Size(), fi.Mode(), fi.ModTime(), gd, gi,
				want.Name(), want.Size(), want.Mode(), want.ModTime(), wd, wi)
		}
	}
}
