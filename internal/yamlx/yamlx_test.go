package yamlx

import (
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestUniqueKeys(t *testing.T) {
	parse := func(s string) *yaml.Node {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(s), &n); err != nil {
			t.Fatal(err)
		}
		return &n
	}
	if err := UniqueKeys(parse("a: 1\nb: {a: 2, c: [ {a: 1}, {a: 2} ]}\n")); err != nil {
		t.Errorf("no duplicates: %v", err)
	}
	err := UniqueKeys(parse("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n"))
	if err == nil || !strings.Contains(err.Error(), `line 5: mapping key "a" already defined at line 1`) ||
		!strings.Contains(err.Error(), `line 4: mapping key "c" already defined at line 3`) {
		t.Errorf("duplicates: %v", err)
	}
	// 10,000 repeats of one key: one problem each, not one per pair.
	err = UniqueKeys(parse(strings.Repeat("k: 1\n", 10000)))
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) != 9999 {
		t.Errorf("10,000 repeats: %v, want 9999 problems", err)
	}
}
