package jsonx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Encoder appends documents as compact JSON, byte for byte as a json.Encoder with
// SetEscapeHTML(false) writes them (without the trailing newline): map keys sorted,
// numbers formatted as encoding/json formats them. Values other than the document
// model's (map[string]any, []any, string, bool, nil, json.Number, int64, int,
// float64) are encoded by encoding/json itself. The zero Encoder is ready to use; it
// reuses its scratch space across calls and is not safe for concurrent use.
type Encoder struct {
	// members is a stack of the members of the objects being encoded, each object's
	// sorted in place: taking the values with the keys spares a map lookup per key.
	members []member
	// other encodes values outside the document model.
	other    *json.Encoder
	otherBuf bytes.Buffer
}

// Append appends the JSON of v to dst. On error dst is returned as it was.
func (e *Encoder) Append(dst []byte, v any) ([]byte, error) {
	out, err := e.value(dst, v)
	if err != nil {
		return dst, err
	}
	return out, nil
}

func (e *Encoder) value(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return AppendString(dst, v), nil
	case map[string]any:
		return e.object(dst, v)
	case []any:
		if v == nil {
			return append(dst, "null"...), nil
		}
		dst = append(dst, '[')
		for i, x := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = e.value(dst, x); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case json.Number:
		s := string(v)
		if s == "" {
			s = "0"
		}
		if !ValidNumber(s) {
			return dst, fmt.Errorf("json: invalid number literal %q", s)
		}
		return append(dst, s...), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case int64:
		return strconv.AppendInt(dst, v, 10), nil
	case int:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case float64:
		return AppendFloat(dst, v)
	default:
		return e.encodeOther(dst, v)
	}
}

// member is one key and value of an object being encoded.
type member struct {
	key string
	val any
}

func (e *Encoder) object(dst []byte, m map[string]any) ([]byte, error) {
	if m == nil {
		return append(dst, "null"...), nil
	}
	// Most objects are small: their members go in an array on the stack and are sorted
	// through an array of indexes, so sorting moves no pointers and costs no write
	// barriers (a collection is nearly always running while documents are encoded).
	// Larger objects use e.members.
	if len(m) <= smallObject {
		var buf [smallObject]member
		var order [smallObject]uint8
		n := 0
		for k, v := range m {
			if n == len(buf) { // m grew under us (a concurrent writer): encode what we have
				break
			}
			buf[n] = member{k, v}
			order[n] = uint8(n)
			n++
		}
		for i := 1; i < n; i++ {
			for j := i; j > 0 && keyLess(buf[order[j]].key, buf[order[j-1]].key); j-- {
				order[j], order[j-1] = order[j-1], order[j]
			}
		}
		dst = append(dst, '{')
		var err error
		for i, o := range order[:n] {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendKey(dst, buf[o].key)
			dst = append(dst, ':')
			if dst, err = e.value(dst, buf[o].val); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	}
	start := len(e.members)
	for k, v := range m {
		e.members = append(e.members, member{k, v})
	}
	ms := e.members[start:]
	slices.SortFunc(ms, func(a, b member) int { return strings.Compare(a.key, b.key) })
	// Nested objects may reallocate e.members: ms keeps the array it was taken from.
	dst = append(dst, '{')
	var err error
	for i := range ms {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendKey(dst, ms[i].key)
		dst = append(dst, ':')
		if dst, err = e.value(dst, ms[i].val); err != nil {
			break
		}
	}
	clear(e.members[start:])
	e.members = e.members[:start]
	if err != nil {
		return dst, err
	}
	return append(dst, '}'), nil
}

// appendKey is AppendString for an object's key: keys are short and nearly always
// printable ASCII without quotes or backslashes, which one loop checks before they are
// copied whole.
func appendKey(dst []byte, key string) []byte {
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < ' ' || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return AppendString(dst, key)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, key...)
	return append(dst, '"')
}

// keyLess is a < b, deciding by the first bytes inline when they differ (keys mostly
// do), without a call to the runtime's string comparison.
func keyLess(a, b string) bool {
	if len(a) > 0 && len(b) > 0 && a[0] != b[0] {
		return a[0] < b[0]
	}
	return a < b
}

// smallObject is the most members an object may have to be encoded from the stack.
const smallObject = 16

// encodeOther encodes a value outside the document model with encoding/json.
func (e *Encoder) encodeOther(dst []byte, v any) ([]byte, error) {
	if e.other == nil {
		e.other = json.NewEncoder(&e.otherBuf)
		e.other.SetEscapeHTML(false)
	}
	e.otherBuf.Reset()
	if err := e.other.Encode(v); err != nil {
		return dst, err
	}
	return append(dst, bytes.TrimSuffix(e.otherBuf.Bytes(), []byte{'\n'})...), nil
}

// AppendFloat appends f as encoding/json formats a float64; NaN and infinities, which
// JSON cannot hold, are an error.
func AppendFloat(dst []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, fmt.Errorf("json: unsupported value: %s", strconv.FormatFloat(f, 'g', -1, 64))
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// e-09 becomes e-9, as in encoding/json.
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, nil
}

// ValidNumber reports whether s is a JSON number literal.
func ValidNumber(s string) bool {
	if s == "" {
		return false
	}
	d := Decoder{data: []byte(s)}
	if s[0] != '-' && (s[0] < '0' || s[0] > '9') {
		return false
	}
	if _, err := d.scanNumber(); err != nil {
		return false
	}
	return d.pos == len(s)
}

// plain8 reports whether none of the 8 bytes of s needs escaping or UTF-8 checking:
// no control character, '"', '\\' or byte of a multi-byte character.
func plain8[S ~string | ~[]byte](s S) bool { return specialBytes(word(s, 0)) == 0 }

// word returns the 8 bytes of s from i as a little-endian number (one load).
func word[S ~string | ~[]byte](s S, i int) uint64 {
	b := s[i : i+8]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// specialBytes is not zero when one of the 8 bytes of x needs escaping or UTF-8
// checking: what the scanner's special finds, and bytes of multi-byte characters.
func specialBytes(x uint64) uint64 { return special(x) | x&tops }

// AppendString appends s as a JSON string, escaped as encoding/json escapes it without
// HTML escaping: '"', '\\' and control characters escaped, invalid UTF-8 as \ufffd,
// U+2028 and U+2029 as \u2028 and \u2029. s is a string or bytes (a decoder's slice of
// its input: no string is made of it).
func AppendString[S ~string | ~[]byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Sixteen, then eight bytes at a time while none needs a second look.
		for i+16 <= len(s) && specialBytes(word(s, i))|specialBytes(word(s, i+8)) == 0 {
			i += 16
		}
		for i+8 <= len(s) && specialBytes(word(s, i)) == 0 {
			i += 8
		}
		if i >= len(s) {
			break
		}
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= ' ' && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := decodeRune(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// decodeRune is utf8.DecodeRune of a string or bytes.
func decodeRune[S ~string | ~[]byte](s S) (rune, int) {
	// At most utf8.UTFMax bytes: the conversion of so few bytes to a string that does
	// not escape needs no allocation.
	return utf8.DecodeRuneInString(string(s[:min(len(s), utf8.UTFMax)]))
}
