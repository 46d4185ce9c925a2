package chunks

import (
	"bytes"
	"fmt"
	"testing"
)

// maxSize is the largest pooled size.
const maxSize = minSize << (numClasses - 1)

// TestGetPut: Get gives an empty buffer of the least pooled size that holds what was
// asked (its own size beyond the largest), empty whether pooled or new, and Put takes
// back only buffers of a pooled size (an odd-sized one would come back from Get).
func TestGetPut(t *testing.T) {
	for n, want := range map[int]int{0: minSize, 1: minSize, minSize: minSize, minSize + 1: 2 * minSize, 100 << 10: 128 << 10, maxSize: maxSize, maxSize + 1: maxSize + 1} {
		b := Get(n)
		if len(b) != 0 || cap(b) != want {
			t.Errorf("Get(%d) = len %d cap %d, want cap %d", n, len(b), cap(b), want)
		}
		Put(append(b, 'x')) // a pooled size: taken back (empty when given again)
	}
	if b := Get(minSize); len(b) != 0 || cap(b) != minSize {
		t.Fatalf("Get after a Put of a written buffer = len %d cap %d", len(b), cap(b))
	}
	Put(make([]byte, 0, 3*minSize)) // not a pooled size: ignored
	Put(nil)
	if b := Get(3 * minSize); cap(b) != 4*minSize {
		t.Errorf("Get(3*minSize) after an odd-sized Put: cap %d, want %d", cap(b), 4*minSize)
	}
}

// TestArena: the buffers a batch takes from the arena hold what was
// written into them after the whole batch is written, across chunk boundaries and for
// one larger than a chunk; appending to one never reaches the next; a buffer that
// outgrew its room keeps what was written.
func TestArena(t *testing.T) {
	a := Arena{First: 64}
	var bufs [][]byte
	var want []string
	for i := range 200 {
		s := fmt.Sprintf("buffer %d %s", i, bytes.Repeat([]byte{'x'}, i%50))
		room := len(s)
		if i%37 == 0 {
			room = len(s) / 2 // underestimated: append moves it out of the chunk
		}
		if i == 100 {
			s = string(bytes.Repeat([]byte{'L'}, 3*DefaultArenaChunk/2))
			room = len(s)
		}
		b := a.Next(room)
		if len(b) != 0 || cap(b) < room {
			t.Fatalf("next(%d) = len %d cap %d", room, len(b), cap(b))
		}
		b = a.Keep(append(b, s...))
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

// TestArenaRelease: an arena gives back the chunks it took and forgets them; a
// buffer larger than any chunk is taken and given back like the others (Put leaves it
// to the collector); Next works again after Release.
func TestArenaRelease(t *testing.T) {
	a := Arena{First: 10 << 10}
	for range 3 {
		b := a.Next(300 << 10)
		a.Keep(append(b, bytes.Repeat([]byte{'x'}, 300<<10)...))
	}
	a.Keep(append(a.Next(8*DefaultArenaChunk), 'y'))
	// 300 KiB in a 512 KiB chunk (the first, sized by the 10 KiB hint and the event),
	// then 600 KiB in a 1 MiB one, then the 8 MiB buffer.
	if len(a.taken) != 3 || cap(a.taken[0]) != 512<<10 || cap(a.taken[1]) != DefaultArenaChunk || cap(a.taken[2]) != 8*DefaultArenaChunk {
		t.Fatalf("chunks taken: %d, want 512 KiB, 1 MiB and 8 MiB", len(a.taken))
	}
	a.Release()
	if len(a.taken) != 0 || a.buf != nil {
		t.Fatal("release kept the chunks")
	}
	b := a.Next(300 << 10)
	if len(b) != 0 || cap(b) < 300<<10 {
		t.Fatalf("after release: next = len %d cap %d", len(b), cap(b))
	}
}
