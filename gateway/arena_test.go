package gateway

import (
	"bytes"
	"fmt"
	"testing"
)

// TestArena: the buffers a batch's envelopes take from the arena hold what was
// written into them after the whole batch is written, across chunk boundaries and for
// one larger than a chunk; appending to one never reaches the next; a buffer that
// outgrew its room keeps what was written.
func TestArena(t *testing.T) {
	a := arena{size: 64}
	var bufs [][]byte
	var want []string
	for i := range 200 {
		s := fmt.Sprintf("envelope %d %s", i, bytes.Repeat([]byte{'x'}, i%50))
		room := len(s)
		if i%37 == 0 {
			room = len(s) / 2 // underestimated: append moves it out of the chunk
		}
		if i == 100 {
			s = string(bytes.Repeat([]byte{'L'}, 3*envelopeChunk/2))
			room = len(s)
		}
		b := a.next(room)
		if len(b) != 0 || cap(b) < room {
			t.Fatalf("next(%d) = len %d cap %d", room, len(b), cap(b))
		}
		b = a.keep(append(b, s...))
		if cap(b) != len(b) && i%37 != 0 {
			t.Errorf("buffer %d: cap %d past its length %d: an append could reach the next", i, cap(b), len(b))
		}
		bufs, want = append(bufs, b), append(want, s)
	}
	for i := range bufs {
		_ = append(bufs[i], "tail"...) // must not write into bufs[i+1]
	}
	for i, b := range bufs {
		if string(b) != want[i] {
			t.Fatalf("buffer %d = %.40q..., want %.40q...", i, b, want[i])
		}
	}
}

// TestArenaRelease: an arena gives back the chunks it took, and only those (a buffer
// larger than any chunk is its own and goes to the collector); a chunk taken again
// comes back empty, and whatever its class, it holds what was asked.
func TestArenaRelease(t *testing.T) {
	for n, want := range map[int]int{1: 0, minChunk: 0, minChunk + 1: 1, 100 << 10: 5, envelopeChunk: numChunkClasses - 1, envelopeChunk + 1: -1} {
		if c := chunkClass(n); c != want {
			t.Errorf("chunkClass(%d) = %d, want %d", n, c, want)
		}
	}
	a := arena{size: 10 << 10}
	for range 3 {
		b := a.next(300 << 10)
		a.keep(append(b, bytes.Repeat([]byte{'x'}, 300<<10)...))
	}
	a.keep(append(a.next(2*envelopeChunk), 'y')) // its own buffer, not a chunk
	// 300 KiB in a 512 KiB chunk (the first, sized by the 10 KiB hint and the event),
	// then 600 KiB in a 1 MiB one.
	if len(a.chunks) != 2 || cap(a.chunks[0]) != 512<<10 || cap(a.chunks[1]) != envelopeChunk {
		t.Fatalf("chunks taken: %d, want a 512 KiB one and a 1 MiB one (the 2 MiB buffer is not one)", len(a.chunks))
	}
	for _, c := range a.chunks {
		if chunkClass(cap(c)) < 0 || minChunk<<chunkClass(cap(c)) != cap(c) {
			t.Errorf("a chunk of %d bytes, not a class's size", cap(c))
		}
	}
	a.release()
	if a.chunks != nil || a.buf != nil {
		t.Fatal("release kept the chunks")
	}
	b := a.next(300 << 10)
	if len(b) != 0 || cap(b) < 300<<10 {
		t.Fatalf("after release: next = len %d cap %d", len(b), cap(b))
	}
}
