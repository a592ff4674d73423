package sqlite

import (
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/claude-token-monitor/ctm/internal/sidefile"
)

// TestSnapshotCountsBoundAllocation crafts sealed files whose counts are
// as large as the file allows and measures what decodeSnapshot allocates
// before it rejects or accepts them, as a multiple of the file's size.
func TestSnapshotCountsBoundAllocation(t *testing.T) {
	const size = 4 << 20
	cases := map[string][]byte{}
	// n names, each the empty string (one byte): the dictionary map and
	// slice are sized by n before a name is read.
	names := binary.AppendUvarint(nil, size)
	names = append(names, make([]byte, size)...)
	cases["names"] = names
	// One name, then counts of rows and sums of 0 and a count of blocks
	// as large as the rest allows (32 bytes each, the least a block of
	// one row and one sum takes), then junk.
	blocks := binary.AppendUvarint(nil, 1)
	blocks = append(blocks, 1, 'x', 0, 0)
	blocks = binary.AppendUvarint(blocks, size/32)
	blocks = append(blocks, make([]byte, size)...)
	cases["blocks"] = blocks
	for name, body := range cases {
		file := sidefile.Seal(append(snapshotHeader(7, fuzzInstance), body...))
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := decodeSnapshot(file, fuzzInstance, 7)
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: %d-byte file, err %v, allocated %d bytes (%.1fx the file)", name, len(file), err, alloc, float64(alloc)/float64(len(file)))
		if alloc > 4*uint64(len(file)) {
			t.Errorf("%s: a %d-byte file made decodeSnapshot allocate %d bytes", name, len(file), alloc)
		}
	}
}
