package httprecv

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/internal/jsonx"
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
// syntax error can be trusted. Documents are subslices of body, not copies. Every
// document is checked with sc, within its nesting limit, before anything reads it.
func decodeBody(body []byte, sc *jsonx.Scanner) ([]item, error) {
	body = bytes.TrimPrefix(body, bom)
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, gateway.Errorf(gateway.KindInvalid, "empty body: send NDJSON (one JSON object per line) or a JSON array of objects")
	}
	switch trimmed[0] {
	case '[':
		return decodeArray(trimmed, sc)
	case '{':
		// A single (possibly pretty-printed) object; NDJSON with several objects is
		// not valid as one JSON value and falls through.
		if sc.OK(trimmed) {
			return []item{{doc: trimmed, line: 1}}, nil
		}
	}
	return decodeNDJSON(body, sc), nil
}

func decodeArray(body []byte, sc *jsonx.Scanner) ([]item, error) {
	if problem := checkJSONAs(sc, body, "JSON array"); problem != "" {
		return nil, gateway.Errorf(gateway.KindInvalid, "%s", problem)
	}
	var items []item
	for _, el := range splitArray(body) {
		it := item{doc: el}
		if el[0] != '{' {
			it.err = gateway.Errorf(gateway.KindInvalid, "event is a JSON %s, want an object", jsonKind(el[0]))
		}
		items = append(items, it)
	}
	if len(items) == 0 {
		return nil, gateway.Errorf(gateway.KindInvalid, "empty JSON array: send at least one event")
	}
	return items, nil
}

func decodeNDJSON(body []byte, sc *jsonx.Scanner) []item {
	var items []item
	for n := 1; len(body) > 0; n++ {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if problem := checkJSON(sc, line); problem != "" {
			items = append(items, item{doc: line, line: n, err: gateway.Errorf(gateway.KindInvalid, "line %d: %s", n, problem)})
			continue
		}
		switch {
		case line[0] != '{':
			items = append(items, item{doc: line, line: n, err: gateway.Errorf(gateway.KindInvalid, "line %d: event is a JSON %s, want an object", n, jsonKind(line[0]))})
		default:
			items = append(items, item{doc: line, line: n})
		}
	}
	return items
}

// checkJSON validates b with sc and describes a problem as a client should read it:
// "invalid JSON: " and encoding/json's phrasing, or the limit b is over, with the line
// and column. It returns "" for a valid document.
func checkJSON(sc *jsonx.Scanner, b []byte) string { return checkJSONAs(sc, b, "JSON") }

// checkJSONAs is checkJSON with the subject of the message named: "JSON", "JSON array".
func checkJSONAs(sc *jsonx.Scanner, b []byte, subject string) string {
	return jsonProblem(sc, b, subject, sc.Valid(b))
}

// jsonProblem says what err, sc's verdict on b, means to a client, or "" for nil.
func jsonProblem(sc *jsonx.Scanner, b []byte, subject string, err error) string {
	if err == nil {
		return ""
	}
	var se *jsonx.SyntaxError
	if !errors.As(err, &se) {
		return "invalid " + subject + ": " + err.Error()
	}
	line, col := position(b, int64(se.Offset)+1)
	where := fmt.Sprintf("column %d", col)
	if line > 1 {
		where = fmt.Sprintf("line %d, column %d", line, col)
	}
	switch {
	case errors.Is(err, jsonx.ErrTooDeep):
		return fmt.Sprintf("%s nested deeper than %d levels at %s (limits.max_depth)", subject, sc.MaxDepth(), where)
	case errors.Is(err, jsonx.ErrNumberRange):
		return fmt.Sprintf("%s at %s: no JSON reader can hold it", se.Message(), where)
	}
	return fmt.Sprintf("invalid %s: %s (%s)", subject, se.Message(), where)
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
