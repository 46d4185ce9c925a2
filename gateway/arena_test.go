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

// TestArenaRelease: an arena gives back the chunks it took and forgets them; the
// buffer of an event larger than any chunk is taken and given back like the others
// (internal/chunks leaves it to the collector); next works again after release.
func TestArenaRelease(t *testing.T) {
	a := arena{size: 10 << 10}
	for range 3 {
		b := a.next(300 << 10)
		a.keep(append(b, bytes.Repeat([]byte{'x'}, 300<<10)...))
	}
	a.keep(append(a.next(8*envelopeChunk), 'y'))
	// 300 KiB in a 512 KiB chunk (the first, sized by the 10 KiB hint and the event),
	// then 600 KiB in a 1 MiB one, then the 8 MiB buffer.
	if len(a.chunks) != 3 || cap(a.chunks[0]) != 512<<10 || cap(a.chunks[1]) != envelopeChunk || cap(a.chunks[2]) != 8*envelopeChunk {
		t.Fatalf("chunks taken: %d, want 512 KiB, 1 MiB and 8 MiB", len(a.chunks))
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
