package main

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// quantile returns the q-quantile of sorted by the nearest-rank method.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

// print writes the figures.
func (r results) print(w io.Writer, cfg config) {
	fmt.Fprintf(w, "ctm-livebench: %d appends, %d clients, watcher %s, %d records stored before\n",
		cfg.appends, cfg.clients, r.mode, r.seedRecords)
	fmt.Fprintln(w, "latency from fsync'd append to stats_update at the client:")
	fmt.Fprintf(w, "  %-22s %8s %8s %8s %8s %8s\n", "", "samples", "p50", "p95", "p99", "max")
	for _, row := range []struct {
		name string
		d    []time.Duration
	}{
		{"every client", r.all},
		{"first client / append", r.first},
		{"last client / append", r.last},
		{"stage: ingest", r.ingestTimes},
		{"stage: /stats summary", r.statsTimes},
	} {
		s := slices.Sorted(slices.Values(row.d))
		fmt.Fprintf(w, "  %-22s %8d %8s %8s %8s %8s\n", row.name, len(s),
			ms(quantile(s, 0.50)), ms(quantile(s, 0.95)), ms(quantile(s, 0.99)), ms(quantile(s, 1)))
	}
	if r.timeouts > 0 {
		fmt.Fprintf(w, "  %d client updates timed out and are not counted\n", r.timeouts)
	}
	p95 := quantile(slices.Sorted(slices.Values(r.all)), 0.95)
	verdict := "meets"
	if p95 > goal || r.timeouts > 0 {
		verdict = "MISSES"
	}
	fmt.Fprintf(w, "goal p95 <= %s at every client: %s (p95 %s)\n", ms(goal), verdict, ms(p95))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }
