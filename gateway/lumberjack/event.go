package lumberjack

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
)

// maxDepth is the deepest nesting of objects and arrays an event may have: the limit of
// encoding/json, which the transform tier decodes events with, so that an event this
// receiver accepts is one the next tier can read.
const maxDepth = 10000

// metadataKey is the object Beats add to every event for the Logstash side (beat name,
// version, index hints); it is not part of the event.
const metadataKey = "@metadata"

// scanner checks event documents in one pass, without decoding them: it validates the
// JSON (the grammar encoding/json accepts, including its nesting limit) and finds the
// top-level members named @metadata, which it can cut out in place. A connection owns
// one scanner and reuses it, so scanning allocates nothing.
type scanner struct {
	// stack has bit d set when nesting level d is an object (clear: an array).
	stack [maxDepth/64 + 1]uint64
	// cuts are the byte ranges of doc to delete, in order and disjoint.
	cuts []cut
}

type cut struct{ from, to int }

// scan states: what the next significant byte must start.
const (
	stValue = iota // any value
	stKey          // an object key
	stAfter        // a value just ended: ',' or the closing bracket of its container
)

// event checks that doc is one JSON object (whitespace around it allowed) and, unless
// keepMetadata is set, removes its top-level "@metadata" members by moving the rest of
// the bytes in place. It returns the object, a subslice of doc, or why doc is not an
// event. doc's bytes are modified only when a member is removed.
func (s *scanner) event(doc []byte, keepMetadata bool) ([]byte, error) {
	b := doc
	s.cuts = s.cuts[:0]
	i := skipSpace(b, 0)
	if i == len(b) {
		return nil, fmt.Errorf("event is empty")
	}
	if b[i] != '{' {
		return nil, fmt.Errorf("event is not a JSON object (starts with %q)", b[i])
	}
	start := i

	// Top-level members (depth 1) are tracked for @metadata. A run is consecutive
	// @metadata members; it is cut with the comma that joins it to its neighbours.
	var (
		depth       int
		member      int  // index of the current top-level member
		memberStart int  // offset of its key
		isMeta      bool // whether it is an @metadata member
		prevEnd     int  // end of the previous top-level member's value
		runOpen     bool
		runFirst    bool // the run starts with the object's first member
		runFrom     int  // first byte to cut
		runTo       int  // end of the run's last value
	)
	closeRun := func(nextStart int) {
		switch {
		case !runFirst: // ,"@metadata":{...}
			s.cuts = append(s.cuts, cut{runFrom, runTo})
		case nextStart >= 0: // "@metadata":{...},
			s.cuts = append(s.cuts, cut{runFrom, nextStart})
		default: // the only members
			s.cuts = append(s.cuts, cut{runFrom, runTo})
		}
		runOpen = false
	}

	state := stValue
	for {
		if i >= len(b) && depth > 0 {
			return nil, fmt.Errorf("invalid JSON: unexpected end at byte %d", i)
		}
		switch state {
		case stValue:
			switch c := b[i]; c {
			case '{', '[':
				if depth == maxDepth {
					return nil, fmt.Errorf("invalid JSON: nested deeper than %d at byte %d", maxDepth, i)
				}
				s.push(depth, c == '{')
				depth++
				i = skipSpace(b, i+1)
				if i < len(b) && (b[i] == '}' || b[i] == ']') {
					if (b[i] == '}') != (c == '{') {
						return nil, fmt.Errorf("invalid JSON: unexpected %q at byte %d", b[i], i)
					}
					i++
					depth--
					state = stAfter
				} else if c == '{' {
					state = stKey
				}
				continue
			case '"':
				j := scanString(b, i)
				if j < 0 {
					return nil, fmt.Errorf("invalid JSON: bad string at byte %d", i)
				}
				i = j
			case 't':
				if !bytes.HasPrefix(b[i:], []byte("true")) {
					return nil, fmt.Errorf("invalid JSON: bad literal at byte %d", i)
				}
				i += 4
			case 'f':
				if !bytes.HasPrefix(b[i:], []byte("false")) {
					return nil, fmt.Errorf("invalid JSON: bad literal at byte %d", i)
				}
				i += 5
			case 'n':
				if !bytes.HasPrefix(b[i:], []byte("null")) {
					return nil, fmt.Errorf("invalid JSON: bad literal at byte %d", i)
				}
				i += 4
			default:
				j := scanNumber(b, i)
				if j < 0 {
					return nil, fmt.Errorf("invalid JSON: unexpected %q at byte %d", b[i], i)
				}
				i = j
			}
			state = stAfter

		case stKey:
			if b[i] != '"' {
				return nil, fmt.Errorf("invalid JSON: want an object key at byte %d, found %q", i, b[i])
			}
			j := scanString(b, i)
			if j < 0 {
				return nil, fmt.Errorf("invalid JSON: bad string at byte %d", i)
			}
			if depth == 1 {
				memberStart = i
				isMeta = !keepMetadata && keyIs(b[i+1:j-1], metadataKey)
				if !isMeta && runOpen {
					closeRun(memberStart)
				}
			}
			i = skipSpace(b, j)
			if i >= len(b) || b[i] != ':' {
				return nil, fmt.Errorf("invalid JSON: want ':' after the key at byte %d", i)
			}
			i = skipSpace(b, i+1)
			state = stValue

		case stAfter:
			if depth == 0 {
				if skipSpace(b, i) != len(b) {
					return nil, fmt.Errorf("invalid JSON: data after the object at byte %d", i)
				}
				return s.apply(b[:i], start), nil
			}
			end := i // of the value that just ended
			i = skipSpace(b, i)
			if i >= len(b) {
				continue // reports the unexpected end
			}
			obj := s.isObject(depth - 1)
			if depth == 1 { // a top-level member ended
				if isMeta {
					if !runOpen {
						runOpen, runFirst, runTo = true, member == 0, end
						runFrom = prevEnd
						if runFirst {
							runFrom = memberStart
						}
					}
					runTo = end
				}
				prevEnd = end
				member++
			}
			switch c := b[i]; {
			case c == ',':
				i = skipSpace(b, i+1)
				if obj {
					state = stKey
				} else {
					state = stValue
				}
			case c == '}' && obj, c == ']' && !obj:
				if depth == 1 && runOpen {
					closeRun(-1)
				}
				i++
				depth--
			default:
				return nil, fmt.Errorf("invalid JSON: unexpected %q at byte %d", c, i)
			}
		}
	}
}

