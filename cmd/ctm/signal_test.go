package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// fifoClaudeDir returns a Claude dir with one real transcript line and a
// transcript symlinked to a FIFO that nobody writes: opening that FIFO
// for reading blocks until a writer comes, which is never.
func fifoClaudeDir(t *testing.T) string {
	t.Helper()
	claude := t.TempDir()
	project := filepath.Join(claude, "projects", "-work-app")
	if err := os.MkdirAll(project, 0o755); err != nil {
		t.Fatal(err)
	}
	line := `{"type":"assistant","uuid":"u1","sessionId":"s1","cwd":"/work/app","timestamp":"2026-02-01T10:00:00Z",` +
		`"requestId":"req_1","message":{"id":"msg_1","model":"claude-opus-4-6","usage":{"input_tokens":3,"output_tokens":7}}}` + "\n"
	if err := os.WriteFile(filepath.Join(project, "s1.jsonl"), []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(claude, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	if err := os.Symlink(fifo, filepath.Join(project, "x.jsonl")); err != nil {
		t.Fatal(err)
	}
	return claude
}

// waitExit waits for cmd to end, failing the test (and killing it) when it
// is still running after a generous deadline: the point is that it ends.
func waitExit(t *testing.T, cmd *exec.Cmd, what string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%s: still running after 20s", what)
		return nil
	}
}

func TestReportSkipsTranscriptSymlinkedToFIFO(t *testing.T) {
	claude := fifoClaudeDir(t)
	home := t.TempDir()
	cmd := ctmProcess(t, []string{"HOME=" + home, "CLAUDE_DIR=" + claude, "DATABASE_PATH=" + filepath.Join(home, "m.db"), "TZ=UTC"},
		"daily", "--json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(t, cmd, "ctm daily over a FIFO symlink"); err != nil {
		t.Fatalf("ctm daily: %v\n%s", err, stderr.Bytes())
	}
	var got struct {
		Totals struct {
			Output  int64 `json:"output_tokens"`
			Entries int64 `json:"entries"`
		} `json:"totals"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("ctm daily --json: %v\n%s", err, stdout.Bytes())
	}
	if got.Totals.Entries != 1 || got.Totals.Output != 7 {
		t.Errorf("totals = %+v, want the one real record (output 7)", got.Totals)
	}
}

func TestServeIndexesAndStopsDespiteFIFO(t *testing.T) {
	claude := fifoClaudeDir(t)
	home := t.TempDir()
	// startServe's cleanup requires a clean exit on SIGTERM.
	base := startServe(t, []string{"HOME=" + home, "CLAUDE_DIR=" + claude, "DATABASE_PATH=" + filepath.Join(home, "m.db"), "TZ=UTC"})
	var stats struct {
		Summary row `json:"summary"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for getData(t, base+"/api/v1/stats", &stats); stats.Summary.Entries != 1 && time.Now().Before(deadline); getData(t, base+"/api/v1/stats", &stats) {
		time.Sleep(50 * time.Millisecond)
	}
	if stats.Summary.Entries != 1 {
		t.Errorf("indexed entries = %d, want 1", stats.Summary.Entries)
	}
}

func TestSignalStopsABlockedCommand(t *testing.T) {
	// statusline blocks reading stdin, which here never ends: the signal
	// must stop it anyway. Each signal gets a process of its own.
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			home := t.TempDir()
			cmd := ctmProcess(t, []string{"HOME=" + home, "CLAUDE_DIR=" + t.TempDir(), "DATABASE_PATH=" + filepath.Join(home, "m.db")},
				"statusline")
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			defer stdin.Close()
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Blocked in a read of stdin, a system call that no context
			// interrupts.
			waitReadingStdin(t, cmd.Process.Pid)
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err = waitExit(t, cmd, "ctm statusline after "+sig.String())
			if err == nil {
				t.Errorf("exit status 0 after %v with no input, want a failure", sig)
			}
		})
	}
}

// waitReadingStdin waits until a thread of process pid is in read(0, ...)
// (Linux: /proc/<pid>/task/*/syscall starts with the syscall number 0 and
// fd 0), or skips the test where that cannot be seen.
func waitReadingStdin(t *testing.T, pid int) {
	t.Helper()
	tasks := filepath.Join("/proc", strconv.Itoa(pid), "task")
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("needs /proc/<pid>/task/*/syscall with amd64 syscall numbers")
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		dirs, _ := os.ReadDir(tasks)
		for _, d := range dirs {
			b, err := os.ReadFile(filepath.Join(tasks, d.Name(), "syscall"))
			if err == nil && bytes.HasPrefix(b, []byte("0 0x0 ")) {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d never read its stdin", pid)
}
