package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// maxSeedLine keeps the fuzzing corpus small enough to mutate quickly.
const maxSeedLine = 64 << 10

// FuzzParseLine checks that ParseLine never panics and that, on every
// valid JSON line, it agrees with the encoding/json reference.
func FuzzParseLine(f *testing.F) {
	_, paths := realTranscripts(f)
	for _, p := range paths {
		file, err := os.Open(p)
		if err != nil {
			f.Fatal(err)
		}
		r := bufio.NewReaderSize(file, 1<<16)
		for {
			line, err := r.ReadBytes('\n')
			if len(line) > 0 && len(line) <= maxSeedLine {
				f.Add(line)
			}
			if err != nil {
				break
			}
		}
		file.Close()
	}
	for _, s := range []string{
		`{"type":"assistant","message":{"id":"m","model":"x","usage":{"output_tokens":1e3,"input_tokens":-2,"cache_creation":null}},"timestamp":"2026-01-01T00:00:00Z"}`,
		`{"type":"assistant","type":"user","message":{"usage":{}},"timestamp":"2026-01-01T00:00:00Z"}`,
		`{"type":"progress","data":{"type":"agent_progress","message":{"type":"assistant","message":{"id":"m","usage":{"server_tool_use":{"web_search_requests":3}}}}},"timestamp":"2026-01-01T00:00:00+02:00"}`,
		`{"typ\u0065":"assistant","message":{"usage":{"input_tokens":99999999999999999999}},"timestamp":"2026-01-01T00:00:00Z","cwd":"\ud83d\ude00\\"}`,
		`{"usage":[[[[[[[[[[]]]]]]]]]],"a":"\"","b":{"c":"\\"}}`,
		"{\"usage\":\"\xff\"}",
		`{"type":"assistant","message":{"id":"m","model":"x","usage":{"output_tokens":-1,"input_tokens":9223372036854775807}},"timestamp":"2026-01-01T00:00:00Z"}`,
		`{"type":"assistant","message":{"id":"m","model":"x","usage":{"cache_read_input_tokens":1e400,"cache_creation":{"ephemeral_1h_input_tokens":-5}}},"timestamp":"2026-01-01T00:00:00Z"}`,
		`{"usage"`, `{`, `}`, `{"usage":1}x`, `{"usage":tru}`, ` `,
	} {
		f.Add([]byte(s))
	}
	src := &Source{Path: "/p/-a/s.jsonl", SessionID: "s", Project: "/a"}
	f.Fuzz(func(t *testing.T, line []byte) {
		got, ok, err := ParseLine(line, src)
		if ok && ((err != nil && !errors.Is(err, ErrBadValue)) || got.Key == "" || got.Timestamp.IsZero()) {
			t.Fatalf("ParseLine(%q) = %+v, %v, %v", line, got, ok, err)
		}
		if tk := got.Tokens; ok && (tk.Input < 0 || tk.Output < 0 || tk.CacheCreation5m < 0 || tk.CacheCreation1h < 0 ||
			tk.CacheRead < 0 || tk.WebSearchRequests < 0 || tk.Input > MaxTokenCount || tk.Output > MaxTokenCount ||
			tk.CacheCreation5m > MaxTokenCount || tk.CacheCreation1h > MaxTokenCount || tk.CacheRead > MaxTokenCount ||
			tk.WebSearchRequests > MaxTokenCount) {
			t.Fatalf("ParseLine(%q) = %+v, %v, %v", line, got, ok, err)
		}
		if !json.Valid(bytes.TrimSpace(line)) {
			return
		}
		want, wantOK, wantErr := referenceParseLine(line, src)
		if ok != wantOK || (err != nil) != (wantErr != nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("ParseLine(%q)\n= %+v, %v, %v\nreference %+v, %v, %v", line, got, ok, err, want, wantOK, wantErr)
		}
	})
}

// FuzzStatsCache checks that no input makes ParseStatsCache panic.
func FuzzStatsCache(f *testing.F) {
	shared := sharedTestdata(f)
	seeds, _ := filepath.Glob(filepath.Join(shared, "stats-cache", "*.json"))
	seeds = append(seeds, filepath.Join(shared, "claude-real", "stats-cache.json"), filepath.Join("testdata", "stats-cache-truncated.json"))
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"longestSession":{"timestamp":"yesterday"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := ParseStatsCache(data)
		if (sc == nil) == (err == nil) {
			t.Fatalf("ParseStatsCache = %v, %v: want exactly one of a value and an error", sc, err)
		}
	})
}

// FuzzParseAny checks that parseAny's one walk finds exactly what
// parseLine and then parsePrompt find, on any line (see checkParseAny).
func FuzzParseAny(f *testing.F) {
	for _, corpus := range realCorpora {
		_, paths := corpusTranscripts(f, corpus)
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			for _, line := range bytes.SplitAfter(data, []byte("\n")) {
				if len(line) <= maxSeedLine {
					f.Add(line)
				}
			}
		}
	}
	for _, s := range []string{
		`{"type":"user","message":{"content":"hi","usage":{"a" 1}},"timestamp":"2026-01-01T00:00:00Z"}`,
		`{"type":"user","message":{"content":[{"type":"text","text":"x"}]},"type":"assistant","timestamp":"2026-01-01T00:00:00Z"}`,
		`{"type":"assistant","message":{"id":"m","usage":{}},"type":"user","timestamp":"2026-01-01T00:00:00Z","x":"\"usage"}`,
		`{"type":"user","a":["b"usage"],"message":{"content":"hi"},"timestamp":"2026-01-01T00:00:00Z"}`,
		`{"type":"user","a":["x\"tool_use_id"],"message":{"content":"hi"},"timestamp":"2026-01-01T00:00:00Z"}`,
		`{"type":"user","isMeta":tru,"message":{"content":"hi"},"timestamp":"2026-01-01T00:00:00Z"}`,
		`{"type":"user","message":{"content":"hi \u00e9"},"timestamp":"2026-01-01T00:00:00Z"} {}`,
		`{"type":"us\u0065r","message":{"content":"hi"},"timestamp":"2026-01-01T00:00:00Z"}`,
		"{\"type\":\"user\",\"message\":{\"content\":\"\xff\"},\"timestamp\":\"2026-01-01T00:00:00Z\"}\u0085",
		// A NUL after the object: peek reads it as the end.
		"{}\x00", "{\"usage\":1}\x00", "{\"type\":\"user\",\"message\":{\"content\":\"hi\"},\"timestamp\":\"2026-01-01T00:00:00Z\"}\x00",
	} {
		f.Add([]byte(s))
	}
	for _, s := range adversarialLines {
		f.Add([]byte(s))
	}
	src := &Source{Path: "/p/-a/s.jsonl", SessionID: "s", Project: "/a"}
	f.Fuzz(func(t *testing.T, line []byte) {
		checkParseAny(t, line, src, nil)
	})
}
