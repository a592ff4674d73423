package ingest

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/claude-token-monitor/ctm/internal/usage"
)

// BenchmarkParseLine measures the parser over every line of the real
// corpus, including the lines it skips without decoding.
func BenchmarkParseLine(b *testing.B) {
	projectsDir, paths := realTranscripts(b)
	type line struct {
		src  *Source
		text []byte
	}
	var corpus []line
	var size int64
	for _, p := range paths {
		src := SourceOf(projectsDir, p)
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		r := bufio.NewReaderSize(f, 1<<16)
		for {
			text, err := r.ReadBytes('\n')
			if len(text) > 0 {
				corpus = append(corpus, line{&src, text})
				size += int64(len(text))
			}
			if err != nil {
				break
			}
		}
		f.Close()
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		for _, l := range corpus {
			ParseLine(l.text, l.src)
		}
	}
}

// discardSink accepts every batch and keeps nothing.
type discardSink struct{ records int }

func (s *discardSink) FileStates(context.Context) (map[string]usage.FileState, error) {
	return map[string]usage.FileState{}, nil
}

func (s *discardSink) Apply(_ context.Context, b usage.Batch) error {
	s.records += len(b.Records)
	return nil
}

// BenchmarkRun measures a first full index (read, parse, merge), without a
// store, of the real corpus or of the Claude directory in CTM_BENCH_ROOT.
func BenchmarkRun(b *testing.B) {
	root := os.Getenv("CTM_BENCH_ROOT")
	if root == "" {
		root = filepath.Join(sharedTestdata(b), "claude-real")
	}
	var bytes int64
	for b.Loop() {
		res, err := New(&discardSink{}, []string{root}, nil, Options{}).Run(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		bytes = res.BytesRead
	}
	b.SetBytes(bytes)
	b.ReportAllocs()
}
