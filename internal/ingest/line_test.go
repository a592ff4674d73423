package ingest

import (
	"bufio"
	"os"
	"reflect"
	"testing"
)

func TestParseLineRealCorpusMatchesReference(t *testing.T) {
	projectsDir, paths := realTranscripts(t)
	var lines, records, bad int
	for _, p := range paths {
		src := SourceOf(projectsDir, p)
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
	t.Logf("%d files, %d lines, %d records, %d bad", len(paths), lines, records, bad)
}
