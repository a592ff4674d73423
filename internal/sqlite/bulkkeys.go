package sqlite

// keySlots is the map of keys of a Bulk: for each stored key, what
// deciding Record.Prefer against the stored copy needs. It grows with the
// records of a first index, so it is laid out for size: a map from the
// first 64-bit hash of a key to the index of its slot, the slots (which
// hold the second hash) in fixed-size chunks that never move, and a
// second map only for keys whose first hash another key has. On 512 MB of
// long sessions a map of 128-bit hashes to slots took about 140 bytes a
// record, this about 60.
type keySlots struct {
	at     map[uint64]int32
	more   map[[2]uint64]int32
	chunks [][]bulkSlot
	n      int32
}

// slotChunk is the number of slots in a chunk.
const slotChunk = 1 << 12

// find returns the index of the slot of the key hashed to h.
func (k *keySlots) find(h [2]uint64) (int32, bool) {
	i, ok := k.at[h[0]]
	if !ok {
		return 0, false
	}
	if k.slot(i).h2 == h[1] {
		return i, true
	}
	i, ok = k.more[h]
	return i, ok
}

// add stores s as the slot of the key hashed to h, which find does not
// know, and returns its index: the count of slots added before it.
func (k *keySlots) add(h [2]uint64, s bulkSlot) int32 {
	i := k.n
	k.n++
	if int(i/slotChunk) == len(k.chunks) {
		k.chunks = append(k.chunks, make([]bulkSlot, 0, slotChunk))
	}
	c := &k.chunks[i/slotChunk]
	s.h2 = h[1]
	*c = append(*c, s)
	if _, taken := k.at[h[0]]; !taken {
		k.at[h[0]] = i
		return i
	}
	if k.more == nil {
		k.more = map[[2]uint64]int32{}
	}
	k.more[h] = i
	return i
}

// slot returns slot i.
func (k *keySlots) slot(i int32) *bulkSlot { return &k.chunks[i/slotChunk][i%slotChunk] }
