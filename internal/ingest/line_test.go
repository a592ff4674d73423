package ingest

import (
	"bufio"
	"log/slog"
	"os"
	"reflect"
	"testing"
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
