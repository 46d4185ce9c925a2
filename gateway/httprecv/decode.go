package httprecv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tidwall/gjson"

	"github.com/sluice-siem/sluice/gateway"
)

// item is one event of a request body: its document, or why it could not be decoded.
type item struct {
	doc  []byte // a subslice of the body
	line int    // 1-based line of an NDJSON body; 0 for a JSON array
	err  error
}

var bom = []byte("\xef\xbb\xbf")

// decodeBody splits a request body into events. It accepts a JSON array of objects, a
// single JSON object, or NDJSON (one object per line; blank lines are skipped). A
// malformed line of an NDJSON body becomes an item with an error and the other lines
// are kept; a malformed JSON array fails as a whole, since nothing after the first
// syntax error can be trusted. Documents are subslices of body, not copies.
func decodeBody(body []byte) ([]item, error) {
	body = bytes.TrimPrefix(body, bom)
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, gateway.Errorf(gateway.KindInvalid, "empty body: send NDJSON (one JSON object per line) or a JSON array of objects")
	}
	switch trimmed[0] {
	case '[':
		return decodeArray(trimmed)
	case '{':
		// A single (possibly pretty-printed) object; NDJSON with several objects is
		// not valid as one JSON value and falls through.
		if validJSON(trimmed) {
			return []item{{doc: trimmed, line: 1}}, nil
		}
	}
	return decodeNDJSON(body), nil
}

func decodeArray(body []byte) ([]item, error) {
	if !validJSON(body) {
		return nil, gateway.Errorf(gateway.KindInvalid, "invalid JSON array: %s", syntaxError(body))
	}
	var items []item
	for _, el := range splitArray(body) {
		it := item{doc: el}
		if el[0] != '{' {
			it.err = gateway.Errorf(gateway.KindInvalid, "event is a JSON %s, want an object", jsonKind(el[0]))
		}
		items = append(items, it)
	}
	return items, nil
}

func decodeNDJSON(body []byte) []item {
	var items []item
	for n := 1; len(body) > 0; n++ {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimSpace(line)
		switch {
		case len(line) == 0:
			continue
		case !validJSON(line):
			items = append(items, item{doc: line, line: n, err: gateway.Errorf(gateway.KindInvalid, "line %d: invalid JSON: %s", n, syntaxError(line))})
		case line[0] != '{':
			items = append(items, item{doc: line, line: n, err: gateway.Errorf(gateway.KindInvalid, "line %d: event is a JSON %s, want an object", n, jsonKind(line[0]))})
		default:
			items = append(items, item{doc: line, line: n})
		}
	}
	return items
}

// validJSON reports whether b is one valid JSON value. gjson's validator is several
// times faster than encoding/json's; FuzzDecodeBody checks that they agree on what
// they accept.
func validJSON(b []byte) bool { return gjson.ValidBytes(b) }

// syntaxError describes why b is not valid JSON, with the position of the problem.
func syntaxError(b []byte) string {
	var v any
	err := json.Unmarshal(b, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := position(b, se.Offset)
		if line > 1 {
			return fmt.Sprintf("%s (line %d, column %d)", se, line, col)
		}
		return fmt.Sprintf("%s (column %d)", se, col)
	}
	if err != nil {
		return err.Error()
	}
	return "invalid JSON"
}

// position turns a byte offset into a 1-based line and column.
func position(b []byte, off int64) (line, col int) {
	off = min(max(off, 1), int64(len(b)))
	before := b[:off]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = int(off) - bytes.LastIndexByte(before, '\n') - 1
	return line, col
}

func jsonKind(c byte) string {
	switch c {
	case '"':
		return "string"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// splitArray returns the top-level elements of a valid JSON array, trimmed.
func splitArray(b []byte) [][]byte {
	var (
		out   [][]byte
		depth int
		start = -1
		inStr bool
	)
	for i := 1; i < len(b); i++ {
		c := b[i]
		if inStr {
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
		case ',':
			if depth == 0 {
				out = append(out, bytes.TrimSpace(b[start:i]))
				start = -1
			}
		case '{', '[':
			if start < 0 {
				start = i
			}
			depth++
		case '}', ']':
			if depth == 0 { // the array's own closing bracket
				if start >= 0 {
					out = append(out, bytes.TrimSpace(b[start:i]))
				}
				return out
			}
			depth--
		case '"':
			inStr = true
			fallthrough
		default:
			if start < 0 {
				start = i
			}
		}
	}
	return out
}
