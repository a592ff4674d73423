package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/slogtest"
	"time"
)

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// parseColorLine reads one line of the colour handler back into the map
// shape slogtest wants: time, level, msg, and attributes nested by group.
// Messages are taken to be one word, which holds for slogtest's records.
func parseColorLine(t *testing.T, line string) map[string]any {
	t.Helper()
	s := ansi.ReplaceAllString(line, "")
	m := map[string]any{}
	word := func() string {
		w, rest, _ := strings.Cut(s, " ")
		s = strings.TrimLeft(rest, " ")
		return w
	}
	if len(s) > 4 && s[4] == '-' { // a timestamp leads unless the time was zero
		ts := word()
		tm, err := time.Parse(timeFormat, ts)
		if err != nil {
			t.Fatalf("bad time %q in %q: %v", ts, line, err)
		}
		m[slog.TimeKey] = tm
	}
	m[slog.LevelKey] = word()
	m[slog.MessageKey] = word()
	for s != "" {
		key, rest, ok := strings.Cut(s, "=")
		if !ok {
			t.Fatalf("no '=' after %q in %q", s, line)
		}
		var val string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				t.Fatalf("bad quoted value %q in %q", rest, line)
			}
			val, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			val, rest, _ = strings.Cut(rest, " ")
		}
		s = strings.TrimLeft(rest, " ")
		dst := m
		parts := strings.Split(key, ".")
		for _, g := range parts[:len(parts)-1] {
			sub, ok := dst[g].(map[string]any)
			if !ok {
				sub = map[string]any{}
				dst[g] = sub
			}
			dst = sub
		}
		dst[parts[len(parts)-1]] = val
	}
	return m
}

func TestColorHandlerConformance(t *testing.T) {
	var buf bytes.Buffer
	slogtest.Run(t, func(*testing.T) slog.Handler {
		buf.Reset()
		return newColorHandler(&buf, slog.LevelInfo)
	}, func(t *testing.T) map[string]any {
		line := strings.TrimSuffix(buf.String(), "\n")
		if strings.Contains(line, "\n") {
			t.Fatalf("handler wrote several lines: %q", buf.String())
		}
		return parseColorLine(t, line)
	})
}

