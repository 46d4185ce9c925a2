// Package chunks hands out large byte buffers from pools by size, for the data path's
// per-batch arenas: the gateway's envelopes and the transformer's documents live as
// long as one batch, and a busy process that takes them from here and gives them back
// reuses a few megabytes instead of allocating its whole intake again for the
// collector to free.
package chunks

import "sync"

// The sizes buffers come in: Min << class for classes 0 to numClasses-1, in
// doublings from Min to Max. A request over Max gets a buffer of its own.
const (
	Min        = 4 << 10
	Max        = Min << (numClasses - 1) // 4 MiB
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
	return make([]byte, 0, Min<<c)
}

// Put gives b, which Get returned, back for reuse; b must not be used after it. A
// buffer of no pooled size (a larger one, or one an append moved) is left to the
// collector.
func Put(b []byte) {
	c := class(cap(b))
	if c < 0 || Min<<c != cap(b) {
		return
	}
	b = b[:0]
	pools[c].Put(&b)
}

// class is the least class whose buffers hold n bytes, or -1 when none does.
func class(n int) int {
	for c := range numClasses {
		if n <= Min<<c {
			return c
		}
	}
	return -1
}
