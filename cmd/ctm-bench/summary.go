package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"text/tabwriter"
)

// summarize prints one table of the results files (written by -json), one
// row per data set, and for each shape the cost per MB of the largest set
// against the smallest (DESIGN §7: 2 GB at most 1.2x the cost per MB of
// 100 MB).
func summarize(w io.Writer, paths []string) error {
	var rs []*results
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		r := &results{}
		if err := json.Unmarshal(b, r); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if r.Generated == nil {
			return fmt.Errorf("%s: data set has no generator manifest", p)
		}
		rs = append(rs, r)
	}
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i].Generated, rs[j].Generated
		if a.Shape != b.Shape {
			return a.Shape < b.Shape
		}
		return a.Bytes < b.Bytes
	})
	ms := func(s *sample) string {
		if !s.ok() {
			return "-"
		}
		return fmt.Sprintf("%.0f ms", s.WallMedian.Seconds()*1000)
	}
	ratio := func(a, b float64) string {
		if a <= 0 || b <= 0 {
			return "-"
		}
		if a/b < 0.1 {
			return fmt.Sprintf("%.3fx", a/b)
		}
		return fmt.Sprintf("%.2fx", a/b)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "shape\tsize\tctm first\tccusage\tratio\tctm RSS\tccusage RSS\tratio\tunchanged\tratio\tafter 1 MB\tstatusline")
	for _, r := range rs {
		g := r.Generated
		first, cc := r.CTMFirst.WallMedian.Seconds(), r.CCUsage.WallMedian.Seconds()
		fmt.Fprintf(tw, "%s\t%.0f MB\t%.2f s\t%.2f s\t%s\t%.0f MB\t%.0f MB\t%s\t%s\t%s\t%s\t%s\n",
			g.Shape, float64(g.Bytes)/(1<<20), first, cc, ratio(first, cc),
			float64(r.CTMFirst.RSSMedian)/(1<<20), float64(r.CCUsage.RSSMedian)/(1<<20),
			ratio(float64(r.CTMFirst.RSSMedian), float64(r.CCUsage.RSSMedian)),
			ms(&r.CTMAgain), ratio(r.CTMAgain.WallMedian.Seconds(), cc), ms(&r.CTMAppend), ms(&r.CTMStatus))
	}
	tw.Flush()
	// Cost per MB of the largest set of each shape against its smallest.
	byShape := map[string][]*results{}
	var shapes []string
	for _, r := range rs {
		if _, ok := byShape[r.Generated.Shape]; !ok {
			shapes = append(shapes, r.Generated.Shape)
		}
		byShape[r.Generated.Shape] = append(byShape[r.Generated.Shape], r)
	}
	for _, sh := range shapes {
		set := byShape[sh]
		lo, hi := set[0], set[len(set)-1]
		if lo == hi || !lo.CTMFirst.ok() || !hi.CTMFirst.ok() {
			continue
		}
		per := func(r *results) float64 {
			return r.CTMFirst.WallMedian.Seconds() / (float64(r.Generated.Bytes) / (1 << 20))
		}
		res := resultPass
		if per(hi) > 1.2*per(lo) {
			res = resultMiss
		}
		fmt.Fprintf(w, "%s: ctm first index per MB at %.0f MB is %.2fx that at %.0f MB (goal <= 1.20x) %s\n", sh,
			float64(hi.Generated.Bytes)/(1<<20), per(hi)/per(lo), float64(lo.Generated.Bytes)/(1<<20), res)
	}
	return nil
}
