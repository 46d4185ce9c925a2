// Package chunks hands out large byte buffers from pools by size, for the data path's
// per-batch arenas (Arena): the gateway's envelopes, the OTLP receiver's documents, the
// search sink's bulk lines and the transformer's documents live as long as one batch,
// and a busy process that takes them from here and gives them back reuses a few
// megabytes instead of allocating its whole intake again for the collector to free.
package chunks

import "sync"

// The sizes buffers come in: minSize << class for classes 0 to numClasses-1, in
// doublings from 4 KiB to 4 MiB. A request over that gets a buffer of its own.
const (
	minSize    = 4 << 10
	numClasses = 11
)

var pools [numClasses]sync.Pool // of *[]byte

// Get returns an empty buffer with room for at least n bytes: a pooled one of the
// least size that holds n, or a new one.
func Get(n int) []byte {
	c := class(n)
	if c < 0 {
		return make([]byte, 0, n)
	}
	if b, ok := pools[c].Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, minSize<<c)
}

// Put gives b, which Get returned, back for reuse; b must not be used after it. A
// buffer of no pooled size (a larger one, or one an append moved) is left to the
// collector.
func Put(b []byte) {
	c := class(cap(b))
	if c < 0 || minSize<<c != cap(b) {
		return
	}
	b = b[:0]
	pools[c].Put(&b)
}

// class is the least class whose buffers hold n bytes, or -1 when none does.
func class(n int) int {
	for c := range numClasses {
		if n <= minSize<<c {
			return c
		}
	}
	return -1
}

// DefaultArenaChunk is the size of an Arena's chunks when it is given none.
const DefaultArenaChunk = 1 << 20

// Arena hands out the buffers of one batch (its envelopes, its documents) from
// chunks taken here, so that a batch of thousands of small buffers costs a few pooled
// chunks, not thousands of allocations for the collector to free. Buffers are written
// by appending to what Next returns and fixed with Keep; Release gives the chunks
// back, after which no buffer of the arena may be used. The zero Arena is ready; it
// is not safe for concurrent use.
type Arena struct {
	// First is the size of the first chunk (a hint of the batch's bytes), Size that
	// of the later ones; zero means DefaultArenaChunk. A buffer larger than a chunk
	// gets a chunk of its own size.
	First, Size int

	buf   []byte
	taken [][]byte
}

// Next returns an empty slice with room for at least n bytes, at the end of the
// current chunk, or of a new one when the chunk has no room.
func (a *Arena) Next(n int) []byte {
	if cap(a.buf)-len(a.buf) < n {
		size := a.First
		if len(a.taken) > 0 || size <= 0 {
			size = a.Size
		}
		if size <= 0 {
			size = DefaultArenaChunk
		}
		a.buf = Get(max(n, size))
		a.taken = append(a.taken, a.buf)
	}
	return a.buf[len(a.buf):len(a.buf)]
}

// Keep takes b, which Next returned and appends filled, out of the chunk: the
// chunk's next buffer starts after it, and b's capacity ends at its length, so that
// appending to it cannot write into the next. A b that outgrew its room (append moved
// it) is left where it is, in memory of its own.
func (a *Arena) Keep(b []byte) []byte {
	end := len(a.buf) + len(b)
	if end <= cap(a.buf) && len(b) > 0 && &a.buf[:end][len(a.buf)] == &b[0] {
		a.buf = a.buf[:end]
		return b[:len(b):len(b)]
	}
	return b
}

// Copy returns a copy of b in the arena.
func (a *Arena) Copy(b []byte) []byte {
	return a.Keep(append(a.Next(len(b)), b...))
}

// Release gives the arena's chunks back and empties it. The buffers it handed out
// must not be used after it; the arena may be used again.
func (a *Arena) Release() {
	for _, b := range a.taken {
		Put(b)
	}
	clear(a.taken)
	a.taken, a.buf = a.taken[:0], nil
}
