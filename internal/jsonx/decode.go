// Package jsonx is sluice's JSON codec for event documents. The transform step uses it
// for its document model (transform/event), and the receivers use its string and
// number appenders to write JSON without reflection. It decodes an event straight into map[string]any, []any, string,
// json.Number, bool and nil, exactly the values encoding/json gives with UseNumber, and
// encodes such documents back byte for byte as encoding/json does without HTML
// escaping. It exists because encoding/json's reflection costs more per event than the
// pipelines do; the fuzz tests next to it hold it to encoding/json's results.
package jsonx

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of objects and arrays any limit may allow, counted
// from the outermost value of the input: encoding/json's own limit, and what a Decoder
// allows unless SetMaxDepth lowers it.
const MaxDepth = 10000

// DefaultMaxDepth is the nesting limit sluice applies to events by default
// (limits.max_depth): far beyond any real log, yet shallow enough that no recursion
// over a document can grow a stack.
const DefaultMaxDepth = 100

// ErrTooDeep is wrapped by the SyntaxError of input nested deeper than the limit.
var ErrTooDeep = errors.New("nested too deeply")

// ErrNumberRange is wrapped by the SyntaxError of a number no float64 can hold, such as
// 1e999, which JSON readers downstream refuse or turn into an infinity.
var ErrNumberRange = errors.New("number out of range")

// SyntaxError describes input that is not valid JSON, nests deeper than the limit, or
// holds a number out of range.
type SyntaxError struct {
	// Offset is the byte offset in the input where the problem was found.
	Offset int
	msg    string
	kind   error // ErrTooDeep, ErrNumberRange or nil
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s at offset %d", e.msg, e.Offset)
}

// Message is the description without the offset, phrased as encoding/json phrases its
// syntax errors.
func (e *SyntaxError) Message() string { return e.msg }

// Unwrap returns ErrTooDeep or ErrNumberRange for those problems, nil for syntax.
func (e *SyntaxError) Unwrap() error { return e.kind }

// errNotObject is returned by DecodeObject for a value that is not an object.
var errNotObject = errors.New("not a JSON object")

// Decoder reads JSON values from one input, which it does not modify. Strings without
// escapes share the memory of one copy of the input, so a decoded document costs one
// allocation for all of its plain strings, keys and numbers. The zero Decoder is not
// usable; make one with NewDecoder. A Decoder is not safe for concurrent use.
type Decoder struct {
	data     []byte
	str      string // data as a string, made on the first string or number decoded
	pos      int
	depth    int
	maxDepth int // 0: MaxDepth
	// newObject, when set, makes the objects Value decodes (see SetNewObject).
	newObject func(hint int) map[string]any
}

// SetNewObject makes every object Value decodes from then on come from newObject (a
// pool of recycled, empty maps, say) rather than be allocated; nil allocates again.
// The maps must be empty: the decoded members go into them.
func (d *Decoder) SetNewObject(newObject func(hint int) map[string]any) {
	d.newObject = newObject
}

// SetMaxDepth lowers the nesting limit of d (MaxDepth by default); n outside 1..MaxDepth
// means MaxDepth. The limit is checked before each level is entered, so the recursion
// of decoding is bounded by it.
func (d *Decoder) SetMaxDepth(n int) {
	if n < 1 || n > MaxDepth {
		n = MaxDepth
	}
	d.maxDepth = n
}

// limit is the nesting limit in force.
func (d *Decoder) limit() int {
	if d.maxDepth == 0 {
		return MaxDepth
	}
	return d.maxDepth
}

// NewDecoder returns a Decoder reading data from its start, at nesting depth 0.
func NewDecoder(data []byte) *Decoder {
	return &Decoder{data: data}
}

// DecodeObject decodes data, which must hold one JSON object and nothing else but
// whitespace, into a map.
func DecodeObject(data []byte) (map[string]any, error) { return DecodeObjectDepth(data, MaxDepth) }

// DecodeObjectDepth is DecodeObject nesting no deeper than maxDepth levels (see
// SetMaxDepth).
func DecodeObjectDepth(data []byte, maxDepth int) (map[string]any, error) {
	d := Decoder{data: data}
	d.SetMaxDepth(maxDepth)
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] != '{' {
		if _, err := d.Value(); err != nil {
			return nil, err
		}
		return nil, errNotObject
	}
	v, err := d.Value()
	if err != nil {
		return nil, err
	}
	if err := d.End(); err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

// Decode decodes data, which must hold one JSON value and nothing else but whitespace.
func Decode(data []byte) (any, error) { return DecodeDepth(data, MaxDepth) }

// DecodeDepth is Decode nesting no deeper than maxDepth levels (see SetMaxDepth).
func DecodeDepth(data []byte, maxDepth int) (any, error) {
	d := Decoder{data: data}
	d.SetMaxDepth(maxDepth)
	v, err := d.Value()
	if err != nil {
		return nil, err
	}
	if err := d.End(); err != nil {
		return nil, err
	}
	return v, nil
}