func TestColorHandlerFormat(t *testing.T) {
	var buf bytes.Buffer
	h := newColorHandler(&buf, slog.LevelDebug)
	log := slog.New(h)
	tm := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	tests := []struct {
		name string
		log  func()
		want string // after removing the time
	}{
		{"debug is cyan", func() { log.Debug("hi") }, ansiCyan + "DEBUG" + ansiReset + " hi"},
		{"info is green", func() { log.Info("hi") }, ansiGreen + "INFO " + ansiReset + " hi"},
		{"warn is yellow", func() { log.Warn("hi") }, ansiYellow + "WARN " + ansiReset + " hi"},
		{"error is red", func() { log.Error("hi", slog.Any("error", errors.New("boom"))) },
			ansiRed + "ERROR" + ansiReset + " hi error=boom"},
		{"quoting and kinds", func() {
			log.With("a", "x y").WithGroup("g").Info("m", "d", time.Second, "t", tm, "n", 3, "e", "", "q", `say "hi"`,
				"s", []int{1, 2})
		}, ansiGreen + "INFO " + ansiReset + ` m a="x y" g.d=1s g.t=2026-01-02T03:04:05.006Z g.n=3 g.e="" g.q="say \"hi\"" g.s="[1 2]"`},
		{"control characters in message are quoted", func() { log.Info("line\nforged") },
			ansiGreen + "INFO " + ansiReset + ` "line\nforged"`},
		{"custom level", func() { log.Log(t.Context(), slog.LevelWarn+2, "x") }, ansiYellow + "WARN+2" + ansiReset + " x"},
	}
	buf.Reset()
	log.Info("m", "key", 1)
	if !strings.Contains(buf.String(), " "+ansiFaint+"key="+ansiReset+"1") {
		t.Errorf("line = %q, want a faint key", buf.String())
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf.Reset()
			tt.log()
			line := strings.TrimSuffix(buf.String(), "\n")
			_, rest, _ := strings.Cut(line, " ") // drop the time
			// Keys are faint: faint, key, '=', reset. Drop that colouring to
			// keep the expectations readable; the level colour stays.
			got := strings.ReplaceAll(strings.ReplaceAll(rest, ansiFaint, ""), "="+ansiReset, "=")
			if got != tt.want {
				t.Errorf("line = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestColorHandlerConcurrentWrites(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(newColorHandler(&buf, slog.LevelInfo))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			l := log.With("worker", i)
			for range 50 {
				l.Info("tick")
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 400 {
		t.Fatalf("wrote %d lines, want 400", len(lines))
	}
	for _, l := range lines {
		if !strings.HasSuffix(ansi.ReplaceAllString(l, ""), "tick worker="+l[len(l)-1:]) {
			t.Fatalf("garbled line %q", l)
		}
	}
}

func TestNewFormats(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		check func(t *testing.T, out string)
	}{
		{"text by default", Options{}, func(t *testing.T, out string) {
			if !strings.Contains(out, "level=INFO msg=hello k=v") || strings.Contains(out, "\x1b[") {
				t.Errorf("text output = %q, want plain slog text", out)
			}
		}},
		{"json", Options{Format: "JSON", Color: true}, func(t *testing.T, out string) {
			var m map[string]any
			if err := json.Unmarshal([]byte(out), &m); err != nil || m["msg"] != "hello" || m["k"] != "v" {
				t.Errorf("json output = %q (%v), want msg hello and k v", out, err)
			}
		}},
		{"colour text", Options{Format: "text", Color: true}, func(t *testing.T, out string) {
			if !strings.Contains(out, ansiGreen+"INFO ") || !strings.Contains(ansi.ReplaceAllString(out, ""), "hello k=v") {
				t.Errorf("colour output = %q, want a green level and the attributes", out)
			}
		}},
		{"level filters", Options{Level: slog.LevelWarn}, func(t *testing.T, out string) {
			if out != "" {
				t.Errorf("output at WARN level = %q, want nothing for INFO", out)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.opts.Stderr = &buf
			log, closer, err := New(tt.opts)
			if err != nil {
				t.Fatalf("New() = %v", err)
			}
			defer closer.Close()
			log.Info("hello", "k", "v")
			tt.check(t, buf.String())
		})
	}
}

func TestNewWithFile(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var stderr bytes.Buffer
			path := filepath.Join(t.TempDir(), "nested", "dir", "ctm.log")
			level := new(slog.LevelVar)
			log, closer, err := New(Options{Level: level, Format: format, File: path, Stderr: &stderr, Color: true})
			if err != nil {
				t.Fatalf("New() = %v", err)
			}
			log.Debug("hidden")
			level.Set(slog.LevelDebug)
			log.WithGroup("req").Debug("shown", "status", 200)
			if err := closer.Close(); err != nil {
				t.Fatalf("Close() = %v", err)
			}
			if err := closer.Close(); err != nil {
				t.Errorf("second Close() = %v, want nil", err)
			}

			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			file := string(data)
			if strings.Contains(file, "\x1b[") || strings.Contains(file, "hidden") || !strings.Contains(file, "shown") {
				t.Errorf("log file = %q, want only the debug line after the level change, uncoloured", file)
			}
			if format == "json" && !strings.Contains(file, `"req":{"status":200}`) {
				t.Errorf("json log file = %q, want the grouped attribute", file)
			}
			if format == "text" && !strings.Contains(file, "req.status=200") {
				t.Errorf("text log file = %q, want the grouped attribute", file)
			}
			if !strings.Contains(stderr.String(), "shown") || strings.Contains(stderr.String(), "hidden") {
				t.Errorf("stderr = %q, want the same records as the file", stderr.String())
			}
			fi, err := os.Stat(filepath.Dir(path))
			if err != nil || fi.Mode().Perm() != 0o755 {
				t.Errorf("log directory mode = %v (%v), want 0755", fi.Mode().Perm(), err)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"bad format", Options{Format: "xml"}, `log format "xml" is not text or json`},
		{"directory cannot be created", Options{File: filepath.Join(blocker, "sub", "x.log")}, "create log directory"},
		{"file is a directory", Options{File: dir}, "open log file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, closer, err := New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) || log != nil || closer != nil {
				t.Errorf("New(%+v) = %v, %v, %v; want nil, nil, error containing %q", tt.opts, log, closer, err, tt.want)
			}
		})
	}
}

func TestNewDefaultsToStderr(t *testing.T) {
	log, closer, err := New(Options{Level: slog.LevelError + 100})
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	if log.Enabled(t.Context(), slog.LevelError) {
		t.Error("logger enabled below its level")
	}
	if err := closer.Close(); err != nil {
		t.Errorf("Close() without a file = %v", err)
	}
}

func TestValueText(t *testing.T) {
	type point struct{ X, Y int }
	tests := []struct {
		v    slog.Value
		want string
	}{
		{slog.AnyValue(point{1, 2}), "{X:1 Y:2}"},
		{slog.BoolValue(true), "true"},
		{slog.Float64Value(1.5), "1.5"},
		{slog.Uint64Value(7), "7"},
		{slog.AnyValue(fmt.Errorf("wrap: %w", os.ErrNotExist)), "wrap: file does not exist"},
	}
	for _, tt := range tests {
		if got := valueText(tt.v); got != tt.want {
			t.Errorf("valueText(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
	for s, want := range map[string]bool{"plain": false, "": true, "a b": true, "a=b": true, "\xff": true, "tab\t": true, "é": false} {
		if got := needsQuoting(s); got != want {
			t.Errorf("needsQuoting(%q) = %v, want %v", s, got, want)
		}
	}
}
