package chunks

import "testing"

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
