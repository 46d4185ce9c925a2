package jsonx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestDecodeErrors(t *testing.T) {
	for _, in := range []string{
		``, ` `, `{`, `{"a"`, `{"a":`, `{"a":1,}`, `[1,]`, `[1 2]`, `{"a" 1}`, `{1:2}`, `01`, `-`, `1.`, `1e+`,
		`"abc`, `"\x"`, `"\u12g4"`, "\"\x1f\"", `tru`, `nulL`, `{} {}`, `{"a":1}]`,
		strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
	} {
		if v, err := Decode([]byte(in)); err == nil {
			t.Errorf("Decode(%.40q) = %#v, want an error", in, v)
		}
	}
	if _, err := Decode([]byte(strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth))); err != nil {
		t.Errorf("Decode at MaxDepth: %v", err)
	}
	if _, err := DecodeObject([]byte(`[1]`)); err == nil {
		t.Error("DecodeObject of an array: no error")
	}
}

func TestDecodeStrings(t *testing.T) {
	for in, want := range map[string]string{
		`"plain"`:                "plain",
		`"a\"b\\c\/d\b\f\n\r\t"`: "a\"b\\c/d\b\f\n\r\t",
		`"\u00e9\u20AC"`:         "é€",
		`"\ud83d\ude00"`:         "😀",
		`"\ud83d"`:               "\ufffd",
		`"\ud83dx"`:              "\ufffdx",
		`"\ude00\ud83d\ude00"`:   "\ufffd😀",
		`"\ud83d\u0041"`:         "\ufffdA",
		"\"\xff\xc3\"":           "\ufffd\ufffd",
		"\"\xe2\x82\"":           "\ufffd\ufffd",
	} {
		v, err := Decode([]byte(in))
		if err != nil || v != want {
			t.Errorf("Decode(%q) = %q, %v; want %q", in, v, err, want)
		}
	}
}

func TestEncodeMatchesEncodingJSON(t *testing.T) {
	values := []any{
		map[string]any{"b": 1.0, "a": []any{int64(-3), 1e21, 1e-7, 0.000001, math.Copysign(0, -1), 123456789.0}, "c": json.Number("")},
		map[string]any{"<&>": "\u2028\u2029\x7f\x00\x1f", "é": "\xff", "n": nil, "t": true},
		[]any{uint32(64500), float32(0.1), map[string]string{"k": "v"}, []string(nil)},
		bigObject(3), // objects of more members than fit on the stack, nested
	}
	var e Encoder
	for _, v := range values {
		got, err := e.Append(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		want, err := stdEncode(v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("Append = %s, encoding/json %s", got, want)
		}
	}
	for _, v := range []any{math.NaN(), math.Inf(1), json.Number("1x"), map[string]any{"a": []any{math.Inf(-1)}}} {
		if got, err := e.Append([]byte("x"), v); err == nil || string(got) != "x" {
			t.Errorf("Append(%v) = %q, %v; want an error and dst unchanged", v, got, err)
		}
	}
}

// firewallDoc is a shipped firewall event of about 400 bytes.
const firewallDoc = `{"@timestamp":"2026-11-26T07:00:01.123Z","message":"deny tcp 203.0.113.7:40001 -> 10.1.2.3:443",` +
	`"source":{"ip":"203.0.113.7","port":40001},"destination":{"ip":"10.1.2.3","port":443},` +
	`"network":{"transport":"tcp","bytes":1234},"event":{"action":"deny","outcome":"failure","severity":4},` +
	`"observer":{"vendor":"acme","product":"fw-9000","hostname":"edge-fw-01"},"rule":{"id":"1042","name":"block-inbound"},` +
	`"host":{"name":"edge-fw-01"},"tags":["perimeter","prod"]}`

// BenchmarkRoundTrip decodes and encodes one event with jsonx and, as the baseline in
// the same run, with encoding/json (UseNumber, no HTML escaping).
func BenchmarkRoundTrip(b *testing.B) {
	data := []byte(firewallDoc)
	b.Run("jsonx", func(b *testing.B) {
		var e Encoder
		var buf []byte
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			m, err := DecodeObject(data)
			if err != nil {
				b.Fatal(err)
			}
			if buf, err = e.Append(buf[:0], m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		var out bytes.Buffer
		enc := json.NewEncoder(&out)
		enc.SetEscapeHTML(false)
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.UseNumber()
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				b.Fatal(err)
			}
			out.Reset()
			if err := enc.Encode(m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestPlain8 checks the eight-byte fast path of AppendString against its definition:
// for every byte value at every position among plain bytes, and for plain bytes that
// sit next to the special ones in value.
func TestPlain8(t *testing.T) {
	special := func(b byte) bool { return b < 0x20 || b == '"' || b == '\\' || b >= 0x80 }
	for _, fill := range []byte{'a', ' ', '!', '#', '[', ']', '~', 0x7f} {
		for pos := range 8 {
			for v := range 256 {
				s := []byte{fill, fill, fill, fill, fill, fill, fill, fill}
				s[pos] = byte(v)
				if got, want := plain8(string(s)), !special(byte(v)); got != want {
					t.Fatalf("plain8(%q) = %v, want %v", s, got, want)
				}
			}
		}
	}
}

// bigObject makes an object of 40 members, some of them objects of the same kind
// (depth levels deep) and some small objects, to encode past smallObject.
func bigObject(depth int) map[string]any {
	m := map[string]any{}
	for i := range 40 {
		k := fmt.Sprintf("k%02d-%c", (i*17)%40, 'z'-i%26)
		switch {
		case i%13 == 0 && depth > 0:
			m[k] = bigObject(depth - 1)
		case i%7 == 0:
			m[k] = map[string]any{"y": "\"q\"", "x": []any{int64(i), nil}}
		default:
			m[k] = fmt.Sprint("v", i)
		}
	}
	return m
}

// BenchmarkDecode decodes documents of three kinds: many short keys and values (the
// ECS firewall document), a Filebeat event whose long message is plain ASCII, and
// one whose message is dense with escapes (Windows paths, quotes).
//
//	go test -run '^$' -bench Decode -cpu 1 ./internal/jsonx/
func BenchmarkDecode(b *testing.B) {
	msg := strings.Repeat("IN=eth0 OUT= SRC=203.0.113.7 DST=10.1.2.3 ", 7)
	for _, c := range []struct{ name, doc string }{
		{"keys", firewallDoc},
		{"message", `{"@timestamp":"2026-11-26T07:00:00.123Z","message":"` + msg + `","host":{"name":"fw01"},"log":{"offset":613}}`},
		{"escaped", `{"@timestamp":"2026-11-26T07:00:00.123Z","message":"` + strings.Repeat(`C:\\Windows\\System32 \"quoted\" `, 8) + `","host":{"name":"fw01"}}`},
	} {
		b.Run(c.name, func(b *testing.B) {
			data := []byte(c.doc)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeObject(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncode encodes the ECS firewall document, decoded once: objects of a few
// to a dozen members, their keys sorted.
//
//	go test -run '^$' -bench Encode -cpu 1 ./internal/jsonx/
func BenchmarkEncode(b *testing.B) {
	m, err := DecodeObject([]byte(firewallDoc))
	if err != nil {
		b.Fatal(err)
	}
	var e Encoder
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = e.Append(buf[:0], m); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}
