package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// run is one measured child process.
type run struct {
	Wall   time.Duration `json:"wall_ns"`
	MaxRSS int64         `json:"max_rss_bytes"`
	stdout []byte
}

// maxStderr bounds the stderr kept for error messages.
const maxStderr = 4 << 10

// measure runs argv in dir with exactly env (nothing is inherited) and
// returns its wall time, the peak RSS of its process tree and its stdout.
//
// Peak RSS comes from the rusage that wait4 returns for the child. On Linux
// its ru_maxrss is the largest of the child's own peak and the peaks of
// every descendant it waited for (RUSAGE_CHILDREN semantics: a maximum, not
// a sum). For ccusage, run through its shell wrapper, that is the peak of
// the largest process in the tree (the native binary node spawns), which is
// what the comparison needs; for ctm it is the single Go process.
func measure(ctx context.Context, argv, env []string, dir string) (run, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = dir
	var stdout bytes.Buffer
	stderr := &tailBuffer{max: maxStderr}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return run{}, fmt.Errorf("%s exited with %d: %s", argv[0], exit.ExitCode(), bytes.TrimSpace(stderr.buf))
		}
		return run{}, fmt.Errorf("run %s: %w", argv[0], err)
	}
	return run{Wall: wall, MaxRSS: maxRSS(cmd.ProcessState), stdout: stdout.Bytes()}, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

// childEnv is the whole environment of a measured child: a throwaway HOME
// (so neither tool can read the real ~/.claude or any config), the data
// set, a database path and UTC, so both tools cut days the same way.
func childEnv(home, data, db, ccusageHome string) []string {
	env := []string{
		"HOME=" + home,
		"CLAUDE_DIR=" + data,
		"DATABASE_PATH=" + db,
		"TZ=UTC",
		"PATH=" + os.Getenv("PATH"),
	}
	if ccusageHome != "" {
		// ccusage.sh installs ccusage under $HOME unless told otherwise;
		// pointing it at the existing install keeps npm out of the timings.
		env = append(env, "CCUSAGE_HOME="+ccusageHome)
	}
	if tmp := os.Getenv("TMPDIR"); tmp != "" {
		env = append(env, "TMPDIR="+tmp)
	}
	return env
}

// installEnv is env with the rest of this process's environment added
// under it, for ccusage's unmeasured warm-up run, which installs ccusage
// with npm on a new machine: npm needs the machine's proxy and
// certificate settings, and with the bare environment of childEnv it
// failed on a machine whose registry is reached through a TLS proxy (a
// self-signed certificate in the chain, without NODE_EXTRA_CA_CERTS),
// which took the whole data set's ccusage figures with it. What env sets
// wins, and no CLAUDE_ variable is passed on, so the run still reads only
// the data set. The measured runs keep the bare environment.
func installEnv(env []string) []string {
	set := make(map[string]bool, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		set[k] = true
	}
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !set[k] && !strings.HasPrefix(k, "CLAUDE") {
			out = append(out, kv)
		}
	}
	return append(out, env...)
}

// warmUpAttempts is how many times ccusage's unmeasured warm-up runs
// before ccusage counts as failed.
const warmUpAttempts = 2

// warmCache reads every file under dir once, so that the run that follows
// finds the data set in the page cache, and measures the tool rather than
// the disk: on the virtual machines this is measured on, the page cache
// was seen to drop a 512 MB data set within minutes while gigabytes of
// memory stayed free, and a first index that read half its data from disk
// took up to twice as long. Warming before each first-index run, of ctm
// and of ccusage alike, leaves both measuring their own work. It returns
// the bytes read and the time taken.
func warmCache(ctx context.Context, dir string) (int64, time.Duration, error) {
	start := time.Now()
	buf := make([]byte, 1<<20)
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		for {
			n, err := f.Read(buf)
			total += int64(n)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	})
	if err != nil {
		return total, time.Since(start), fmt.Errorf("warm %s: %w", dir, err)
	}
	return total, time.Since(start), nil
}
