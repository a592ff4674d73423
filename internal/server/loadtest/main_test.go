package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	const corpus = "../../../../shared/testdata/claude-real"
	if _, err := os.Stat(corpus); err != nil {
		abs, _ := filepath.Abs(corpus)
		t.Skipf("real corpus not found at %s (the shared testdata folder beside the repository): %v", abs, err)
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{
		"-corpus", corpus,
		"-rate", "100", "-duration", "300ms",
		"-paths", "/api/v1/stats, /api/v1/stats/daily",
	}, &out, &errOut)
	if code != 0 {
		t.Fatalf("run = %d, want 0\nstdout:\n%s\nstderr:\n%s", code, &out, &errOut)
	}
	for _, want := range []string{"/api/v1/stats ", "/api/v1/stats/daily ", "all ", "30 sent, 0 dropped", "target p99 < 10ms"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, &out)
		}
	}
	if !strings.Contains(errOut.String(), "ingested 1119 records") {
		t.Errorf("stderr = %q", &errOut)
	}
}

func TestRunErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"-rate", "0"}, 2},
		{[]string{"-paths", " , "}, 2},
		{[]string{"-nope"}, 2},
		{[]string{"-corpus", "/nonexistent/dir", "-duration", "10ms"}, 1},
		// Nothing listens on port 1: every request fails.
		{[]string{"-url", "http://127.0.0.1:1", "-rate", "100", "-duration", "50ms"}, 1},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), tc.args, &out, &errOut); code != tc.want {
			t.Errorf("run(%v) = %d, want %d\n%s%s", tc.args, code, tc.want, &out, &errOut)
		}
	}
}
