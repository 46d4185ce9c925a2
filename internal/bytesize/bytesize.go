// Package bytesize is a byte count that configuration files write as "16MiB" or "512KB"
// as well as a plain integer.
package bytesize

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Size is a number of bytes.
type Size int64

// Common sizes.
const (
	B   Size = 1
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
)

var units = []struct {
	suffix string
	mult   Size
}{
	{"kib", KiB}, {"mib", MiB}, {"gib", GiB},
	{"kb", 1000}, {"mb", 1000 * 1000}, {"gb", 1000 * 1000 * 1000},
	{"k", KiB}, {"m", MiB}, {"g", GiB},
	{"b", B},
}

// Parse reads "1048576", "1MiB", "1.5 MiB", "64KB" (decimal) or "16M" (binary).
func Parse(s string) (Size, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := B
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		if n < 0 || (mult > 1 && n > int64(^uint64(0)>>1)/int64(mult)) {
			return 0, fmt.Errorf("byte size %q out of range", s)
		}
		return Size(n) * mult, nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f*float64(mult) > float64(1<<62) {
		return 0, fmt.Errorf("invalid byte size %q: want a number with an optional unit such as KiB, MiB, GiB, KB, MB", s)
	}
	return Size(f * float64(mult)), nil
}

// String formats the size with the largest binary unit that divides it.
func (s Size) String() string {
	switch {
	case s != 0 && s%GiB == 0:
		return strconv.FormatInt(int64(s/GiB), 10) + "GiB"
	case s != 0 && s%MiB == 0:
		return strconv.FormatInt(int64(s/MiB), 10) + "MiB"
	case s != 0 && s%KiB == 0:
		return strconv.FormatInt(int64(s/KiB), 10) + "KiB"
	}
	return strconv.FormatInt(int64(s), 10)
}

// UnmarshalYAML accepts an integer or a string for Parse. Its errors are *yaml.TypeError,
// which yaml.v3 collects with the document's other type errors instead of stopping.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: byte size must be a number or a string like 16MiB", n.Line)}}
	}
	v, err := Parse(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*s = v
	return nil
}

// MarshalYAML writes the size as String does.
func (s Size) MarshalYAML() (any, error) { return s.String(), nil }
