package jsonx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Encoder appends documents as compact JSON, byte for byte as a json.Encoder with
// SetEscapeHTML(false) writes them (without the trailing newline): map keys sorted,
// numbers formatted as encoding/json formats them. Values other than the document
// model's (map[string]any, []any, string, bool, nil, json.Number, int64, int,
// float64) are encoded by encoding/json itself. The zero Encoder is ready to use; it
// reuses its scratch space across calls and is not safe for concurrent use.
type Encoder struct {
	keys []string
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

func (e *Encoder) object(dst []byte, m map[string]any) ([]byte, error) {
	if m == nil {
		return append(dst, "null"...), nil
	}
	start := len(e.keys)
	for k := range m {
		e.keys = append(e.keys, k)
	}
	slices.Sort(e.keys[start:])
	end := len(e.keys)
	dst = append(dst, '{')
	var err error
	for i := start; i < end; i++ {
		// e.keys may be reallocated by nested objects; index it afresh each time.
		k := e.keys[i]
		if i > start {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, k)
		dst = append(dst, ':')
		if dst, err = e.value(dst, m[k]); err != nil {
			e.keys = e.keys[:start]
			return dst, err
		}
	}
	clear(e.keys[start:end])
	e.keys = e.keys[:start]
	return append(dst, '}'), nil
}

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

// AppendString appends s as a JSON string, escaped as encoding/json escapes it without
// HTML escaping: '"', '\\' and control characters escaped, invalid UTF-8 as \ufffd,
// U+2028 and U+2029 as \u2028 and \u2029.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
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
		c, size := utf8.DecodeRuneInString(s[i:])
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
