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

//
// A condition reads each object on its paths once: ctx._fgt.user == "N/A" ||
// ctx._fgt.user == "" looks _fgt and user up once, the second test reading the values
// the first found (a condition does not change the event, so they stay true while it
// runs).

// fastCond is a condition's tree, with the number of values (the objects and fields
// on its paths) it reads at most once per evaluation.
type fastCond struct {
	root  *condNode
	slots int
}

// maxFastSlots bounds the values an evaluation keeps (on the stack); paths past it
// are read each time they are used.
const maxFastSlots = 16

// condNode is a condition node.
type condNode struct {
	op          string // "==", "!=", "in", "contains", "startsWith", "endsWith", "&&", "||", "!"
	left, right *condNode
	path        fastPath
	// other is the right-hand path of a comparison of two fields ("==f", "!=f").
	other fastPath
	lits  []any // string, bool, int, nil
	// set holds the string literals of an "in" with more than a few (only a string
	// can be in the list on the fast path, and it equals only a string literal).
	set map[string]struct{}
}

// minInSet is the list length from which "in" looks a string up in a set rather
// than comparing it with each literal in turn.
const minInSet = 8

// fastPath is ctx.a.b?.c: keys from ctx, and whether each access is optional.
type fastPath struct {
	keys     []string
	optional []bool
	// slots[i] is where an evaluation keeps the value of keys[:i+1] (see
	// fastState); -1: not kept.
	slots []int
}

// compileFast returns the fast tree of a condition, or nil if it has other shapes.
func compileFast(src string) *fastCond {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil
	}
	root := fastNode(tree.Node)
	if root == nil {
		return nil
	}
	// A slot for each prefix that more than one path of the condition reads.
	var nodes []*condNode
	var collect func(n *condNode)
	collect = func(n *condNode) {
		if n != nil {
			collect(n.left)
			collect(n.right)
			nodes = append(nodes, n)
		}
	}
	collect(root)
	var paths []*fastPath
	for _, n := range nodes {
		paths = append(paths, &n.path)
		if n.op == "==f" || n.op == "!=f" {
			paths = append(paths, &n.other)
		}
	}
	uses := map[string]int{}
	for _, p := range paths {
		for i := range p.keys {
			uses[strings.Join(p.keys[:i+1], "\x00")]++
		}
	}
	c := &fastCond{root: root}
	slots := map[string]int{}
	for _, p := range paths {
		for i := range p.keys {
			prefix := strings.Join(p.keys[:i+1], "\x00")
			id, ok := slots[prefix]
			if !ok {
				id = -1
				if uses[prefix] > 1 && c.slots < maxFastSlots {
					id = c.slots
					c.slots++
				}
				slots[prefix] = id
			}
			p.slots = append(p.slots, id)
		}
	}
	return c
}

// fastState holds the values one evaluation has read, by slot. A nil state keeps
// none (the condition has no slots).
type fastState struct {
	have uint16 // bit i: vals[i] is read
	vals [maxFastSlots]any
}

// eval decides the condition; ok is false when the VM must.
func (c *fastCond) eval(fields map[string]any) (result, ok bool) {
	if c.slots == 0 {
		return c.root.eval(fields, nil) // no path shares a value with another
	}
	var st fastState
	return c.root.eval(fields, &st)
}

