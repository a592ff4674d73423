package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/claude-token-monitor/ctm/internal/gen"
)

func TestRunWritesDataSet(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-out", dir, "-size", "256KB", "-seed", "9", "-projects", "5", "-days", "10", "-end", "2026-02-01"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("run = %d, stderr: %s", code, stderr.String())
	}
	m, err := gen.ReadManifest(dir)
	if err != nil {
		t.Fatalf("ReadManifest: %v", err)
	}
	if m.Seed != 9 || m.TargetBytes != 256<<10 || m.Projects != 5 || m.End.Format("2006-01-02") != "2026-02-01" {
		t.Errorf("manifest = seed %d, target %d, %d projects, end %s; want 9, %d, 5, 2026-02-01", m.Seed, m.TargetBytes, m.Projects, m.End, 256<<10)
	}
	if !strings.Contains(stdout.String(), "unique responses") {
		t.Errorf("stdout = %q, want a summary", stdout.String())
	}
	// A second run into the same directory refuses to mix data sets.
	if code := run(context.Background(), []string{"-out", dir, "-size", "256KB"}, &stdout, &stderr); code != 1 {
		t.Errorf("second run into %s = %d, want 1", dir, code)
	}
}

func TestRunShapeAndBilling(t *testing.T) {
	tests := []struct {
		args       []string
		shape      string
		billing    bool
		start, end string
	}{
		{nil, gen.ShapeDefault, false, "2025-12-31", "2026-03-01"},
		{[]string{"-shape", "long"}, gen.ShapeLong, false, "2025-12-31", "2026-03-01"},
		{[]string{"-billing"}, gen.ShapeDefault, true, "2026-01-01", "2026-12-01"},
		{[]string{"-billing", "-days", "30", "-end", "2026-10-20"}, gen.ShapeDefault, true, "2026-09-20", "2026-10-20"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), append([]string{"-out", dir, "-size", "128KB"}, tt.args...), &stdout, &stderr); code != 0 {
				t.Fatalf("run = %d, stderr: %s", code, stderr.String())
			}
			m, err := gen.ReadManifest(dir)
			if err != nil {
				t.Fatalf("ReadManifest: %v", err)
			}
			start, end := m.Start.Format("2006-01-02"), m.End.Format("2006-01-02")
			if m.Shape != tt.shape || m.Billing != tt.billing || start != tt.start || end != tt.end {
				t.Errorf("manifest shape %q, billing %v, window [%s, %s); want %q, %v, [%s, %s)",
					m.Shape, m.Billing, start, end, tt.shape, tt.billing, tt.start, tt.end)
			}
		})
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-out", t.TempDir(), "extra"},
		{"-out", t.TempDir(), "-size", "huge"},
		{"-out", t.TempDir(), "-end", "tomorrow"},
		{"-out", t.TempDir(), "-shape", "wide"},
		{"-nope"},
	} {
		var stderr bytes.Buffer
		if code := run(context.Background(), args, &bytes.Buffer{}, &stderr); code != 2 {
			t.Errorf("run(%q) = %d, want 2 (stderr %q)", args, code, stderr.String())
		}
	}
}
