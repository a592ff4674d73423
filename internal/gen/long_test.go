package gen

import (
	"context"
	"slices"
	"testing"
	"time"
)

// recordsPerRow groups kept copies as the store's quarter-hour rollup does
// (quarter hour, session, model) and returns the mean records per row.
func recordsPerRow(kept map[string]keptCopy) float64 {
	type row struct {
		qh             int64
		session, model string
	}
	rows := map[row]bool{}
	for _, k := range kept {
		rows[row{k.at.Unix() / 900, k.session, k.model}] = true
	}
	return float64(len(kept)) / float64(len(rows))
}

func TestLongShape(t *testing.T) {
	dir := t.TempDir()
	m, err := Generate(context.Background(), Config{Dir: dir, Size: 24 << 20, Seed: 5, Shape: ShapeLong})
	if err != nil {
		t.Fatalf("Generate(long): %v", err)
	}
	if m.Shape != ShapeLong {
		t.Errorf("manifest shape = %q, want %q", m.Shape, ShapeLong)
	}
	kept := keptCopies(t, decodeAll(t, readLines(t, dir)))
	mb := float64(m.Bytes) / (1 << 20)
	// The goal is 1,000 files and 148 responses per MB at 512 MB; a small
	// set varies by a few sessions either way.
	if perMB := float64(m.Files) / mb; perMB < 1.5 || perMB > 2.5 {
		t.Errorf("%d files in %.1f MB = %.2f per MB, want 1.95 ± 0.5", m.Files, mb, perMB)
	}
	if perMB := float64(len(kept)) / mb; perMB < 125 || perMB > 175 {
		t.Errorf("%d responses in %.1f MB = %.0f per MB, want 148 ± 25", len(kept), mb, perMB)
	}
	if got := recordsPerRow(kept); got < 1.5 || got > 2.7 {
		t.Errorf("long shape: %.2f records per quarter-hour rollup row, want about 2", got)
	}
	_, def := mustCorpus(t)
	if got := recordsPerRow(mustKept(t, corpusDir)); got < 6 {
		t.Errorf("default shape (%d responses): %.2f records per rollup row, want about 10", def.UniqueResponses, got)
	}

	// Sessions run for many hours.
	first, last := map[string]time.Time{}, map[string]time.Time{}
	for _, k := range kept {
		if f, ok := first[k.session]; !ok || k.at.Before(f) {
			first[k.session] = k.at
		}
		if k.at.After(last[k.session]) {
			last[k.session] = k.at
		}
	}
	var spans []time.Duration
	for s := range first {
		spans = append(spans, last[s].Sub(first[s]))
	}
	slices.Sort(spans)
	if median := spans[len(spans)/2]; median < 4*time.Hour {
		t.Errorf("median session spans %s, want many hours", median)
	}
}

func TestLongShapeIsDeterministic(t *testing.T) {
	gen := func(shape string) map[string][32]byte {
		dir := t.TempDir()
		if _, err := Generate(context.Background(), Config{Dir: dir, Size: 2 << 20, Seed: 11, Shape: shape}); err != nil {
			t.Fatalf("Generate(shape %q): %v", shape, err)
		}
		return hashTree(t, dir)
	}
	a, b, def := gen(ShapeLong), gen(ShapeLong), gen(ShapeDefault)
	if len(a) != len(b) {
		t.Fatalf("same seed wrote %d and %d files", len(a), len(b))
	}
	for path, sum := range a {
		if b[path] != sum {
			t.Errorf("same seed and shape: %s differs between runs", path)
		}
		if def[path] == sum {
			t.Errorf("%s is the same in the long and default shapes", path)
		}
	}
}