func fastNode(n ast.Node) *condNode {
	switch n := n.(type) {
	case *ast.UnaryNode:
		if n.Operator != "!" && n.Operator != "not" {
			return nil
		}
		inner := fastNode(n.Node)
		if inner == nil {
			return nil
		}
		return &condNode{op: "!", left: inner}
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
			return &condNode{op: op, left: l, right: r}
		case "==", "!=", "contains", "startsWith", "endsWith":
			path, ok := fastPathOf(n.Left)
			if !ok {
				return nil
			}
			if other, ok := fastPathOf(n.Right); ok && (n.Operator == "==" || n.Operator == "!=") {
				return &condNode{op: n.Operator + "f", path: path, other: other}
			}
			lit, ok := fastLiteral(n.Right)
			if !ok {
				return nil
			}
			if _, isStr := lit.(string); !isStr && n.Operator != "==" && n.Operator != "!=" {
				return nil
			}
			return &condNode{op: n.Operator, path: path, lits: []any{lit}}
		case "in":
			path, ok := fastPathOf(n.Left)
			arr, isArr := n.Right.(*ast.ArrayNode)
			if !ok || !isArr {
				return nil
			}
			c := &condNode{op: "in", path: path}
			for _, el := range arr.Nodes {
				lit, ok := fastLiteral(el)
				if !ok {
					return nil
				}
				c.lits = append(c.lits, lit)
			}
			if len(c.lits) >= minInSet {
				c.set = map[string]struct{}{}
				for _, l := range c.lits {
					if s, ok := l.(string); ok {
						c.set[s] = struct{}{}
					}
				}
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
	p, ok := chainPath(n)
	if !ok {
		return fastPath{}, false
	}
	return fastPath{keys: p.keys, optional: p.optional}, true
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

// fetch reads the path, each of its values read before in this evaluation taken from
// st; ok is false where expr would fail (or might not agree).
func (p *fastPath) fetch(fields map[string]any, st *fastState) (any, bool) {
	var cur any = fields
	for i, k := range p.keys {
		if cur == nil {
			if p.optional[i] {
				return nil, true // an optional chain ends in nil
			}
			return nil, false
		}
		slot := p.slots[i]
		if slot >= 0 && st.have&(1<<slot) != 0 {
			cur = st.vals[slot]
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur = m[k]
		if slot >= 0 {
			st.vals[slot] = cur
			st.have |= 1 << slot
		}
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

// fastEqualValues is expr's runtime.Equal for two field values of the kinds the fast
// path decides: strings, booleans, nil, and int64 and float64 numbers (as grok and
// convert make them) compared by value; ok is false for the others (json.Number,
// objects, arrays), left to the VM.
func fastEqualValues(a, b any) (eq, ok bool) {
	num := func(v any) (float64, bool) {
		switch x := v.(type) {
		case int64:
			return float64(x), true
		case float64:
			return x, true
		}
		return 0, false
	}
	switch x := a.(type) {
	case nil:
		switch b.(type) {
		case nil, string, bool, int64, float64:
			return b == nil, true
		}
	case string:
		switch y := b.(type) {
		case string:
			return x == y, true
		case nil, bool, int64, float64:
			return false, true
		}
	case bool:
		switch y := b.(type) {
		case bool:
			return x == y, true
		case nil, string, int64, float64:
			return false, true
		}
	case int64, float64:
		if y, isNum := num(b); isNum {
			if xi, ok := x.(int64); ok {
				if yi, ok := b.(int64); ok {
					return xi == yi, true
				}
			}
			xf, _ := num(a)
			return xf == y, true
		}
		switch b.(type) {
		case nil, string, bool:
			return false, true
		}
	}
	return false, false
}

// eval decides the node; ok is false when the VM must.
func (c *condNode) eval(fields map[string]any, st *fastState) (result, ok bool) {
	switch c.op {
	case "&&", "||":
		l, ok := c.left.eval(fields, st)
		if !ok {
			return false, false
		}
		if l == (c.op == "||") {
			return l, true
		}
		return c.right.eval(fields, st)
	case "!":
		r, ok := c.left.eval(fields, st)
		return !r, ok
	}
	v, ok := c.path.fetch(fields, st)
	if !ok {
		return false, false
	}
	if c.op == "==f" || c.op == "!=f" {
		w, ok := c.other.fetch(fields, st)
		if !ok {
			return false, false
		}
		eq, ok := fastEqualValues(v, w)
		return eq == (c.op == "==f"), ok
	}
	switch c.op {
	case "==":
		return fastEqual(v, c.lits[0]), true
	case "!=":
		return !fastEqual(v, c.lits[0]), true
	case "in":
		// expr turns an array of string constants into a set, which fails on
		// anything but a string: leave other values to the VM.
		s, isStr := v.(string)
		if !isStr {
			return false, false
		}
		if c.set != nil {
			_, in := c.set[s]
			return in, true
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
