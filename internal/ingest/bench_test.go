package ingest

import (
	"bufio"
	"bytes"
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

// BenchmarkParseDataSets measures what a worker does to each line of a
// first index (parseLine, then parsePrompt when the line holds no record),
// in memory, over whole data sets: both real corpora and the generated
// 100 MB sets of both shapes in /tmp/ctm-bench-data (or CTM_BENCH_DATA).
// A data set that is missing is skipped. MB/cpu-s is throughput per second
// of the process's CPU time, garbage collection included: on a shared
// machine it varies less than MB/s.
func BenchmarkParseDataSets(b *testing.B) {
	benchData := os.Getenv("CTM_BENCH_DATA")
	if benchData == "" {
		benchData = filepath.Join(os.TempDir(), "ctm-bench-data")
	}
	sets := []struct{ name, dir string }{
		{"claude-real", filepath.Join(sharedTestdataDir(), "claude-real")},
		{"claude-real-2026", filepath.Join(sharedTestdataDir(), "claude-real-2026")},
		{"100MB", filepath.Join(benchData, "claude-100MB-seed1")},
		{"100MB-long", filepath.Join(benchData, "claude-100MB-seed1-long")},
	}
	for _, set := range sets {
		b.Run(set.name, func(b *testing.B) {
			files := loadDataSet(b, filepath.Join(set.dir, "projects"))
			var size int64
			for _, f := range files {
				size += int64(len(f.data))
			}
			b.SetBytes(size)
			b.ReportAllocs()
			var records, prompts, bad int
			cpu0 := cpuTime()
			for b.Loop() {
				var strs interner
				records, prompts, bad = 0, 0, 0
				for i := range files {
					r, p, e := parseData(files[i].data, &files[i].src, &strs)
					records, prompts, bad = records+r, prompts+p, bad+e
				}
			}
			if cpu := cpuTime() - cpu0; cpu > 0 {
				b.ReportMetric(float64(size)*float64(b.N)/1e6/cpu.Seconds(), "MB/cpu-s")
			}
			b.ReportMetric(float64(records), "records")
			b.ReportMetric(float64(prompts), "prompts")
			b.ReportMetric(float64(bad), "bad")
		})
	}
}

// sharedTestdataDir is sharedTestdata without the skip.
func sharedTestdataDir() string {
	if dir := os.Getenv("CTM_SHARED_TESTDATA"); dir != "" {
		return dir
	}
	return filepath.Join("..", "..", "..", "shared", "testdata")
}

type benchFile struct {
	src  Source
	data []byte
}

// loadDataSet reads every transcript under projectsDir into memory, or
// skips the benchmark when there is none.
func loadDataSet(b *testing.B, projectsDir string) []benchFile {
	b.Helper()
	var files []benchFile
	err := filepath.WalkDir(projectsDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".jsonl" {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, benchFile{src: SourceOf(projectsDir, p), data: data})
		return nil
	})
	if err != nil || len(files) == 0 {
		b.Skipf("no data set at %s: %v", projectsDir, err)
	}
	return files
}

// parseData parses the complete lines of data as fileReader.read does and
// counts what it found.
func parseData(data []byte, src *Source, strs *interner) (records, prompts, bad int) {
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return
		}
		line := data[:i]
		data = data[i+1:]
		switch _, _, kind, err := parseAny(line, src, strs); {
		case kind == aRecord:
			records++
		case kind == aPrompt:
			prompts++
		case err != nil:
			bad++
		}
	}
}
