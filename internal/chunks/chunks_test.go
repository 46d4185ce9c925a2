package chunks

import "testing"

// TestGetPut: Get gives an empty buffer of the least pooled size that holds what was
// asked (its own size beyond Max), and Put takes back only buffers of a pooled size.
func TestGetPut(t *testing.T) {
	for n, want := range map[int]int{0: Min, 1: Min, Min: Min, Min + 1: 2 * Min, 100 << 10: 128 << 10, Max: Max, Max + 1: Max + 1} {
		b := Get(n)
		if len(b) != 0 || cap(b) != want {
			t.Errorf("Get(%d) = len %d cap %d, want cap %d", n, len(b), cap(b), want)
		}
		Put(append(b, 'x')) // a pooled size: taken back (empty when given again)
	}
	for range 3 {
		if b := Get(Min); len(b) != 0 || cap(b) != Min {
			t.Fatalf("Get after Put = len %d cap %d", len(b), cap(b))
		}
	}
	Put(make([]byte, 0, 3*Min)) // not a pooled size: ignored
	Put(nil)
	if b := Get(3 * Min); cap(b) != 4*Min {
		t.Errorf("Get(3*Min) after an odd-sized Put: cap %d, want %d", cap(b), 4*Min)
	}
}
