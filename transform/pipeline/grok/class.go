package grok

import (
	"sync"
	"unicode"
	"unicode/utf8"
)

// charClass is a set of runes, with a byte table for the fast path: an ASCII byte is
// looked up directly; a byte >= 0x80 is looked up directly too when every rune >= 0x80
// is in the class (highAll) or none is (highNone), and otherwise decoded. Decoding
// follows regexp: an invalid byte is U+FFFD, one byte wide.
type charClass struct {
	tab      [256]bool
	highAll  bool
	highNone bool
	ranges   []rune // pairs lo, hi of the runes >= 0x80, for the mixed case
}

// classes holds every class made, by its rune pairs: a class is never changed once
// made, and the expressions of a configuration repeat the same few ([0-9], \s, [^ ])
// thousands of times over (the cisco_asa sample's patterns made 1.5 MiB of classes, 77
// distinct ones; all the samples together 92). The set is bounded by the
// configurations compiled, not by input.
var classes struct {
	sync.Mutex
	m map[string]*charClass
}

// newClass returns the class of the runes in pairs (lo, hi, lo, hi, ...), shared with
// every other class of the same pairs.
func newClass(pairs []rune) *charClass {
	key := string(pairs)
	classes.Lock()
	defer classes.Unlock()
	if c, ok := classes.m[key]; ok {
		return c
	}
	if classes.m == nil {
		classes.m = map[string]*charClass{}
	}
	c := makeClass(pairs)
	classes.m[key] = c
	return c
}

func makeClass(pairs []rune) *charClass {
	c := &charClass{}
	var high []rune
	for i := 0; i+1 < len(pairs); i += 2 {
		lo, hi := pairs[i], pairs[i+1]
		for r := lo; r <= hi && r < utf8.RuneSelf; r++ {
			c.tab[r] = true
		}
		if hi >= utf8.RuneSelf {
			high = append(high, max(lo, utf8.RuneSelf), hi)
		}
	}
	c.ranges = high
	c.highNone = len(high) == 0
	c.highAll = coversHigh(high)
	for b := utf8.RuneSelf; b < 256; b++ {
		c.tab[b] = c.highAll
	}
	return c
}

// coversHigh reports whether the ranges cover every rune from 0x80 to MaxRune.
func coversHigh(ranges []rune) bool {
	next := rune(utf8.RuneSelf)
	for {
		extended := false
		for i := 0; i+1 < len(ranges); i += 2 {
			if ranges[i] <= next && ranges[i+1] >= next {
				if ranges[i+1] == unicode.MaxRune {
					return true
				}
				next = ranges[i+1] + 1
				extended = true
			}
		}
		if !extended {
			return false
		}
	}
}

func (c *charClass) hasRune(r rune) bool {
	if r < utf8.RuneSelf {
		return c.tab[r]
	}
	if c.highAll {
		return true
	}
	for i := 0; i+1 < len(c.ranges); i += 2 {
		if r >= c.ranges[i] && r <= c.ranges[i+1] {
			return true
		}
	}
	return false
}

// at returns the width of the rune at s[i] if it is in the class, else 0.
func (c *charClass) at(s string, i int) int {
	b := s[i]
	if b < utf8.RuneSelf {
		if c.tab[b] {
			return 1
		}
		return 0
	}
	if c.highNone {
		return 0
	}
	r, w := utf8.DecodeRuneInString(s[i:])
	if c.highAll || c.hasRune(r) {
		return w
	}
	return 0
}

// first returns the bytes a rune of the class can start with.
func (c *charClass) first() firstSet {
	var f firstSet
	for b := 0; b < utf8.RuneSelf; b++ {
		if c.tab[b] {
			f.add(byte(b))
		}
	}
	if !c.highNone {
		f.addHigh()
	}
	return f
}

// wordOnly reports whether every rune of the class is an ASCII word character.
func (c *charClass) wordOnly() bool {
	if !c.highNone {
		return false
	}
	for b := 0; b < utf8.RuneSelf; b++ {
		if c.tab[b] && !isWordByte(byte(b)) {
			return false
		}
	}
	return true
}

// firstSet is what can come first in a match from some instruction on: one of the
// bytes in bits, or nothing at all (empty: the rest can match without consuming).
type firstSet struct {
	bits  [4]uint64
	empty bool
}

func anyFirst() firstSet {
	return firstSet{bits: [4]uint64{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}, empty: true}
}

func (f *firstSet) add(b byte) { f.bits[b>>6] |= 1 << (b & 63) }

func (f *firstSet) addHigh() { f.bits[2], f.bits[3] = ^uint64(0), ^uint64(0) }

func (f *firstSet) has(b byte) bool { return f.bits[b>>6]&(1<<(b&63)) != 0 }

func (f *firstSet) union(g firstSet) {
	for i := range f.bits {
		f.bits[i] |= g.bits[i]
	}
	f.empty = f.empty || g.empty
}

func (f firstSet) intersects(g firstSet) bool {
	for i := range f.bits {
		if f.bits[i]&g.bits[i] != 0 {
			return true
		}
	}
	return false
}

// can reports whether a match may start at s[pos:].
func (f *firstSet) can(s string, pos int) bool {
	if f.empty {
		return true
	}
	return pos < len(s) && f.has(s[pos])
}

func isWordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_'
}
