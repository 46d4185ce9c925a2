package pipeline

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/sluice-siem/sluice/transform/event"
)

// condEnv is what an `if` condition (and set's expr) sees, in the language of
// github.com/expr-lang/expr:
//
//   - ctx: the event document, as in ES ingest conditions. ctx.source.ip reads a nested
//     field; use ?. where an object may be missing (ctx.source?.ip), since reading a
//     field of a missing object is an error (and an error fails the processor).
//     ctx["@timestamp"] reads a key that is not an identifier. Objects are maps, arrays
//     are arrays, strings are strings, booleans are booleans.
//   - Numbers decoded from the shipped JSON keep their exact text (they are
//     json.Number); compare them through num(): num(ctx.http?.response?.status_code) >= 500.
//     Numbers processors made (grok :int, convert) are int64 or float64 and compare
//     directly.
//   - Functions besides expr's builtins (lower, upper, trim, len, contains, startsWith,
//     endsWith, matches, any, all, filter, map, first, ...):
//     num(x) converts a number or numeric string to float64 (nil stays nil);
//     cidr_match(ip, cidr...) reports whether the IP string is in one of the CIDR ranges.
//   - On failure (on_failure processors), ctx._ingest holds on_failure_message,
//     on_failure_pipeline, on_failure_processor, on_failure_processor_type and
//     on_failure_processor_tag.
type condEnv struct {
	Ctx map[string]any `expr:"ctx"`
}

// exprOptions are the compile options of conditions and expressions.
func exprOptions() []expr.Option {
	return []expr.Option{
		expr.Env(condEnv{}),
		expr.Function("num", exprNum, new(func(any) any)),
		expr.Function("cidr_match", exprCIDRMatch, new(func(any, ...string) bool)),
		expr.Function(fetchFunc, exprFetch, new(func(any, *exprPath) any)),
		expr.Patch(fetchPatch{}),
	}
}

// program is a compiled expression with the VMs that run it, reused across events.
type program struct {
	prog *vm.Program
	vms  sync.Pool // *vm.VM
	fast *fastCond // a condition's direct evaluation, when it has a simple shape
}

// Expressions are bounded before expr-lang parses them: its parser recurses once per
// level of nesting (brackets, unary operators, ternaries, ...) without a limit of its
// own, and a million levels overflow the goroutine stack, a crash no recover catches.
// The length bound is the guarantee (64 KiB of the deepest nesting parses in well under
// a second); the bracket depth bound is there for a clearer message.
const (
	maxExprBytes = 64 << 10
	maxExprDepth = 128
)

// checkExprBounds refuses expressions too long or too deeply bracketed to parse safely.
func checkExprBounds(src string) error {
	if len(src) > maxExprBytes {
		return fmt.Errorf("the expression is %d bytes long: at most %d are allowed", len(src), maxExprBytes)
	}
	depth := 0
	var quote byte
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case quote != 0:
			if c == '\\' && quote != '`' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '(' || c == '[' || c == '{':
			depth++
			if depth > maxExprDepth {
				return fmt.Errorf("the expression nests brackets more than %d deep", maxExprDepth)
			}
		case c == ')' || c == ']' || c == '}':
			depth = max(depth-1, 0)
		}
	}
	return nil
}

// compileCond compiles an `if` condition, which must be boolean.
func compileCond(src string) (*program, error) {
	if err := checkExprBounds(src); err != nil {
		return nil, err
	}
	prog, err := expr.Compile(src, append(exprOptions(), expr.AsBool())...)
	if err != nil {
		return nil, err
	}
	return &program{prog: prog, fast: compileFast(src)}, nil
}

// compileExpr compiles an expression of any type (set's expr option).
func compileExpr(src string) (*program, error) {
	if err := checkExprBounds(src); err != nil {
		return nil, err
	}
	prog, err := expr.Compile(src, exprOptions()...)
	if err != nil {
		return nil, err
	}
	return &program{prog: prog}, nil
}

// eval evaluates the expression against e.
func (p *program) eval(e *event.Event) (any, error) {
	v, _ := p.vms.Get().(*vm.VM)
	if v == nil {
		v = &vm.VM{}
	}
	out, err := v.Run(p.prog, condEnv{Ctx: e.Fields})
	p.vms.Put(v)
	return out, err
}

// test evaluates a condition.
func (p *program) test(e *event.Event) (bool, error) {
	if p.fast != nil {
		if r, ok := p.fast.eval(e.Fields); ok {
			return r, nil
		}
	}
	out, err := p.eval(e)
	if err != nil {
		return false, err
	}
	b, _ := out.(bool)
	return b, nil
}

func exprNum(params ...any) (any, error) {
	switch v := params[0].(type) {
	case nil:
		return nil, nil
	case json.Number:
		return strconv.ParseFloat(string(v), 64)
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return nil, fmt.Errorf("num: %q is not a number", truncate(v, 64))
		}
		return f, nil
	case int64:
		return float64(v), nil
	case int:
		return float64(v), nil
	case float64:
		return v, nil
	}
	return nil, fmt.Errorf("num: a %s is not a number", event.Kind(params[0]))
}

func exprCIDRMatch(params ...any) (any, error) {
	s, ok := params[0].(string)
	if !ok {
		return false, nil
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return false, nil
	}
	addr = addr.Unmap()
	for _, c := range params[1:] {
		cs, _ := c.(string)
		prefix, err := netip.ParsePrefix(cs)
		if err != nil {
			return false, fmt.Errorf("cidr_match: %q is not a CIDR range", cs)
		}
		if prefix.Contains(addr) {
			return true, nil
		}
	}
	return false, nil
}

// truncate shortens s to at most n bytes for messages, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
