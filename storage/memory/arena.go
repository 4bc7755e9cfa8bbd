package memory

import "encoding/binary"

// The garbage collector marks what the heap points to. A store of a
// million tokens kept as a million small objects (the record strings, and
// the map entries and index keys pointing at them) gave each collection a
// million objects to visit, one cache miss each: a collection's cost grew
// with the store, and a busy provider spent about an eighth of its CPU
// marking its own tokens. The token records therefore live in an arena of
// large byte chunks, and the token map and its indexes hold only offsets
// and fixed-size keys: memory the collector never scans.

// chunkSize is the size of an arena chunk: some 300 access tokens' records.
const chunkSize = 64 << 10

// ownChunk is the size from which a record gets a chunk of its own, of its
// exact size, released with it.
const ownChunk = chunkSize / 8

// recRef is where a record lies in the arena.
type recRef struct {
	chunk uint32
	off   uint32
}

// arena keeps records, each a uvarint length and its bytes, in chunks
// filled one after the other. A chunk is released once no record in it is
// live; a chunk left sparse by records that outlive their neighbours (a
// month's refresh token among an hour's access tokens) is evacuated by the
// sweep (see Store.sweepTokens), so that the arena stays within a few times
// the live records' size. The zero arena is empty and ready to use. The
// caller serialises access (the store's lock).
type arena struct {
	chunks [][]byte // nil once released
	live   []int    // bytes of live records, per chunk
	free   []uint32 // released chunks' indexes, for reuse
	cur    int      // the chunk being filled, plus one (0: none yet)
	fill   int      // bytes used in the chunk being filled
}

// put copies rec into the arena and returns where it lies.
func (a *arena) put(rec []byte) recRef {
	var lenBuf [binary.MaxVarintLen64]byte
	hdr := binary.PutUvarint(lenBuf[:], uint64(len(rec)))
	need := hdr + len(rec)
	var i, off int
	switch {
	case need > ownChunk:
		i = a.newChunk(need)
	case a.cur == 0 || a.fill+need > chunkSize: // a full chunk holds live records (see del)
		i = a.newChunk(chunkSize)
		a.cur, a.fill = i+1, need
	default:
		i, off = a.cur-1, a.fill
		a.fill += need
	}
	c := a.chunks[i][off:]
	copy(c, lenBuf[:hdr])
	copy(c[hdr:], rec)
	a.live[i] += need
	return recRef{chunk: uint32(i), off: uint32(off)}
}

// get returns the record at r. It lies in the arena's memory: valid until
// the record is freed or moved, and not to be changed.
func (a *arena) get(r recRef) []byte {
	c := a.chunks[r.chunk][r.off:]
	n, w := binary.Uvarint(c)
	return c[w : w+int(n)]
}

// del frees the record at r.
func (a *arena) del(r recRef) {
	rec := a.get(r)
	need := uvarintLen(len(rec)) + len(rec)
	i := int(r.chunk)
	a.live[i] -= need
	if a.live[i] > 0 {
		return
	}
	if i == a.cur-1 {
		a.fill = 0 // the chunk being filled is empty: fill it again from its start
		return
	}
	a.release(i)
}

// sparse reports whether the chunk of r holds so few live bytes that its
// records should move (see arena): less than a quarter of it, and it is
// neither the chunk being filled nor a record's own.
func (a *arena) sparse(r recRef) bool {
	i := int(r.chunk)
	return i != a.cur-1 && len(a.chunks[i]) == chunkSize && a.live[i] < chunkSize/4
}

// move copies the record at r to the chunk being filled, frees it at r,
// and returns where it lies now.
func (a *arena) move(r recRef) recRef {
	to := a.put(a.get(r))
	a.del(r)
	return to
}

// newChunk makes a chunk of size bytes and returns its index.
func (a *arena) newChunk(size int) int {
	c := make([]byte, size)
	if n := len(a.free); n > 0 {
		i := int(a.free[n-1])
		a.free = a.free[:n-1]
		a.chunks[i] = c
		return i
	}
	a.chunks = append(a.chunks, c)
	a.live = append(a.live, 0)
	return len(a.chunks) - 1
}

// release lets the chunk at i go, its index to be reused.
func (a *arena) release(i int) {
	a.chunks[i] = nil
	a.live[i] = 0
	a.free = append(a.free, uint32(i))
}
