package sqlite

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// The rollup rows of a first index are written in the table's key order,
// names compared as SQLite compares text: byte by byte, so "Z" before "a",
// "ab" before "b", and a name before every longer name it begins.
func TestRollupOrderIsKeyOrder(t *testing.T) {
	names := []string{"", "a", "ab", "b", "Z", "é", "e\u0301", "zz", "a\x00", "日本", "session-10", "session-9"}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	b := &Bulk{names: names}
	pick := func() int32 { return int32(rng.IntN(len(names))) }
	for i := range 2000 {
		k := bulkRKey{qh: int64(rng.IntN(4)) - 1, session: pick(), project: pick(), user: pick(), model: pick()}
		b.rollup.keys = append(b.rollup.keys, k)
		// Every tenth row has had all its records taken away.
		b.rollup.sums = append(b.rollup.sums, rollupSum{entries: int64(min(i%10, 1))})
	}
	order := b.rollupOrder()

	want := 0
	for _, s := range b.rollup.sums {
		if s.entries != 0 {
			want++
		}
	}
	if len(order) != want {
		t.Fatalf("rollupOrder gave %d rows, want the %d that hold records", len(order), want)
	}
	key := func(i int32) []string {
		k := b.rollup.keys[i]
		return []string{names[k.session], names[k.project], names[k.user], names[k.model]}
	}
	for j := 1; j < len(order); j++ {
		x, y := order[j-1], order[j]
		c := cmp.Compare(b.rollup.keys[x].qh, b.rollup.keys[y].qh)
		if c == 0 {
			c = slices.CompareFunc(key(x), key(y), strings.Compare)
		}
		if c > 0 {
			t.Fatalf("row %d (%d %q) comes before row %d (%d %q)", x, b.rollup.keys[x].qh, key(x), y, b.rollup.keys[y].qh, key(y))
		}
	}
	for _, i := range order {
		if b.rollup.sums[i].entries == 0 {
			t.Fatalf("row %d holds no records but is in the order", i)
		}
	}
}