// DecodeDepthInto is DecodeDepth with every object made by newObject (from a pool of
// recycled maps, say) rather than allocated: the outermost one's members go straight
// into it. The value and the errors are DecodeDepth's.
func DecodeDepthInto(data []byte, maxDepth int, newObject func(hint int) map[string]any) (any, error) {
	d := Decoder{data: data, newObject: newObject}
	d.SetMaxDepth(maxDepth)
	if d.Peek() != '{' {
		v, err := d.Value()
		if err != nil {
			return nil, err
		}
		if err := d.End(); err != nil {
			return nil, err
		}
		return v, nil
	}
	obj := newObject(16)
	err := d.Object(func(key string) error {
		v, err := d.Value()
		if err != nil {
			return err
		}
		obj[key] = v
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := d.End(); err != nil {
		return nil, err
	}
	return obj, nil
}

// End reports an error unless only whitespace is left.
func (d *Decoder) End() error {
	d.skipSpace()
	if d.pos < len(d.data) {
		return d.errorf("invalid character %s after top-level value", quoteChar(d.data[d.pos]))
	}
	return nil
}

func (d *Decoder) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: d.pos, msg: fmt.Sprintf(format, args...)}
}

func (d *Decoder) eof() error {
	return &SyntaxError{Offset: d.pos, msg: "unexpected end of JSON input"}
}

// quoteChar formats c as encoding/json does in its errors.
func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	s := strconv.Quote(string(rune(c)))
	return "'" + s[1:len(s)-1] + "'"
}

