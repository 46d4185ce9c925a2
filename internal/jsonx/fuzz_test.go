package jsonx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

// stdDecode decodes data as the transformer did before jsonx: encoding/json with
// UseNumber, and json.Valid for the whole input.
func stdDecode(data []byte) (any, bool) {
	if !json.Valid(data) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	return v, true
}

// stdEncode encodes v as the transformer did before jsonx.
func stdEncode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

var seeds = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `1.5e-7`, `-12.5E+3`, `""`,
	`{"a":1,"b":[1,2,{"c":null}],"d":"x\"y\\z\/\b\f\n\r\t\u00e9\ud83d\ude00\ud800\udc00x\ud800"}`,
	`{"message":"<4>Nov 26 07:00:01 fw01 kernel: SRC=203.0.113.7 DST=10.1.2.3 & <b>","n":12345678901234567890}`,
	"{\"bad\":\"\xff\xfe\xc3\",\"ls\":\"\u2028\u2029\"}",
	`{"a":1,"a":2}`, `{"a" : [ 1 , 2 ] } `, `[1,]`, `{"a":}`, `{"a":1`, `01`, `1.`, `1e`, `-`, `"\u12"`,
	`"\x"`, "\"\x01\"", `{"\u0000":"\u001f"}`, `tru`, `nul`, `[[[[[[[[[[]]]]]]]]]]`, ` {"a":1} x`,
}

func FuzzDecode(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)))
	f.Add([]byte(strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)))
	// Strings longer than a step of the scan, with what ends a plain run at each place.
	f.Add([]byte(`{"a":"0123456789abcdef\n0123456789\ud83d\ude00 \ud83d tail é and ÿþ bytes","b":"01234567\"89"}`))
	f.Add([]byte(`["0123456\u00e9", "01234567` + "\x01" + `", "0123456789\ud800\u0041", "abcdefgh\\"]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		want, ok := stdDecode(data)
		got, err := Decode(data)
		if ok != (err == nil) {
			t.Fatalf("Decode(%q): err = %v, encoding/json valid = %t", data, err, ok)
		}
		// DecodeDepthInto gives Decode's value and Decode's error, every object in a
		// map it was given, the outer one in the first.
		var made []map[string]any
		into, ierr := DecodeDepthInto(data, MaxDepth, func(int) map[string]any {
			m := map[string]any{}
			made = append(made, m)
			return m
		})
		if fmt.Sprint(ierr) != fmt.Sprint(err) || (err == nil && !reflect.DeepEqual(into, got)) {
			t.Fatalf("DecodeDepthInto(%q) = %#v, %v; Decode %#v, %v", data, into, ierr, got, err)
		}
		if m, isMap := into.(map[string]any); isMap && reflect.ValueOf(m).UnsafePointer() != reflect.ValueOf(made[0]).UnsafePointer() {
			t.Fatalf("DecodeDepthInto(%q): the outer object is not the first one given", data)
		}
		// Every object of the value is one it was given (a repeated key may drop some
		// it was given: the value's object replaced by the last one).
		given := map[uintptr]bool{}
		for _, m := range made {
			given[reflect.ValueOf(m).Pointer()] = true
		}
		if err == nil {
			for _, m := range objectsOf(into, nil) {
				if !given[reflect.ValueOf(m).Pointer()] {
					t.Fatalf("DecodeDepthInto(%q): an object of the value was not given", data)
				}
			}
		}
		if !ok {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Decode(%q) = %#v, encoding/json %#v", data, got, want)
		}
		if obj, err := DecodeObject(data); (err == nil) != isObject(want) {
			t.Fatalf("DecodeObject(%q): err = %v", data, err)
		} else if err == nil && !reflect.DeepEqual(obj, want) {
			t.Fatalf("DecodeObject(%q) = %#v, encoding/json %#v", data, obj, want)
		}
		// Skip accepts what Value accepts, and returns the value's bytes.
		d := NewDecoder(data)
		raw, err := d.Skip()
		if err != nil || d.End() != nil {
			t.Fatalf("Skip(%q): %v", data, err)
		}
		if !json.Valid(raw) {
			t.Fatalf("Skip(%q) = %q, not a JSON value", data, raw)
		}
		// Every decoded document encodes as encoding/json encodes it.
		var e Encoder
		enc, err := e.Append(nil, got)
		if err != nil {
			t.Fatalf("Append(%#v): %v", got, err)
		}
		std, err := stdEncode(want)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, std) {
			t.Fatalf("Append(%#v) = %s, encoding/json %s", got, enc, std)
		}
	})
}

func isObject(v any) bool {
	_, ok := v.(map[string]any)
	return ok
}

// FuzzEncode encodes values as processors make them (int64, float64, json.Number from
// any string, strings with any bytes, nested maps and arrays) and compares with
// encoding/json byte for byte, errors included.
func FuzzEncode(f *testing.F) {
	f.Add("a", "b.c", int64(0), 0.0, "1")
	f.Add("\xff<&>\u2028", "\x00\x1f\"\\", int64(math.MinInt64), 1e21, "-0.5e-10")
	f.Add("x", "y", int64(42), 1e-7, "")
	f.Add("x", "y", int64(-1), math.Copysign(0, -1), "01")
	f.Add("x", "y", int64(7), 123456789.125, "1e")
	f.Fuzz(func(t *testing.T, s, key string, i int64, fl float64, num string) {
		values := []any{
			s, i, fl, int(i), json.Number(num), true, nil, []any(nil), map[string]any(nil),
			uint32(i), float32(fl), []string{s, key}, map[string]string{key: s},
			map[string]any{
				key: s, s: i, "f": fl, "n": json.Number(num),
				"nested": map[string]any{key: []any{i, fl, s, map[string]any{}, []any{}}},
			},
		}
		// AppendString of bytes writes what it writes of the same string.
		if got, want := AppendString([]byte("p"), []byte(s)), AppendString([]byte("p"), s); !bytes.Equal(got, want) {
			t.Fatalf("AppendString of bytes %q = %s, of the string %s", s, got, want)
		}
		var e Encoder
		for _, v := range values {
			got, err := e.Append([]byte("prefix"), v)
			want, werr := stdEncode(v)
			if (err == nil) != (werr == nil) {
				t.Fatalf("Append(%#v): err = %v, encoding/json err = %v", v, err, werr)
			}
			if err != nil {
				if string(got) != "prefix" {
					t.Fatalf("Append(%#v) failed but changed dst: %q", v, got)
				}
				continue
			}
			if !bytes.Equal(got[len("prefix"):], want) {
				t.Fatalf("Append(%#v) = %s, encoding/json %s", v, got[len("prefix"):], want)
			}
		}
		// Keys reach the decoder and back unchanged.
		doc, err := stdEncode(map[string]any{key: s})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := stdDecode(doc)
		got, err := DecodeObject(doc)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("DecodeObject(%s) = %#v, %v; want %#v", doc, got, err, want)
		}
	})
}

// objectsOf appends the objects in v to dst (test code: its recursion is bounded by
// the decoder's depth limit).
func objectsOf(v any, dst []map[string]any) []map[string]any {
	switch x := v.(type) {
	case map[string]any:
		dst = append(dst, x)
		for _, e := range x {
			dst = objectsOf(e, dst)
		}
	case []any:
		for _, e := range x {
			dst = objectsOf(e, dst)
		}
	}
	return dst
}
