// Package yamlx holds what sluice adds to gopkg.in/yaml.v3 for input it does not
// trust (configuration files, environment values, pipeline and test files): checks
// that bound the decoder's own costs.
package yamlx

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// UniqueKeys reports every key that a mapping of the tree at n gives twice, as yaml.v3
// does when it decodes a mapping, but in linear time and space: yaml.v3 compares each
// key with every later one and records a problem per equal pair, so a key given 10,000
// times makes 50 million messages (gigabytes). Checked first, the decoding after it
// never meets a duplicate.
func UniqueKeys(n *yaml.Node) error {
	type key struct {
		kind  yaml.Kind
		value string
	}
	var problems []string
	stack := []*yaml.Node{n}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n.Kind == yaml.MappingNode {
			first := make(map[key]int, len(n.Content)/2)
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				if line, dup := first[key{k.Kind, k.Value}]; dup {
					problems = append(problems, fmt.Sprintf("line %d: mapping key %q already defined at line %d", k.Line, k.Value, line))
				} else {
					first[key{k.Kind, k.Value}] = k.Line
				}
			}
		}
		for i := len(n.Content) - 1; i >= 0; i-- { // in document order
			stack = append(stack, n.Content[i])
		}
	}
	if problems != nil {
		return &yaml.TypeError{Errors: problems}
	}
	return nil
}
