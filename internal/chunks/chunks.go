// Package chunks hands out large byte buffers from pools by size, for the data path's
// per-batch arenas: the gateway's envelopes and the transformer's documents live as
// long as one batch, and a busy process that takes them from here and gives them back
// reuses a few megabytes instead of allocating its whole intake again for the
// collector to free.
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
