package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"log/slog"
	"os"
	"reflect"
	"testing"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

func TestParseLineRealCorpusMatchesReference(t *testing.T) {
	for _, corpus := range realCorpora {
		t.Run(corpus, func(t *testing.T) { testParseLineCorpus(t, corpus) })
	}
}

func testParseLineCorpus(t *testing.T, corpus string) {
	projectsDir, paths := corpusTranscripts(t, corpus)
	var lines, records, bad, prompts, typed, attributed int
	for _, p := range paths {
		src := SourceOf(projectsDir, p)
		if src.MetaPath != "" {
			src.Agent = readAgentType(src.MetaPath, slog.New(slog.DiscardHandler))
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReaderSize(f, 1<<16)
		for n := 1; ; n++ {
			line, err := r.ReadBytes('\n')
			if len(line) == 0 {
				break
			}
			lines++
			got, gotOK, gotErr := ParseLine(line, &src)
			want, wantOK, wantErr := referenceParseLine(line, &src)
			if (gotErr != nil) != (wantErr != nil) || gotOK != wantOK || !reflect.DeepEqual(got, want) {
				t.Fatalf("%s:%d: ParseLine = %+v, %v, %v; reference = %+v, %v, %v", p, n, got, gotOK, gotErr, want, wantOK, wantErr)
			}
			if gotOK {
				records++
				if got.Agent != "" {
					typed++
				}
				if got.Attribution != "" {
					attributed++
				}
			}
			gotP, gotPOK := ParsePrompt(line, &src)
			wantP, wantPOK := referenceParsePrompt(line, &src)
			if gotPOK != wantPOK || gotP != wantP {
				t.Fatalf("%s:%d: ParsePrompt = %+v, %v; reference = %+v, %v", p, n, gotP, gotPOK, wantP, wantPOK)
			}
			if gotPOK {
				prompts++
			}
			if gotErr != nil {
				bad++
			}
			if err != nil {
				break
			}
		}
		f.Close()
	}
	t.Logf("%d files, %d lines, %d records (%d of a known subagent type, %d attributed), %d prompts, %d bad",
		len(paths), lines, records, typed, attributed, prompts, bad)
	if corpus == "claude-real-2026" && (typed == 0 || attributed == 0 || prompts == 0) {
		t.Errorf("no subagent types, attributions or prompts found in %s", corpus)
	}
}

// twoStep is what a worker did with each line before parseAny: parseLine,
// then parsePrompt when the line held no record and was not bad.
func twoStep(line []byte, src *Source) (usage.Record, usage.Prompt, lineKind, error) {
	rec, ok, err := ParseLine(line, src)
	switch {
	case ok:
		return rec, usage.Prompt{}, aRecord, err
	case err != nil:
		return rec, usage.Prompt{}, nothing, err
	}
	if p, ok := ParsePrompt(line, src); ok {
		return rec, p, aPrompt, nil
	}
	return rec, usage.Prompt{}, nothing, nil
}

// checkParseAny fails t unless parseAny and twoStep agree on line, and,
// when the one walk of parseAny reads the whole line, its markers are what
// bytes.Contains finds.
func checkParseAny(t *testing.T, line []byte, src *Source, strs *interner) {
	t.Helper()
	rec, p, kind, err := parseAny(line, src, strs)
	wantRec, wantP, wantKind, wantErr := twoStep(line, src)
	if kind != wantKind || !reflect.DeepEqual(rec, wantRec) || p != wantP || (err == nil) != (wantErr == nil) ||
		errors.Is(err, ErrBadLine) != errors.Is(wantErr, ErrBadLine) || errors.Is(err, ErrBadValue) != errors.Is(wantErr, ErrBadValue) {
		t.Fatalf("parseAny(%q)\n= %v %+v %+v %v\nparseLine, parsePrompt = %v %+v %+v %v", line, kind, rec, p, err, wantKind, wantRec, wantP, wantErr)
	}
	trimmed := bytes.TrimSpace(line)
	var l transcriptLine
	s := scanner{b: trimmed}
	if len(trimmed) == 0 || !l.scan(&s) || s.bad || !s.atEnd() {
		return
	}
	for _, m := range []struct {
		bit    uint8
		marker string
	}{{markUsage, `"usage"`}, {markUser, `"user"`}, {markToolUseID, `"tool_use_id"`}} {
		if got, want := s.marks&m.bit != 0, bytes.Contains(trimmed, []byte(m.marker)); got != want {
			t.Fatalf("walk of %q: marker %s seen %v, bytes.Contains %v", line, m.marker, got, want)
		}
	}
}

// TestParseAnyMatchesTwoSteps runs parseAny on every line of both real
// corpora, and on every line cut short at a few places and with a byte
// changed, against parseLine and parsePrompt.
func TestParseAnyMatchesTwoSteps(t *testing.T) {
	for _, corpus := range realCorpora {
		t.Run(corpus, func(t *testing.T) {
			projectsDir, paths := corpusTranscripts(t, corpus)
			var strs interner
			lines := 0
			for _, p := range paths {
				src := SourceOf(projectsDir, p)
				data, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				for _, line := range bytes.SplitAfter(data, []byte("\n")) {
					lines++
					checkParseAny(t, line, &src, &strs)
					n := len(line)
					for _, cut := range []int{n / 2, n * 9 / 10, n - 3, n - 2} {
						if cut > 0 && cut < n {
							checkParseAny(t, line[:cut], &src, &strs)
						}
					}
					for _, at := range []int{n / 3, n - 4} {
						if at > 0 && at < n {
							changed := bytes.Clone(line)
							for _, c := range []byte{'"', '\\', '}', ']', ','} {
								changed[at] = c
								checkParseAny(t, changed, &src, &strs)
							}
						}
					}
				}
			}
			t.Logf("%d lines", lines)
		})
	}
}

// adversarialLines are lines on which the one walk of parseAny could
// plausibly part from parseLine and parsePrompt: markers in keys, split by
// escapes or after escaped quotes, duplicate members, lines the two walks
// read differently, odd spaces and bytes around the object.
var adversarialLines = []string{
	`{"type":"assistant","message":{"id":"m","model":"x","us\u0061ge":{"input_tokens":5}},"timestamp":"2026-01-01T00:00:00Z"}`,
	`{"type":"assistant","message":{"id":"m","model":"x","us\u0061ge":{"input_tokens":5}},"timestamp":"2026-01-01T00:00:00Z","z":"\"usage\""}`,
	`{"type":"assistant","message":{"id":"m","model":"x","usage":{"input_tokens":5},"usage":{"output_tokens":7}},"timestamp":"2026-01-01T00:00:00Z"}`,
	`{"type":"assistant","message":{"id":"m","model":"x","usage":{"input_tokens":5}},"message":{"id":"n"},"timestamp":"2026-01-01T00:00:00Z"}`,
	`{"type":"us\u0065r","message":{"content":"hi"},"timestamp":"2026-01-01T00:00:00Z","k":"user"}`,
	`{"type":"user","message":{"content":"hi"},"timestamp":"2026-01-01T00:00:00Z","k":"tool_us\u0065_id"}`,
	`{"type":"user","message":{"content":"hi"},"timestamp":"2026-01-01T00:00:00Z","tool_use_id":1}`,
	`{"type":"user","message":{"content":"hi"},"timestamp":"2026-01-01T00:00:00Z","a":["x\\"tool_use_id"]}`,
	`{"type":"user","message":{"content":"hi"},"timestamp":"2026-01-01T00:00:00Z","a":["x\\\"tool_use_id"]}`,
	`{"type":"user","message":{"content":"hi"},"timestamp":"2026-01-01T00:00:00Z","a":[1e"tool_use_id"]}`,
	`{"type":"user","message":{"content":"hi"},"timestamp":"2026-01-01T00:00:00Z","a":["x"tool_use_id"y"]}`,
	`{"type":"user","message":{"content":"hi"},"timestamp":"2026-01-01T00:00:00Z","a":{"b":"user"tool_use_id"}}`,
	`{"type":"user","isMeta":true,"isMeta":false,"message":{"content":"hi"},"timestamp":"2026-01-01T00:00:00Z"}`,
	`{"type":"user","isCompactSummary":true,"message":{"content":"hi"},"timestamp":"2026-01-01T00:00:00Z"}`,
	`{"type":"user","message":{"content":[{"type":"text","text":"a"]}]},"timestamp":"2026-01-01T00:00:00Z"}`,
	`{"type":"user","message":{"content":"hi"},"data":{"usage" 1},"timestamp":"2026-01-01T00:00:00Z"}`,
	`{"type":"user","message":{"id":"x","content":"hi","usage":{}},"timestamp":"2026-01-01T00:00:00Z"}`,
	`{"type":"user","message":{"content":"hi"},"timestamp":"2016-12-31T23:59:60Z"}`,
	`{"type":"user","message":{"content":"hi"},"timestamp":"2026-01-01t00:00:00+05:30"}`,
	`{"type":"user","message":{"content":"a\\\\\"usage\""},"timestamp":"2026-01-01T00:00:00Z"}`,
	"{\"type\":\"user\",\"message\":{\"content\":\"a\\n\x00b\"},\"timestamp\":\"2026-01-01T00:00:00Z\"}",
	"{\"type\":\"user\",\"message\":{\"content\":\"\xed\xa0\x80\\ud800\\udc00\\udc00\\ud800\xef\xbf\xbd\xc0\xaf\"},\"timestamp\":\"2026-01-01T00:00:00Z\"}",
	"{\"type\":\"assistant\",\"cwd\":\"\xff\",\"message\":{\"id\":\"\\ud83d\",\"model\":\"x\",\"usage\":{}},\"timestamp\":\"2026-01-01T00:00:00Z\"}\v",
	"\xc2\xa0{\"type\":\"user\",\"message\":{\"content\":\"hi\"},\"timestamp\":\"2026-01-01T00:00:00Z\"}\xc2\x85",
	"{\"type\":\"user\",\"message\":{\"content\":\"hi\"},\"timestamp\":\"2026-01-01T00:00:00Z\"}\v}",
	`{"type":"progress","data":{"type":"agent_progress","message":{"type":"assistant","timestamp":"2026-01-01T00:00:00.5Z","message":{"id":"m","model":"x","usage":{"input_tokens":1}}}},"timestamp":"bad"}`,
}

// TestParseAnyAdversarial checks parseAny against parseLine and then
// parsePrompt on adversarialLines cut at every byte.
func TestParseAnyAdversarial(t *testing.T) {
	src := &Source{Path: "/p/-a/s.jsonl", SessionID: "s", Project: "/a"}
	for _, line := range adversarialLines {
		for cut := 0; cut <= len(line); cut++ {
			checkParseAny(t, []byte(line[:cut]), src, nil)
		}
	}
}
