package jsonx

import (
	"encoding/binary"
	"math/bits"
)

// Member is one member of the outermost object as Scanner.Scan reports it, for callers
// that look at or remove members without decoding the object.
type Member struct {
	// KeyStart is the offset of the key's opening quote, KeyEnd the offset just past
	// its closing quote and ValueEnd the offset just past the value.
	KeyStart, KeyEnd, ValueEnd int
	// Drop marks the member for Cutter.Cut.
	Drop bool
}

// Key returns the member's key as written (still escaped; see KeyIs).
func (m Member) Key(b []byte) []byte { return b[m.KeyStart+1 : m.KeyEnd-1] }

// Value returns the member's value, without the whitespace around it.
func (m Member) Value(b []byte) []byte {
	i := SkipSpace(b, m.KeyEnd) // at the colon
	return b[SkipSpace(b, i+1):m.ValueEnd]
}

// Cutter removes members from objects in place, moving the bytes that stay; it keeps
// its scratch space between calls, so that cutting allocates nothing. The zero Cutter
// is ready to use.
type Cutter struct {
	cuts []cut
}

// cut is a byte range to delete.
type cut struct{ from, to int }

// Cut deletes the members marked Drop from obj[start:], the object whose members (all
// of them, in order) are ms, and returns the object that remains, a subslice of obj
// (obj[start:] when nothing is dropped). obj must end with the object's closing brace.
// Each run of dropped members goes with the comma that joins it to its neighbours, so
// the result is valid JSON: ',"a":1' after another member, '"a":1,' before one, or the
// run alone when it is all the object holds.
func (c *Cutter) Cut(obj []byte, start int, ms []Member) []byte {
	c.cuts = c.cuts[:0]
	for a := 0; a < len(ms); a++ {
		if !ms[a].Drop {
			continue
		}
		z := a
		for z+1 < len(ms) && ms[z+1].Drop {
			z++
		}
		switch {
		case a > 0:
			c.cuts = append(c.cuts, cut{ms[a-1].ValueEnd, ms[z].ValueEnd})
		case z+1 < len(ms):
			c.cuts = append(c.cuts, cut{ms[a].KeyStart, ms[z+1].KeyStart})
		default:
			c.cuts = append(c.cuts, cut{ms[a].KeyStart, ms[z].ValueEnd})
		}
		a = z
	}
	if len(c.cuts) == 0 {
		return obj[start:]
	}
	w := c.cuts[0].from
	for k, ct := range c.cuts {
		next := len(obj)
		if k+1 < len(c.cuts) {
			next = c.cuts[k+1].from
		}
		w += copy(obj[w:], obj[ct.to:next])
	}
	return obj[start:w]
}

// Rebase appends to dst the members of ms that the last Cut kept, their offsets moved
// to the object it returned (start is Cut's start), so that a reader of the cut object
// finds its members without scanning it again. ms must be the members given to that
// Cut.
func (c *Cutter) Rebase(ms []Member, start int, dst []Member) []Member {
	shift, k := start, 0
	for _, m := range ms {
		if m.Drop {
			continue
		}
		for k < len(c.cuts) && c.cuts[k].to <= m.KeyStart {
			shift += c.cuts[k].to - c.cuts[k].from
			k++
		}
		dst = append(dst, Member{KeyStart: m.KeyStart - shift, KeyEnd: m.KeyEnd - shift, ValueEnd: m.ValueEnd - shift})
	}
	return dst
}

// Members calls member for each member of obj, a JSON object that Scan has accepted
// (whitespace around it allowed), with the offsets Scan gives: a second look at part
// of a validated document. It skips values without checking them, so it is several
// times cheaper than Scan; given invalid JSON it stops early, never panics and never
// reads past obj.
func Members(obj []byte, member func(keyStart, keyEnd, valueEnd int)) {
	i := SkipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return
	}
	i = SkipSpace(obj, i+1)
	for i < len(obj) && obj[i] == '"' {
		ks := i
		ke := SkipString(obj, i)
		if ke < 0 {
			return
		}
		i = SkipSpace(obj, ke)
		if i >= len(obj) || obj[i] != ':' {
			return
		}
		i = SkipSpace(obj, i+1)
		ve := skipValue(obj, i)
		if ve < 0 {
			return
		}
		member(ks, ke, ve)
		i = SkipSpace(obj, ve)
		if i >= len(obj) || obj[i] != ',' {
			return
		}
		i = SkipSpace(obj, i+1)
	}
}

// Elements calls element for each element of arr, a JSON array that Scan has accepted
// (whitespace around it allowed), with the offsets of its start and just past its end:
// Members for arrays, as cheap and as safe on invalid JSON.
func Elements(arr []byte, element func(start, end int)) {
	i := SkipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return
	}
	i = SkipSpace(arr, i+1)
	for i < len(arr) && arr[i] != ']' {
		end := skipValue(arr, i)
		if end <= i { // no value here: not JSON
			return
		}
		element(i, end)
		i = SkipSpace(arr, end)
		if i >= len(arr) || arr[i] != ',' {
			return
		}
		i = SkipSpace(arr, i+1)
	}
}

// SkipString returns the offset just past the string whose opening quote is b[i], or
// -1 when it does not end: the first quote not escaped by a backslash. It checks
// nothing else (Scan does), looking at eight bytes a step for a quote or a backslash.
func SkipString(b []byte, i int) int {
	for i++; i < len(b); {
		for i+8 <= len(b) {
			if m := quoteOrBackslash(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		if i >= len(b) {
			return -1
		}
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			i += 2
		default:
			i++
		}
	}
	return -1
}

// quoteOrBackslash is special without the control characters (and part of it): the
// top bits of the bytes of w that are '"' or '\\', the lowest one set always a real
// one.
func quoteOrBackslash(w uint64) uint64 {
	q := w ^ (ones * '"')
	q = (q - ones) &^ q
	bs := w ^ (ones * '\\')
	bs = (bs - ones) &^ bs
	return (q | bs) & tops
}

// skipValue returns the offset just past the value at b[i], or -1: a string, an
// object or array (its brackets counted, its strings skipped), or a literal or number
// (up to the next delimiter).
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return SkipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				if i = SkipString(b, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	for j := i; j < len(b); j++ {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return j
		}
	}
	return len(b)
}
