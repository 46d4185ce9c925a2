package httprecv

import (
	"path"
	"strings"
	"testing"
	"time"
)

// globReference matches s against pattern, '*' matching any run of bytes, by dynamic
// programming over (pattern position, s position): quadratic, obviously right.
func globReference(pattern, s string) bool {
	// match[j] reports whether the pattern so far matches s[:j].
	match := make([]bool, len(s)+1)
	match[0] = true
	for i := 0; i < len(pattern); i++ {
		next := make([]bool, len(s)+1)
		if pattern[i] == '*' {
			seen := false
			for j := 0; j <= len(s); j++ {
				seen = seen || match[j]
				next[j] = seen
			}
		} else {
			for j := 1; j <= len(s); j++ {
				next[j] = match[j-1] && s[j-1] == pattern[i]
			}
		}
		match = next
	}
	return match[len(s)]
}

// FuzzIndexPattern guards the '*' glob of bulk.index_types against a quadratic
// reference, and against path.Match where their semantics agree (no '/', '?', '[' or
// '\\', which path.Match treats specially). Patterns such as *a*a*a...*b against long
// names are the seeds that make a backtracking matcher take exponential time; this one
// must stay linear.
func FuzzIndexPattern(f *testing.F) {
	for _, s := range [][2]string{
		{"logs-generic-*", "logs-generic-default"}, {"logs-*-*", "logs-firewall-default"}, {"*", ""}, {"", ""}, {"**", "x"},
		{"a*", "a"}, {"*a", "a"}, {"a*a", "a"}, {"a*a", "aa"}, {"*ab*ab*", "abab"}, {"*aa*aa*", "aaa"}, {"x*y*z", "xyz"},
		{"filebeat-8.*", "filebeat-8.17.0-2026.11.26"}, {"*-*-*", "--"}, {"a*b*a", "aba"}, {"ab*ba", "aba"},
		{strings.Repeat("*a", 30) + "*b", strings.Repeat("a", 100)},
		{strings.Repeat("*a", 5000) + "*b", strings.Repeat("a", 1<<20)},
		{strings.Repeat("a*", 10000), strings.Repeat("a", 9999)},
		{strings.Repeat("*", 100000), strings.Repeat("x", 100000)},
		{"*" + strings.Repeat("ab", 50000) + "*", strings.Repeat("a", 1<<20) + strings.Repeat("ab", 50000)},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		start := time.Now()
		got := globMatch(strings.Split(pattern, "*"), name)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("a pattern of %d bytes against a name of %d bytes took %v", len(pattern), len(name), d)
		}
		if len(pattern)*len(name) <= 1<<22 {
			if want := globReference(pattern, name); got != want {
				t.Fatalf("globMatch(%q, %q) = %v, the reference says %v", pattern, name, got, want)
			}
		}
		if len(pattern)+len(name) <= 4096 && !strings.ContainsAny(pattern+name, `/?[\`) {
			want, err := path.Match(pattern, name)
			if err != nil {
				t.Fatalf("path.Match(%q): %v", pattern, err)
			}
			if got != want {
				t.Fatalf("globMatch(%q, %q) = %v, path.Match says %v", pattern, name, got, want)
			}
		}
		types := newIndexTypes(Bulk{IndexTypes: []IndexType{{Pattern: pattern, Type: "matched"}}})
		if want := map[bool]string{true: "matched", false: ""}[got]; types.typeOf(name) != want {
			t.Fatalf("typeOf(%q) with pattern %q = %q, want %q", name, pattern, types.typeOf(name), want)
		}
	})
}