// apply deletes the recorded cuts from obj[start:] in place and returns the result.
func (s *scanner) apply(obj []byte, start int) []byte {
	if len(s.cuts) == 0 {
		return obj[start:]
	}
	w := s.cuts[0].from
	for k, c := range s.cuts {
		next := len(obj)
		if k+1 < len(s.cuts) {
			next = s.cuts[k+1].from
		}
		w += copy(obj[w:], obj[c.to:next])
	}
	return obj[start:w]
}

func (s *scanner) push(depth int, object bool) {
	word, bit := depth/64, uint(depth%64)
	if object {
		s.stack[word] |= 1 << bit
	} else {
		s.stack[word] &^= 1 << bit
	}
}

func (s *scanner) isObject(depth int) bool {
	return s.stack[depth/64]&(1<<uint(depth%64)) != 0
}

func skipSpace(b []byte, i int) int {
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
	q := w ^ (ones * '"')
	q = (q - ones) &^ q
	bs := w ^ (ones * '\\')
	bs = (bs - ones) &^ bs
	return (ctl | q | bs) & tops
}

// scanString returns the offset after the string that starts with the quote at b[i],
// or -1 if it is not a valid JSON string. Like encoding/json, it checks escapes and
// control characters but not UTF-8.
func scanString(b []byte, i int) int {
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

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// scanNumber returns the offset after the JSON number at b[i], or -1 if there is none.
func scanNumber(b []byte, i int) int {
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

// keyIs reports whether the raw (still escaped) contents of a valid JSON string decode
// to want, an ASCII string, so that "\u0040metadata" is recognised as "@metadata" the
// way a JSON decoder would see it.
func keyIs(raw []byte, want string) bool {
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
