package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// maxSeedFile keeps whole-file seeds small enough to mutate quickly.
const maxSeedFile = 256 << 10

// FuzzIngestFile writes whole transcript files, ingests them with the real
// Ingester and checks the stored totals against the encoding/json
// reference decoder applied line by line: never negative, never
// different, and unchanged by a second run over the same file. Plain
// `go test` runs the seeds (real transcripts and hostile files).
func FuzzIngestFile(f *testing.F) {
	_, paths := realTranscripts(f)
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && fi.Size() <= maxSeedFile {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	a := msgLine{MsgID: "msg_a", ReqID: "req_a", UUID: "ua", Output: 5}.String()
	a2 := msgLine{MsgID: "msg_a", ReqID: "req_a", UUID: "ua2", Output: 9}.String()
	for _, s := range []string{
		lines(userLine, a, a2, a),
		lines(a) + a2[:len(a2)/2], // torn tail
		lines(a, usageLine("n", `{"output_tokens":-1,"input_tokens":3}`), usageLine("m", `{"output_tokens":9223372036854775807}`)),
		lines(usageLine("m", `{"output_tokens":9223372036854775807}`), usageLine("m2", `{"output_tokens":9223372036854775807}`)),
		"\xff\xfe\x00junk\n{\"usage\"\n" + a + "\r\n\n\n" + a2,
		strings.Repeat("{}\n", 100),
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		root := t.TempDir()
		projects := filepath.Join(root, "projects")
		path := filepath.Join(projects, "-work-app", "s1.jsonl")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		sink := newRefSink()
		in := New(sink, []string{root}, nil, Options{})
		if _, err := in.Run(context.Background()); err != nil {
			t.Fatalf("Run: %v", err)
		}
		got, gotN := sink.totals()
		want, wantN := referenceTotals(t, data, SourceOf(projects, path))
		if gotN != wantN || got != want {
			t.Fatalf("ingest = %+v over %d records, reference = %+v over %d", got, gotN, want, wantN)
		}
		for _, v := range []int64{got.Input, got.Output, got.CacheCreation5m, got.CacheCreation1h, got.CacheRead, got.WebSearchRequests} {
			if v < 0 {
				t.Fatalf("negative total in %+v", got)
			}
		}
		if _, err := in.Run(context.Background()); err != nil {
			t.Fatalf("second Run: %v", err)
		}
		if again, n := sink.totals(); again != got || n != gotN {
			t.Fatalf("second run changed totals: %+v over %d, was %+v over %d", again, n, got, gotN)
		}
	})
}

// referenceTotals decodes data line by line as the ingester should: every
// '\n'-terminated line, and the unterminated last one when it is whole,
// keeping one record per key by Record.Prefer. Lines that are valid JSON
// go through the encoding/json reference; for the others only "no record"
// or the fast parser's own record is defined (FuzzParseLine checks that
// the two agree on all valid JSON), so they are taken from ParseLine.
func referenceTotals(t *testing.T, data []byte, src Source) (usage.Tokens, int) {
	t.Helper()
	sink := newRefSink()
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		var (
			rec usage.Record
			ok  bool
		)
		if json.Valid(bytes.TrimSpace(line)) {
			rec, ok, _ = referenceParseLine(line, &src)
		} else {
			rec, ok, _ = ParseLine(line, &src)
		}
		if ok {
			if err := sink.Apply(context.Background(), usage.Batch{Records: []usage.Record{rec}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return sink.totals()
}
