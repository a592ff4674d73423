package main

import (
	"math"
	"runtime/debug"
	"runtime/metrics"
)

// A first index keeps every key it has stored and the rollup's sums in
// memory, so its live heap grows with the data, and at Go's usual pace the
// collector lets the heap grow to twice the live part before it runs: on
// 2 GB of long sessions, about 65 MB live and a 120 MB heap (peak RSS 240 MB; 180 MB under the limit, in the same CPU time). A soft memory
// limit holds the heap near largeCatchUpMemory instead, which costs no
// time while the live part is well below it (the collector runs at the
// usual pace until the heap nears the limit). The limit rises with the
// live part, to one and a half times it, so that a tree large enough to
// fill the limit with live data makes the collector run as at GOGC=50,
// never back to back.

// largeCatchUpMemory is the soft memory limit of a large catch-up.
const largeCatchUpMemory = 64 << 20

// memoryCap is the soft memory limit of a large catch-up.
type memoryCap struct {
	old, cur int64
	live     []metrics.Sample
}

// capMemory sets the limit and returns the cap that moves it with the
// live heap; release puts the old limit back.
func capMemory() *memoryCap {
	m := &memoryCap{live: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	m.old = debug.SetMemoryLimit(-1) // reads the limit
	m.adjust()
	return m
}

// adjust raises the limit when the live heap has grown.
func (m *memoryCap) adjust() {
	metrics.Read(m.live)
	var live int64
	if v := m.live[0].Value; v.Kind() == metrics.KindUint64 {
		live = int64(min(v.Uint64(), math.MaxInt64/2))
	}
	limit := max(int64(largeCatchUpMemory), live+live/2, m.cur)
	if limit > m.old {
		limit = m.old
	}
	if limit != m.cur {
		m.cur = limit
		debug.SetMemoryLimit(limit)
	}
}

// release puts back the limit that capMemory found.
func (m *memoryCap) release() { debug.SetMemoryLimit(m.old) }
