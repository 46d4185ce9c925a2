package jsonx

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"strconv"
)

// Scanner checks JSON documents in one pass without decoding them: the grammar
// encoding/json accepts, a nesting limit, and numbers a float64 can hold. It never
// recurses and never allocates while scanning: its nesting stack is a bit set sized by
// the limit when the Scanner is made, so no input, however deep, can grow a stack or
// the heap. The receivers validate every event with it before anything else reads the
// event. A Scanner is used by one goroutine at a time and reused across documents.
type Scanner struct {
	maxDepth int
	// stack has bit d set when nesting level d is an object (clear: an array).
	stack []uint64
	// keys are the keys of the members open at each level, for ScanPaths.
	keys [MaxPathLevels]Key
}

// Key is where a member's key is in a document: the offset of its opening quote and
// the offset just past its closing quote.
type Key struct{ Start, End int }

// MaxPathLevels is the deepest level ScanPaths reports members at.
const MaxPathLevels = 4

// NewScanner returns a Scanner that refuses documents nested deeper than maxDepth
// levels; maxDepth outside 1..MaxDepth means MaxDepth.
func NewScanner(maxDepth int) *Scanner {
	if maxDepth < 1 || maxDepth > MaxDepth {
		maxDepth = MaxDepth
	}
	return &Scanner{maxDepth: maxDepth, stack: make([]uint64, maxDepth/64+1)}
}

// MaxDepth returns the Scanner's nesting limit.
func (s *Scanner) MaxDepth() int { return s.maxDepth }

// Valid reports whether b holds one JSON value, with whitespace around it allowed. The
// error is a *SyntaxError whose message is phrased as encoding/json's; it wraps
// ErrTooDeep or ErrNumberRange for those two problems.
func (s *Scanner) Valid(b []byte) error { return s.Scan(b, nil) }

// OK reports whether Valid would return nil, without describing a problem: cheaper
// than Valid on input that is not valid, for probes such as "is this body one object".
func (s *Scanner) OK(b []byte) bool { return s.scan(b, nil, 0, nil) == nil }

// Scan is Valid that also reports the members of the outermost value when it is an
// object: member is called for each, in order, once its value has been scanned, with
// the offsets of its key's opening quote, just past the key's closing quote, and just
// past its value. Scan stops at the first problem; members reported before it were
// valid.
func (s *Scanner) Scan(b []byte, member func(keyStart, keyEnd, valueEnd int)) error {
	return s.described(b, s.scan(b, member, 0, nil))
}

// ScanPaths is Scan that reports the members of the objects within the outermost one
// too, down to levels deep (1 to MaxPathLevels; 1 is Scan's members): member is called
// once each one's value has been scanned, with path, the keys of the members around
// it from the outermost in and its own last (valid during the call only), and the
// offset just past its value. Members of objects within arrays are not reported. It is
// for callers that want a few nested values of a document they validate anyway,
// without walking it again.
func (s *Scanner) ScanPaths(b []byte, levels int, member func(path []Key, valueEnd int)) error {
	levels = max(1, min(levels, MaxPathLevels))
	if member == nil {
		levels = 0
	}
	return s.described(b, s.scan(b, nil, levels, member))
}

// described returns err with a grammar error described.
func (s *Scanner) described(b []byte, err error) error {
	if g, ok := err.(grammarError); ok {
		return s.syntaxError(b, int(g))
	}
	return err
}

// grammarError is the offset of a grammar error that scan met and has not described.
type grammarError int

func (g grammarError) Error() string { return fmt.Sprintf("invalid JSON at offset %d", int(g)) }

// scan is Scan, and ScanPaths when levels is above 0, with grammar errors left
// undescribed (grammarError).
func (s *Scanner) scan(b []byte, member func(keyStart, keyEnd, valueEnd int), levels int, nested func(path []Key, valueEnd int)) error {
	const (
		stValue = iota // any value
		stKey          // an object key
		stAfter        // a value just ended: ',' or the closing bracket of its container
	)
	var (
		depth          int
		keyStart, keyE int
		// objects is how many of the open containers, from the outermost in, are
		// objects: the members of the innermost one have a path when it is depth.
		objects int
	)
	i := SkipSpace(b, 0)
	state := stValue
	for {
		switch state {
		case stValue:
			if i >= len(b) {
				return grammarError(i)
			}
			switch c := b[i]; c {
			case '{', '[':
				if depth == s.maxDepth {
					return tooDeep(i, s.maxDepth)
				}
				s.push(depth, c == '{')
				if objects == depth && c == '{' {
					objects++
				}
				depth++
				i = SkipSpace(b, i+1)
				if i < len(b) && (b[i] == '}' || b[i] == ']') {
					if (b[i] == '}') != (c == '{') {
						return grammarError(i)
					}
					i++
					depth--
					objects = min(objects, depth)
					state = stAfter
				} else if c == '{' {
					state = stKey
				}
				continue
			case '"':
				j := ScanString(b, i)
				if j < 0 {
					return grammarError(i)
				}
				i = j
			case 't', 'f', 'n':
				lit := literalOf(c)
				if !bytes.HasPrefix(b[i:], lit) {
					return grammarError(i)
				}
				i += len(lit)
			default:
				j := ScanNumber(b, i)
				if j < 0 {
					return grammarError(i)
				}
				if !FiniteNumber(b[i:j]) {
					return &SyntaxError{Offset: i, msg: fmt.Sprintf("number %.40s is out of range", b[i:j]), kind: ErrNumberRange}
				}
				i = j
			}
			state = stAfter

		case stKey:
			if i >= len(b) || b[i] != '"' {
				return grammarError(i)
			}
			j := ScanString(b, i)
			if j < 0 {
				return grammarError(i)
			}
			if depth == 1 {
				keyStart, keyE = i, j
			}
			if depth <= levels && objects == depth {
				s.keys[depth-1] = Key{Start: i, End: j}
			}
			i = SkipSpace(b, j)
			if i >= len(b) || b[i] != ':' {
				return grammarError(i)
			}
			i = SkipSpace(b, i+1)
			state = stValue

		case stAfter:
			if depth == 0 {
				if SkipSpace(b, i) != len(b) {
					return grammarError(i)
				}
				return nil
			}
			end := i // of the value that just ended
			i = SkipSpace(b, i)
			if i >= len(b) {
				return grammarError(i)
			}
			obj := s.isObject(depth - 1)
			if depth == 1 && obj && member != nil {
				member(keyStart, keyE, end)
			}
			if depth <= levels && objects == depth {
				nested(s.keys[:depth], end)
			}
			switch c := b[i]; {
			case c == ',':
				i = SkipSpace(b, i+1)
				if obj {
					state = stKey
				} else {
					state = stValue
				}
			case c == '}' && obj, c == ']' && !obj:
				i++
				depth--
				objects = min(objects, depth)
			default:
				return grammarError(i)
			}
		}
	}
}

