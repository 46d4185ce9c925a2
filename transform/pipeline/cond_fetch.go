package pipeline

import (
	"slices"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm/runtime"
)

// This file holds a compile-time rewrite of expressions: each chain of named members
// that reads the event (ctx.source.ip, ctx.panw?.panos?.type, ctx["@timestamp"]) becomes
// one call that walks the event's maps directly. expr-lang compiles such a chain to one
// fetch per member, and its fetch reads a map through reflection; the expressions of
// the vendor samples read two or three levels deep, many times per event. The call
// reads the same values and fails the same way: a member of nil is an error unless the
// member is optional (?.), which makes the whole chain nil; a value that is not one of
// the event's objects is read by expr's own fetch.

// fetchFunc is the name of the call the rewrite makes. Its second argument can only be
// a value the rewrite made, so an expression that calls it by name fails to compile.
const fetchFunc = "__sluice_fetch"

// exprPath is a chain's member names from ctx, and which of them are optional.
type exprPath struct {
	keys     []string
	optional []bool
}

// exprFetch is fetchFunc: params are the chain's root (ctx) and its *exprPath.
func exprFetch(params ...any) (any, error) {
	cur, p := params[0], params[1].(*exprPath)
	for i, k := range p.keys {
		switch m := cur.(type) {
		case map[string]any:
			cur = m[k]
		case nil:
			if p.optional[i] {
				return nil, nil // an optional member of nil ends the chain in nil
			}
			cur = runtime.Fetch(nil, k) // panics as expr's fetch does: "cannot fetch k from <nil>"
		default:
			cur = runtime.Fetch(cur, k)
		}
	}
	return cur, nil
}

// fetchPatch is the rewrite, an ast.Visitor (expr.Patch). The walk visits a chain's
// inner members before the outer ones: a chain without ?. is rewritten member by
// member, each call taking in the one inside it; a chain with ?. only as a whole, at
// its ChainNode, since a nil that ?. makes ends the chain's remaining members too,
// members (such as [0]) that the call does not take in included.
type fetchPatch struct{}

func (fetchPatch) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.MemberNode:
		if p, ok := chainPath(n); ok && !slices.Contains(p.optional, true) {
			ast.Patch(node, fetchCall(p))
		}
	case *ast.ChainNode:
		if p, ok := chainPath(n.Node); ok {
			ast.Patch(node, fetchCall(p))
		}
	}
}

// chainPath returns the path of a chain of named members from ctx (or from a call the
// rewrite made), and false for any other node.
func chainPath(n ast.Node) (*exprPath, bool) {
	var keys []string
	var optional []bool
	for {
		switch m := n.(type) {
		case *ast.MemberNode:
			prop, ok := m.Property.(*ast.StringNode)
			if !ok || m.Method {
				return nil, false
			}
			keys = append(keys, prop.Value)
			optional = append(optional, m.Optional)
			n = m.Node
		case *ast.IdentifierNode:
			if m.Value != "ctx" || len(keys) == 0 {
				return nil, false
			}
			slices.Reverse(keys)
			slices.Reverse(optional)
			return &exprPath{keys: keys, optional: optional}, true
		case *ast.CallNode:
			inner, ok := fetchCallPath(m)
			if !ok || len(keys) == 0 {
				return nil, false
			}
			slices.Reverse(keys)
			slices.Reverse(optional)
			return &exprPath{
				keys:     append(slices.Clone(inner.keys), keys...),
				optional: append(slices.Clone(inner.optional), optional...),
			}, true
		default:
			return nil, false
		}
	}
}

// fetchCall is the call that reads p.
func fetchCall(p *exprPath) ast.Node {
	return &ast.CallNode{
		Callee:    &ast.IdentifierNode{Value: fetchFunc},
		Arguments: []ast.Node{&ast.IdentifierNode{Value: "ctx"}, &ast.ConstantNode{Value: p}},
	}
}

// fetchCallPath returns the path of a call the rewrite made.
func fetchCallPath(c *ast.CallNode) (*exprPath, bool) {
	id, ok := c.Callee.(*ast.IdentifierNode)
	if !ok || id.Value != fetchFunc || len(c.Arguments) != 2 {
		return nil, false
	}
	if root, ok := c.Arguments[0].(*ast.IdentifierNode); !ok || root.Value != "ctx" {
		return nil, false
	}
	k, ok := c.Arguments[1].(*ast.ConstantNode)
	if !ok {
		return nil, false
	}
	p, ok := k.Value.(*exprPath)
	return p, ok
}
