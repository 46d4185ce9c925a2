package jsonx

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestScannerDeepInputIsCheap: millions of nested brackets, the input that overflowed
// the stack of the recursive validator the receivers used before, are refused at the
// limit, with the offset of the first level too deep, whatever follows.
func TestScannerDeepInputIsCheap(t *testing.T) {
	s := NewScanner(100)
	for _, in := range []string{
		strings.Repeat("[", 5_000_000),
		`{"a":` + strings.Repeat(`{"a":`, 3_000_000),
		strings.Repeat("[", 101) + strings.Repeat("]", 101),
	} {
		err := s.Valid([]byte(in))
		var se *SyntaxError
		if !errors.Is(err, ErrTooDeep) || !errors.As(err, &se) {
			t.Fatalf("Valid(%.20q...) = %v, want ErrTooDeep", in, err)
		}
		if want := strings.Index(in, "[") + 100; in[0] == '[' && se.Offset != want {
			t.Errorf("offset %d, want %d", se.Offset, want)
		}
	}
	if err := s.Valid([]byte(strings.Repeat("[", 100) + strings.Repeat("]", 100))); err != nil {
		t.Errorf("at the limit: %v", err)
	}
}

func TestScannerNumbers(t *testing.T) {
	s := NewScanner(DefaultMaxDepth)
	for _, ok := range []string{`1e308`, `-1.7976931348623157e308`, `1e-999`, `0.000001`, strings.Repeat("9", 300), `{"n":123456789012345678901234567890}`} {
		if err := s.Valid([]byte(ok)); err != nil {
			t.Errorf("Valid(%.40s) = %v", ok, err)
		}
	}
	for _, bad := range []string{`1e999`, `-1E+400`, `{"a":[1,2,1e309]}`, strings.Repeat("9", 310)} {
		if err := s.Valid([]byte(bad)); !errors.Is(err, ErrNumberRange) {
			t.Errorf("Valid(%.40s) = %v, want ErrNumberRange", bad, err)
		}
	}
}

// TestScannerMessages: grammar errors are phrased as encoding/json phrases them.
func TestScannerMessages(t *testing.T) {
	s := NewScanner(DefaultMaxDepth)
	for _, in := range []string{`{oops}`, `[1,]`, `{"a":1`, `{"a" 1}`, `"\x"`, `{} x`, ``, `01`} {
		var v any
		want := json.Unmarshal([]byte(in), &v)
		err := s.Valid([]byte(in))
		var se *SyntaxError
		if !errors.As(err, &se) || want == nil || se.Message() != want.Error() {
			t.Errorf("Valid(%q) = %v, want %q", in, err, want)
		}
	}
}

func TestScannerMembers(t *testing.T) {
	in := []byte(` {"a":1, "b" : {"c":[2]} ,"d":"x"} `)
	var got []string
	err := NewScanner(10).Scan(in, func(keyStart, keyEnd, valueEnd int) {
		got = append(got, string(in[keyStart:keyEnd])+"="+strings.TrimSpace(string(in[keyEnd:valueEnd])))
	})
	if err != nil || strings.Join(got, " ") != `"a"=:1 "b"=: {"c":[2]} "d"=:"x"` {
		t.Errorf("members %q, %v", got, err)
	}
}

// FuzzScanner holds the receivers' validator to encoding/json: it accepts exactly the
// valid JSON within its nesting limit whose numbers fit a float64, and its messages
// are encoding/json's.
func FuzzScanner(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(strings.Repeat("[", 300)))
	f.Add([]byte(`{"a":1e999}`))
	f.Add([]byte(strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)))
	s := NewScanner(32)
	f.Fuzz(func(t *testing.T, data []byte) {
		err := s.Valid(data)
		switch {
		case errors.Is(err, ErrTooDeep):
			// The decoder, at the same limit, finds the same depth first.
			if _, derr := DecodeDepth(data, 32); !errors.Is(derr, ErrTooDeep) {
				t.Fatalf("Valid(%q) = %v, but the decoder says %v", data, err, derr)
			}
			return
		case errors.Is(err, ErrNumberRange):
			if !bytes.ContainsAny(data, "eE") && !bytes.Contains(data, bytes.Repeat([]byte("9"), 300)) && len(data) < 300 {
				t.Fatalf("Valid(%q) = %v without an exponent or a long number", data, err)
			}
			return
		}
		if ok := json.Valid(data); ok != (err == nil) {
			t.Fatalf("Valid(%q) = %v, encoding/json valid = %t", data, err, ok)
		}
		if err != nil {
			if _, derr := Decode(data); derr == nil || err.Error() != derr.Error() {
				t.Fatalf("Valid(%q) = %v, the decoder says %v", data, err, derr)
			}
		}
	})
}

// pathMember is one member ScanPaths reports: its path's keys as written and the
// offset past its value.
type pathMember struct {
	path     string
	valueEnd int
}

// membersByWalk is ScanPaths's answer made with Members, object by object: a member's
// nested members first, then the member itself. Test code, its recursion bounded by
// levels.
func membersByWalk(doc []byte, base int, levels int, prefix string, out []pathMember) []pathMember {
	Members(doc, func(ks, ke, ve int) {
		path := prefix + "/" + string(doc[ks:ke])
		if levels > 1 {
			if v := SkipSpace(doc, ke); v < len(doc) {
				v = SkipSpace(doc, v+1) // past the colon
				if v < len(doc) && doc[v] == '{' {
					out = membersByWalk(doc[v:ve], base+v, levels-1, path, out)
				}
			}
		}
		out = append(out, pathMember{path: path, valueEnd: base + ve})
	})
	return out
}

// FuzzScanPaths holds ScanPaths to Scan and to a walk with Members: the same verdict
// as Scan, and on every object the members of its objects at each level, in the order
// their values end, with their paths.
func FuzzScanPaths(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s), 3)
	}
	f.Add([]byte(`{"a":{"b":{"c":{"d":{"e":1}}}},"f":[{"g":{}}],"a":{"x":[1,{"y":2}],"z":{}}}`), 4)
	f.Add([]byte(` { "log" : { "file" : { "path" : "/p" } , "offset" : 3 } } `), 3)
	s := NewScanner(32)
	f.Fuzz(func(t *testing.T, data []byte, levels int) {
		var got []pathMember
		err := s.ScanPaths(data, levels, func(path []Key, valueEnd int) {
			p := ""
			for _, k := range path {
				if k.Start < 0 || k.End > len(data) || k.Start >= k.End {
					t.Fatalf("%q: key at %d..%d", data, k.Start, k.End)
				}
				p += "/" + string(data[k.Start:k.End])
			}
			got = append(got, pathMember{path: p, valueEnd: valueEnd})
		})
		if want := s.Valid(data); (err == nil) != (want == nil) {
			t.Fatalf("ScanPaths(%q) = %v, Valid %v", data, err, want)
		}
		i := SkipSpace(data, 0)
		if err != nil || i == len(data) || data[i] != '{' {
			return
		}
		want := membersByWalk(data, 0, max(1, min(levels, MaxPathLevels)), "", nil)
		if !slices.Equal(got, want) {
			t.Fatalf("ScanPaths(%q, %d):\n got %v\nwant %v", data, levels, got, want)
		}
	})
}
