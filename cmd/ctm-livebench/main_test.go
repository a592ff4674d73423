package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestRunSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the whole live pipeline")
	}
	for _, args := range [][]string{
		{"-clients", "3", "-appends", "4", "-seed", "10"},
		{"-clients", "2", "-appends", "2", "-seed", "0", "-polling"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 0 {
			t.Fatalf("run(%v) = %d, stderr %s", args, code, errOut.String())
		}
		for _, want := range []string{"every client", "stage: /stats summary", "goal p95 <= 250.0ms"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("run(%v) output lacks %q:\n%s", args, want, out.String())
			}
		}
		if want := " " + args[3] + " appends"; !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-clients", "0"}, {"-appends", "0"}, {"-seed", "-1"}, {"-timeout", "0s"}, {"extra"}, {"-nope"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 2 {
			t.Errorf("run(%v) = %d, want 2", args, code)
		}
	}
	if code := run(context.Background(), []string{"-h"}, &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
		t.Errorf("run(-h) = %d, want 0", code)
	}
}

func TestQuantile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		d := make([]time.Duration, len(v))
		for i, x := range v {
			d[i] = time.Duration(x) * time.Millisecond
		}
		return d
	}
	s := ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 5 * time.Millisecond}, {0.95, 10 * time.Millisecond}, {0.1, time.Millisecond}, {1, 10 * time.Millisecond},
	} {
		if got := quantile(s, tc.q); got != tc.want {
			t.Errorf("quantile(1..10, %v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := quantile(nil, 0.5); got != 0 {
		t.Errorf("quantile(nil) = %v, want 0", got)
	}
}
