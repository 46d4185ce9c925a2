package pipeline

import (
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
)

// Most `if` conditions are simple: a field compared with a constant, a field checked
// for nil, a few of those joined by && and ||. Running them on expr's VM costs about
// 150 ns each, so they are also compiled into a small tree evaluated directly against
// the event's maps, with expr's semantics: == and != as expr's runtime.Equal, optional
// chains (?.) giving nil, missing keys nil. Whatever the tree cannot decide as expr
// would (reading a field of nil without ?., a field of a non-object, a string
// operator on a non-string) falls back to the VM, which then gives expr's own result
// or error. TestFastConditionsAgreeWithExpr checks the two against each other.

// fastCond is a condition node.
type fastCond struct {
	op          string // "==", "!=", "in", "contains", "startsWith", "endsWith", "&&", "||", "!"
	left, right *fastCond
	path        fastPath
	lits        []any // string, bool, int, nil
}

// fastPath is ctx.a.b?.c: keys from ctx, and whether each access is optional.
type fastPath struct {
	keys     []string
	optional []bool
}

// compileFast returns the fast tree of a condition, or nil if it has other shapes.
func compileFast(src string) *fastCond {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil
	}
	return fastNode(tree.Node)
}

func fastNode(n ast.Node) *fastCond {
	switch n := n.(type) {
	case *ast.UnaryNode:
		if n.Operator != "!" && n.Operator != "not" {
			return nil
		}
		inner := fastNode(n.Node)
		if inner == nil {
			return nil
		}
		return &fastCond{op: "!", left: inner}
	case *ast.BinaryNode:
		switch n.Operator {
		case "&&", "and", "||", "or":
			l, r := fastNode(n.Left), fastNode(n.Right)
			if l == nil || r == nil {
				return nil
			}
			op := "&&"
			if n.Operator == "||" || n.Operator == "or" {
				op = "||"
			}
			return &fastCond{op: op, left: l, right: r}
		case "==", "!=", "contains", "startsWith", "endsWith":
			path, ok := fastPathOf(n.Left)
			if !ok {
				return nil
			}
			lit, ok := fastLiteral(n.Right)
			if !ok {
				return nil
			}
			if _, isStr := lit.(string); !isStr && n.Operator != "==" && n.Operator != "!=" {
				return nil
			}
			return &fastCond{op: n.Operator, path: path, lits: []any{lit}}
		case "in":
			path, ok := fastPathOf(n.Left)
			arr, isArr := n.Right.(*ast.ArrayNode)
			if !ok || !isArr {
				return nil
			}
			c := &fastCond{op: "in", path: path}
			for _, el := range arr.Nodes {
				lit, ok := fastLiteral(el)
				if !ok {
					return nil
				}
				c.lits = append(c.lits, lit)
			}
			return c
		}
	}
	return nil
}

// fastPathOf reads ctx.a.b?.c (or ctx["a"]) into a path.
func fastPathOf(n ast.Node) (fastPath, bool) {
	if chain, ok := n.(*ast.ChainNode); ok {
		n = chain.Node
	}
	var keys []string
	var optional []bool
	for {
		switch m := n.(type) {
		case *ast.MemberNode:
			prop, ok := m.Property.(*ast.StringNode)
			if !ok || m.Method {
				return fastPath{}, false
			}
			keys = append(keys, prop.Value)
			optional = append(optional, m.Optional)
			n = m.Node
		case *ast.IdentifierNode:
			if m.Value != "ctx" || len(keys) == 0 {
				return fastPath{}, false
			}
			// Collected from the outside in; reverse.
			for i, j := 0, len(keys)-1; i < j; i, j = i+1, j-1 {
				keys[i], keys[j] = keys[j], keys[i]
				optional[i], optional[j] = optional[j], optional[i]
			}
			return fastPath{keys: keys, optional: optional}, true
		default:
			return fastPath{}, false
		}
	}
}

func fastLiteral(n ast.Node) (any, bool) {
	switch n := n.(type) {
	case *ast.StringNode:
		return n.Value, true
	case *ast.BoolNode:
		return n.Value, true
	case *ast.NilNode:
		return nil, true
	case *ast.IntegerNode:
		return n.Value, true
	}
	return nil, false
}

// fetch reads the path; ok is false where expr would fail (or might not agree).
func (p *fastPath) fetch(fields map[string]any) (any, bool) {
	var cur any = fields
	for i, k := range p.keys {
		if cur == nil {
			if p.optional[i] {
				return nil, true // an optional chain ends in nil
			}
			return nil, false
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur = m[k]
	}
	return cur, true
}

// fastEqual is expr's runtime.Equal for a field value and a literal.
func fastEqual(v, lit any) bool {
	switch l := lit.(type) {
	case nil:
		return v == nil
	case string:
		s, ok := v.(string)
		return ok && s == l
	case bool:
		b, ok := v.(bool)
		return ok && b == l
	case int:
		switch x := v.(type) {
		case int64:
			return x == int64(l)
		case int:
			return x == l
		case float64:
			return x == float64(l)
		}
	}
	return false
}

// eval decides the condition; ok is false when the VM must.
func (c *fastCond) eval(fields map[string]any) (result, ok bool) {
	switch c.op {
	case "&&", "||":
		l, ok := c.left.eval(fields)
		if !ok {
			return false, false
		}
		if l == (c.op == "||") {
			return l, true
		}
		return c.right.eval(fields)
	case "!":
		r, ok := c.left.eval(fields)
		return !r, ok
	}
	v, ok := c.path.fetch(fields)
	if !ok {
		return false, false
	}
	switch c.op {
	case "==":
		return fastEqual(v, c.lits[0]), true
	case "!=":
		return !fastEqual(v, c.lits[0]), true
	case "in":
		// expr turns an array of string constants into a set, which fails on
		// anything but a string: leave other values to the VM.
		if _, isStr := v.(string); !isStr {
			return false, false
		}
		for _, l := range c.lits {
			if fastEqual(v, l) {
				return true, true
			}
		}
		return false, true
	}
	s, isStr := v.(string)
	if !isStr {
		return false, false
	}
	lit := c.lits[0].(string)
	switch c.op {
	case "contains":
		return strings.Contains(s, lit), true
	case "startsWith":
		return strings.HasPrefix(s, lit), true
	default: // endsWith
		return strings.HasSuffix(s, lit), true
	}
}
