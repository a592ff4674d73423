package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/claude-token-monitor/ctm/internal/gen"
)

// appendMB adds 1 MB of new transcripts (new sessions, generated with a
// seed of their own) under extra/projects, as Claude Code appending to a
// tree would: new lines that the next report must index.
func appendMB(ctx context.Context, extra, work string, i int) error {
	tmp := filepath.Join(work, fmt.Sprintf("append-%02d", i))
	if _, err := gen.Generate(ctx, gen.Config{Dir: tmp, Size: 1 << 20, Seed: uint64(1000 + i)}); err != nil {
		return fmt.Errorf("generate the 1 MB append: %w", err)
	}
	projects, err := os.ReadDir(filepath.Join(tmp, "projects"))
	if err != nil {
		return err
	}
	for _, p := range projects {
		if err := os.Rename(filepath.Join(tmp, "projects", p.Name()),
			filepath.Join(extra, "projects", fmt.Sprintf("%s-a%02d", p.Name(), i))); err != nil {
			return err
		}
	}
	return os.RemoveAll(tmp)
}

// statuslineRuns starts ctm serve on the indexed database, waits until it
// listens, then measures `ctm statusline` as Claude Code runs it (the
// session JSON on stdin) into s, and stops the server.
func statuslineRuns(ctx context.Context, c config, env []string, dir string, s *sample) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	env = append(env, "BACKEND_PORT="+strconv.Itoa(port))
	srv := exec.CommandContext(ctx, c.ctm, "serve")
	srv.Env, srv.Dir = env, dir
	if err := srv.Start(); err != nil {
		return fmt.Errorf("start ctm serve: %w", err)
	}
	exited := make(chan struct{})
	go func() { srv.Wait(); close(exited) }()
	defer func() {
		srv.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			srv.Process.Kill()
			<-exited
		}
	}()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(2 * time.Minute)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case <-exited:
			return fmt.Errorf("ctm serve exited before it listened on %s", addr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ctm serve did not listen on %s within 2 minutes", addr)
		}
	}
	path, session, err := someTranscript(c.data)
	if err != nil {
		return err
	}
	in, _ := json.Marshal(map[string]any{
		"session_id": session, "transcript_path": path, "cwd": dir,
		"model": map[string]string{"id": "claude-opus-4-6", "display_name": "Opus"},
	})
	for i := 0; i < c.repeats; i++ {
		got, err := measureStdin(ctx, []string{c.ctm, "statusline"}, env, dir, in)
		if err != nil {
			return err
		}
		s.add(got)
	}
	return nil
}

// someTranscript returns the first session transcript of the data set
// and its session id.
func someTranscript(data string) (path, session string, err error) {
	errFound := errors.New("found")
	err = filepath.WalkDir(filepath.Join(data, "projects"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".jsonl") && !strings.Contains(p, "subagents") {
			path, session = p, strings.TrimSuffix(d.Name(), ".jsonl")
			return errFound
		}
		return nil
	})
	if errors.Is(err, errFound) {
		return path, session, nil
	}
	if err == nil {
		err = fmt.Errorf("no transcript under %s", data)
	}
	return "", "", err
}

// measureStdin is measure with stdin.
func measureStdin(ctx context.Context, argv, env []string, dir string, stdin []byte) (run, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = env, dir
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout bytes.Buffer
	stderr := &tailBuffer{max: maxStderr}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return run{}, fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, bytes.TrimSpace(stderr.buf))
	}
	return run{Wall: wall, MaxRSS: maxRSS(cmd.ProcessState), stdout: stdout.Bytes()}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
