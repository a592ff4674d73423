package ingest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestSpecialFilesNeverHang puts one special file at a transcript path
// beside a real transcript and requires every ingest path (Run and
// IngestFiles) to finish, skip it and keep the real record. The deadline
// is not a timing assertion: an ingest blocked on a FIFO never returns,
// and the deadline turns that into a failure instead of a hung test.
func TestSpecialFilesNeverHang(t *testing.T) {
	real := usageLine("a", `{"input_tokens":3,"output_tokens":7}`)
	for _, tc := range []struct {
		name string
		make func(t *testing.T, dir, path string) // creates path
	}{
		{"fifo", func(t *testing.T, dir, path string) { mkfifo(t, path) }},
		{"symlink to fifo", func(t *testing.T, dir, path string) {
			mkfifo(t, filepath.Join(dir, "fifo"))
			symlink(t, filepath.Join(dir, "fifo"), path)
		}},
		{"socket", func(t *testing.T, dir, path string) {
			// Unix socket paths are short; bind in a short dir and link.
			sock := filepath.Join(shortTempDir(t), "s")
			l, err := net.Listen("unix", sock)
			if err != nil {
				t.Skip("unix socket:", err)
			}
			t.Cleanup(func() { l.Close() })
			symlink(t, sock, path)
		}},
		{"symlink to /dev/null", func(t *testing.T, dir, path string) { symlink(t, "/dev/null", path) }},
		{"symlink to /dev/zero", func(t *testing.T, dir, path string) { symlink(t, "/dev/zero", path) }},
		{"dangling symlink", func(t *testing.T, dir, path string) { symlink(t, filepath.Join(dir, "missing"), path) }},
		{"looping symlink", func(t *testing.T, dir, path string) {
			symlink(t, path+".b", path)
			symlink(t, path, path+".b")
		}},
		{"symlink to a directory", func(t *testing.T, dir, path string) { symlink(t, dir, path) }},
		{"unreadable file", func(t *testing.T, dir, path string) {
			if os.Geteuid() == 0 {
				t.Skip("running as root: chmod 000 does not stop reads")
			}
			if err := os.WriteFile(path, []byte(usageLine("b", `{"output_tokens":5}`)+"\n"), 0o000); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newClaudeDir(t)
			d.write("s1.jsonl", lines(real))
			special := filepath.Join(d.project, "x.jsonl")
			tc.make(t, t.TempDir(), special)
			sink := newRefSink()
			in := New(sink, []string{d.root}, nil, Options{})
			done := make(chan error, 1)
			go func() {
				ctx := context.Background()
				if _, err := in.Run(ctx); err != nil {
					done <- err
					return
				}
				_, err := in.IngestFiles(ctx, []string{special})
				done <- err
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("ingest: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("ingest still running after 20s: blocked on the special file")
			}
			tot, n := sink.totals()
			if n != 1 || tot.Output != 7 {
				t.Errorf("stored %d records, %+v; want the real one (output 7)", n, tot)
			}
			if _, ok := sink.files[special]; ok {
				t.Errorf("a file state was stored for the special file")
			}
		})
	}
}

func TestReadStatsCacheRefusesFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stats-cache.json")
	mkfifo(t, path)
	done := make(chan error, 1)
	go func() { _, err := ReadStatsCache(path); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("ReadStatsCache of a FIFO succeeded")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("ReadStatsCache of a FIFO blocked")
	}
}

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
}

func symlink(t *testing.T, target, path string) {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Skip("symlink:", err)
	}
}

// shortTempDir is a temporary directory with a path short enough for a
// unix socket (about 100 bytes at most).
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "s")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
