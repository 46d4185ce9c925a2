package bytesize

import (
	"testing"

	"gopkg.in/yaml.v3"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]Size{
		"0": 0, "1048576": MiB, "1MiB": MiB, "1 mib": MiB, "16M": 16 * MiB, "1.5MiB": MiB + 512*KiB,
		"64KB": 64000, "2GiB": 2 * GiB, "10b": 10,
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "MiB", "12 parsecs", "1e30GiB", "99999999999999999999"} {
		if got, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %d, want error", in, got)
		}
	}
}

func TestYAMLRoundTrip(t *testing.T) {
	var v struct{ A, B Size }
	if err := yaml.Unmarshal([]byte("a: 16MiB\nb: 1000\n"), &v); err != nil {
		t.Fatal(err)
	}
	if v.A != 16*MiB || v.B != 1000 {
		t.Fatalf("got %+v", v)
	}
	out, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "a: 16MiB\nb: \"1000\"\n" {
		t.Fatalf("marshal = %q", out)
	}
	if err := yaml.Unmarshal([]byte("a: [1]\n"), &v); err == nil {
		t.Fatal("sequence accepted as a byte size")
	}
}