// syntaxError describes the grammar error the scan met at off. The Decoder, whose
// messages are encoding/json's, says what it is; its recursion is bounded by the same
// limit, and this runs only for input that is already refused.
func (s *Scanner) syntaxError(b []byte, off int) error {
	d := Decoder{data: b, maxDepth: s.maxDepth}
	if _, err := d.Skip(); err != nil {
		return err
	}
	if err := d.End(); err != nil {
		return err
	}
	return &SyntaxError{Offset: off, msg: "invalid JSON"}
}

func (s *Scanner) push(depth int, object bool) {
	word, bit := depth/64, uint(depth%64)
	if object {
		s.stack[word] |= 1 << bit
	} else {
		s.stack[word] &^= 1 << bit
	}
}

func (s *Scanner) isObject(depth int) bool {
	return s.stack[depth/64]&(1<<uint(depth%64)) != 0
}

var (
	litTrue  = []byte("true")
	litFalse = []byte("false")
	litNull  = []byte("null")
)

func literalOf(c byte) []byte {
	switch c {
	case 't':
		return litTrue
	case 'f':
		return litFalse
	default:
		return litNull
	}
}

// SkipSpace returns the offset of the first byte at or after i that is not JSON
// whitespace, or len(b).
func SkipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// Word-at-a-time constants: one in every byte, and the top bit of every byte.
const (
	ones = 0x0101010101010101
	tops = 0x8080808080808080
)

// special returns the top bits of the bytes of w (little endian) that a JSON string
// scan must look at: '"', '\\' and control characters. The lowest bit set is always a
// real one; bits above it may be false alarms, which the byte loop sorts out.
func special(w uint64) uint64 {
	ctl := (w - ones*0x20) &^ w
	return ctl&tops | quoteOrBackslash(w)
}

// ScanString returns the offset just past the JSON string that starts with the quote
// at b[i], or -1 if it is not a valid JSON string. Like encoding/json, it checks escapes
// and control characters but not UTF-8.
func ScanString(b []byte, i int) int {
	i++
	for {
		for i+8 <= len(b) {
			if m := special(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		if i >= len(b) {
			return -1
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c == '\\':
			if i+1 >= len(b) {
				return -1
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return -1
				}
				i += 6
			default:
				return -1
			}
		case c < 0x20:
			return -1
		default:
			i++
		}
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// ScanNumber returns the offset just past the JSON number at b[i], or -1 if there is
// none.
func ScanNumber(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	return i
}

// FiniteNumber reports whether the valid JSON number num fits a float64: 1e999 does
// not (a number that small, 1e-999, reads as 0 and is kept). Only numbers with an
// exponent or over 300 bytes are parsed, so the common case costs a byte scan.
func FiniteNumber(num []byte) bool {
	if len(num) <= 300 && !bytes.ContainsAny(num, "eE") {
		return true // under 10^300 without an exponent
	}
	f, err := strconv.ParseFloat(string(num), 64)
	return err == nil || !math.IsInf(f, 0)
}

// Escaped reports whether raw, a JSON string or key as written, holds a backslash:
// a loop, cheaper than a call to bytes.IndexByte on strings as short as most keys.
func Escaped(raw []byte) bool {
	for _, c := range raw {
		if c == '\\' {
			return true
		}
	}
	return false
}

// KeyIs reports whether the raw (still escaped) contents of a valid JSON string decode
// to want, an ASCII string, so that "\u0040metadata" is recognised as "@metadata" the
// way a JSON decoder would see it.
func KeyIs(raw []byte, want string) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw) == want
	}
	j := 0
	for i := 0; i < len(raw); j++ {
		c := raw[i]
		if c == '\\' {
			switch e := raw[i+1]; e {
			case 'u':
				var r rune
				for _, h := range raw[i+2 : i+6] {
					r = r<<4 | rune(unhex(h))
				}
				if r >= 0x80 { // want is ASCII; surrogates decode to non-ASCII too
					return false
				}
				c, i = byte(r), i+6
			case 'b':
				c, i = '\b', i+2
			case 'f':
				c, i = '\f', i+2
			case 'n':
				c, i = '\n', i+2
			case 'r':
				c, i = '\r', i+2
			case 't':
				c, i = '\t', i+2
			default: // '"', '\\', '/'
				c, i = e, i+2
			}
		} else {
			i++
		}
		if j >= len(want) || want[j] != c {
			return false
		}
	}
	return j == len(want)
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
