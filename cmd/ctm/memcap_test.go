package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
)

// TestMemoryCap checks that a large catch-up's limit starts at
// largeCatchUpMemory, rises to one and a half times a live heap that
// outgrows it, never lowers, and that release puts the old limit back.
func TestMemoryCap(t *testing.T) {
	// No limit before, as catchUp makes it: the cap is the only one.
	old := debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetMemoryLimit(old)
	m := capMemory()
	if got := debug.SetMemoryLimit(-1); got != largeCatchUpMemory {
		t.Fatalf("limit = %d, want %d", got, largeCatchUpMemory)
	}
	live := make([][]byte, 0, 64)
	for range 64 {
		live = append(live, make([]byte, 2<<20)) // 128 MiB in all
	}
	runtime.GC()
	m.adjust()
	if got := debug.SetMemoryLimit(-1); got < 3*(128<<20)/2 {
		t.Errorf("limit with 128 MiB live = %d, want at least %d", got, 3*(128<<20)/2)
	}
	raised := debug.SetMemoryLimit(-1)
	runtime.KeepAlive(live)
	live = nil
	runtime.GC()
	m.adjust()
	if got := debug.SetMemoryLimit(-1); got != raised {
		t.Errorf("limit after the live heap shrank = %d, want it kept at %d", got, raised)
	}
	m.release()
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("limit after release = %d, want none (%d)", got, int64(math.MaxInt64))
	}
}