func (d *Decoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// Peek skips whitespace and returns the next byte, or 0 at the end of the input.
func (d *Decoder) Peek() byte {
	d.skipSpace()
	if d.pos < len(d.data) {
		return d.data[d.pos]
	}
	return 0
}

// Value decodes the next value.
func (d *Decoder) Value() (any, error) {
	d.skipSpace()
	if d.pos >= len(d.data) {
		return nil, d.eof()
	}
	switch c := d.data[d.pos]; c {
	case '{':
		return d.object()
	case '[':
		return d.array()
	case '"':
		return d.String()
	case 't':
		return true, d.literal("true")
	case 'f':
		return false, d.literal("false")
	case 'n':
		return nil, d.literal("null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return d.number()
		}
		return nil, d.errorf("invalid character %s looking for beginning of value", quoteChar(c))
	}
}

// Skip validates the next value and returns its bytes, without decoding it.
func (d *Decoder) Skip() ([]byte, error) {
	d.skipSpace()
	start := d.pos
	if d.pos >= len(d.data) {
		return nil, d.eof()
	}
	var err error
	switch c := d.data[d.pos]; {
	case c == '{' || c == '[':
		err = d.skipComposite()
	case c == '"':
		_, _, err = d.scanString()
	case c == 't':
		err = d.literal("true")
	case c == 'f':
		err = d.literal("false")
	case c == 'n':
		err = d.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		_, err = d.scanNumber()
	default:
		err = d.errorf("invalid character %s looking for beginning of value", quoteChar(c))
	}
	if err != nil {
		return nil, err
	}
	return d.data[start:d.pos], nil
}

// skipComposite validates an object or array starting at d.pos.
func (d *Decoder) skipComposite() error {
	if d.data[d.pos] == '{' {
		return d.Object(func(string) error {
			_, err := d.Skip()
			return err
		})
	}
	if err := d.enter(); err != nil {
		return err
	}
	d.pos++ // '['
	if d.Peek() == ']' {
		d.pos++
		d.depth--
		return nil
	}
	for {
		if _, err := d.Skip(); err != nil {
			return err
		}
		switch d.Peek() {
		case ',':
			d.pos++
		case ']':
			d.pos++
			d.depth--
			return nil
		case 0:
			if d.pos >= len(d.data) {
				return d.eof()
			}
			fallthrough
		default:
			return d.errorf("invalid character %s after array element", quoteChar(d.data[d.pos]))
		}
	}
}

func (d *Decoder) enter() error {
	d.depth++
	if d.depth > d.limit() {
		return tooDeep(d.pos, d.limit())
	}
	return nil
}

func tooDeep(off, limit int) error {
	return &SyntaxError{Offset: off, msg: fmt.Sprintf("nested deeper than %d levels", limit), kind: ErrTooDeep}
}

func (d *Decoder) literal(lit string) error {
	for i := 0; i < len(lit); i++ {
		if d.pos >= len(d.data) {
			return d.eof()
		}
		if d.data[d.pos] != lit[i] {
			return d.errorf("invalid character %s in literal %s (expecting %s)", quoteChar(d.data[d.pos]), lit, quoteChar(lit[i]))
		}
		d.pos++
	}
	return nil
}

// Object decodes an object starting at the next value, calling member for each key
// with the Decoder positioned at the key's value; member must consume that value (with
// Value, Skip, String or a nested Object) or return an error.
func (d *Decoder) Object(member func(key string) error) error {
	if d.Peek() != '{' {
		if d.pos >= len(d.data) {
			return d.eof()
		}
		return d.errorf("invalid character %s looking for beginning of object", quoteChar(d.data[d.pos]))
	}
	if err := d.enter(); err != nil {
		return err
	}
	d.pos++
	if d.Peek() == '}' {
		d.pos++
		d.depth--
		return nil
	}
	for {
		if c := d.Peek(); c != '"' {
			if d.pos >= len(d.data) {
				return d.eof()
			}
			return d.errorf("invalid character %s looking for beginning of object key string", quoteChar(c))
		}
		key, err := d.String()
		if err != nil {
			return err
		}
		if c := d.Peek(); c != ':' {
			if d.pos >= len(d.data) {
				return d.eof()
			}
			return d.errorf("invalid character %s after object key", quoteChar(c))
		}
		d.pos++
		if err := member(key); err != nil {
			return err
		}
		switch c := d.Peek(); c {
		case ',':
			d.pos++
		case '}':
			d.pos++
			d.depth--
			return nil
		default:
			if d.pos >= len(d.data) {
				return d.eof()
			}
			return d.errorf("invalid character %s after object key:value pair", quoteChar(c))
		}
	}
}

// object decodes an object into a map; d.pos is at '{'.
func (d *Decoder) object() (map[string]any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	d.pos++
	var m map[string]any
	if d.newObject != nil {
		m = d.newObject(8)
	} else {
		m = make(map[string]any)
	}
	if d.Peek() == '}' {
		d.pos++
		d.depth--
		return m, nil
	}
	for {
		if c := d.Peek(); c != '"' {
			if d.pos >= len(d.data) {
				return nil, d.eof()
			}
			return nil, d.errorf("invalid character %s looking for beginning of object key string", quoteChar(c))
		}
		key, err := d.String()
		if err != nil {
			return nil, err
		}
		if c := d.Peek(); c != ':' {
			if d.pos >= len(d.data) {
				return nil, d.eof()
			}
			return nil, d.errorf("invalid character %s after object key", quoteChar(c))
		}
		d.pos++
		v, err := d.Value()
		if err != nil {
			return nil, err
		}
		m[key] = v
		switch c := d.Peek(); c {
		case ',':
			d.pos++
		case '}':
			d.pos++
			d.depth--
			return m, nil
		default:
			if d.pos >= len(d.data) {
				return nil, d.eof()
			}
			return nil, d.errorf("invalid character %s after object key:value pair", quoteChar(c))
		}
	}
}

// array decodes an array; d.pos is at '['. An empty array is a non-nil empty slice,
// as in encoding/json.
func (d *Decoder) array() ([]any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	d.pos++
	a := make([]any, 0)
	if d.Peek() == ']' {
		d.pos++
		d.depth--
		return a, nil
	}
	for {
		v, err := d.Value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		switch c := d.Peek(); c {
		case ',':
			d.pos++
		case ']':
			d.pos++
			d.depth--
			return a, nil
		default:
			if d.pos >= len(d.data) {
				return nil, d.eof()
			}
			return nil, d.errorf("invalid character %s after array element", quoteChar(c))
		}
	}
}

// substr returns data[i:j] as a string sharing one copy of the input.
func (d *Decoder) substr(i, j int) string {
	if d.str == "" {
		d.str = string(d.data)
	}
	return d.str[i:j]
}

// number decodes a number literal as a json.Number.
func (d *Decoder) number() (json.Number, error) {
	start, err := d.scanNumber()
	if err != nil {
		return "", err
	}
	return json.Number(d.substr(start, d.pos)), nil
}

// scanNumber validates a number literal at d.pos and returns its start.
func (d *Decoder) scanNumber() (int, error) {
	start := d.pos
	data := d.data
	p := d.pos
	if data[p] == '-' {
		p++
		if p >= len(data) {
			d.pos = p
			return 0, d.eof()
		}
	}
	switch c := data[p]; {
	case c == '0':
		p++
	case c >= '1' && c <= '9':
		p++
		for p < len(data) && data[p] >= '0' && data[p] <= '9' {
			p++
		}
	default:
		d.pos = p
		return 0, d.errorf("invalid character %s in numeric literal", quoteChar(c))
	}
	if p < len(data) && data[p] == '.' {
		p++
		if p >= len(data) {
			d.pos = p
			return 0, d.eof()
		}
		if c := data[p]; c < '0' || c > '9' {
			d.pos = p
			return 0, d.errorf("invalid character %s after decimal point in numeric literal", quoteChar(c))
		}
		for p < len(data) && data[p] >= '0' && data[p] <= '9' {
			p++
		}
	}
	if p < len(data) && (data[p] == 'e' || data[p] == 'E') {
		p++
		if p < len(data) && (data[p] == '+' || data[p] == '-') {
			p++
		}
		if p >= len(data) {
			d.pos = p
			return 0, d.eof()
		}
		if c := data[p]; c < '0' || c > '9' {
			d.pos = p
			return 0, d.errorf("invalid character %s in exponent of numeric literal", quoteChar(c))
		}
		for p < len(data) && data[p] >= '0' && data[p] <= '9' {
			p++
		}
	}
	d.pos = p
	return start, nil
}

// String decodes the string at the next value.
func (d *Decoder) String() (string, error) {
	if d.Peek() != '"' {
		if d.pos >= len(d.data) {
			return "", d.eof()
		}
		return "", d.errorf("invalid character %s looking for beginning of string", quoteChar(d.data[d.pos]))
	}
	start := d.pos
	plain, end, err := d.scanString()
	if err != nil {
		return "", err
	}
	if plain {
		return d.substr(start+1, end-1), nil
	}
	return unquote(d.data[start+1 : end-1]), nil
}

// scanString validates the string at d.pos (a '"') and moves past it. plain reports
// that it holds neither escapes nor invalid UTF-8, so its bytes are its value.
func (d *Decoder) scanString() (plain bool, end int, err error) {
	data := d.data
	p := d.pos + 1
	plain = true
	// The first bytes one at a time (most keys and many values end within eight), then
	// eight a step while none needs a look: no quote, backslash, control character or
	// byte outside ASCII.
	bytewise := p + 8
	for {
		if p >= len(data) {
			d.pos = p
			return false, 0, d.eof()
		}
		c := data[p]
		switch {
		case c == '"':
			d.pos = p + 1
			return plain, d.pos, nil
		case c == '\\':
			plain = false
			p++
			if p >= len(data) {
				d.pos = p
				return false, 0, d.eof()
			}
			switch data[p] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p++
			case 'u':
				p++
				for i := 0; i < 4; i++ {
					if p >= len(data) {
						d.pos = p
						return false, 0, d.eof()
					}
					if !isHex(data[p]) {
						d.pos = p
						return false, 0, d.errorf("invalid character %s in \\u hexadecimal character escape", quoteChar(data[p]))
					}
					p++
				}
			default:
				d.pos = p
				return false, 0, d.errorf("invalid character %s in string escape code", quoteChar(data[p]))
			}
		case c < ' ':
			d.pos = p
			return false, 0, d.errorf("invalid character %s in string literal", quoteChar(c))
		case c < utf8.RuneSelf:
			p++
			if p >= bytewise {
				for p+8 <= len(data) && specialBytes(word(data, p)) == 0 {
					p += 8
				}
				bytewise = p + 8
			}
		default:
			r, size := utf8.DecodeRune(data[p:])
			if r == utf8.RuneError && size == 1 {
				plain = false
			}
			p += size
		}
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// unquote decodes the body of a validated string with escapes or invalid UTF-8, as
// encoding/json does: invalid bytes and unpaired surrogates become U+FFFD. Runs of
// bytes that stand for themselves are copied whole.
func unquote(s []byte) string {
	var b strings.Builder
	b.Grow(len(s) + utf8.UTFMax)
	start := 0 // of the run not yet copied
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c < utf8.RuneSelf && c != '\\':
			r++
			continue
		case c >= utf8.RuneSelf:
			rr, size := utf8.DecodeRune(s[r:])
			if rr != utf8.RuneError || size != 1 {
				r += size // valid: part of the run
				continue
			}
			b.Write(s[start:r])
			b.WriteRune(utf8.RuneError)
			r++
			start = r
			continue
		}
		b.Write(s[start:r])
		r++ // past the backslash
		switch s[r] {
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			rr := hex4(s[r+1:])
			r += 5
			if utf16.IsSurrogate(rr) {
				pair := utf8.RuneError // unless the next escape completes it
				if r+6 <= len(s) && s[r] == '\\' && s[r+1] == 'u' {
					if dec := utf16.DecodeRune(rr, hex4(s[r+2:])); dec != utf8.RuneError {
						pair = dec
						r += 6
					}
				}
				rr = pair
			}
			b.WriteRune(rr)
			start = r
			continue
		default: // '"', '\\', '/'
			b.WriteByte(s[r])
		}
		r++
		start = r
	}
	b.Write(s[start:])
	return b.String()
}

// hex4 reads four validated hexadecimal digits.
func hex4(s []byte) rune {
	var r rune
	for _, c := range s[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		r = r*16 + rune(c)
	}
	return r
}
