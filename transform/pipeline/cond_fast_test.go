package pipeline

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sluice-siem/sluice/transform/event"
)

// TestFastConditionsAgreeWithExpr evaluates conditions of the shapes the fast path
// takes on random events, both directly and on expr's VM: wherever the fast path
// decides, it decides as the VM does, and it never decides where the VM fails.
func TestFastConditionsAgreeWithExpr(t *testing.T) {
	conds := []string{
		`ctx.a == "x"`, `ctx.a != "x"`, `ctx.a == nil`, `ctx.a != nil`, `ctx.a == true`, `ctx.a == 1`,
		`ctx.a.b == "x"`, `ctx.a?.b == "x"`, `ctx.a?.b.c == nil`, `ctx.a?.b?.c != nil`, `ctx["a"]?.b == 1`,
		`ctx.a in ["x", "y", 1, nil]`, `ctx.a?.b in ["x"]`, `ctx.a contains "x"`, `ctx.a?.b startsWith "x"`, `ctx.a endsWith "y"`,
		`ctx.a == "x" && ctx.b?.c == "y"`, `ctx.a == "x" || ctx.b.c == "y"`, `!(ctx.a == nil)`, `not (ctx.a?.b == "x") and ctx.b != nil`,
		`ctx.a not in ["x"]`, `ctx.a?.b?.c == false or ctx.a == 1`,
		// Paths sharing objects, read once per evaluation (the optional and the
		// required access to one object must still differ).
		`ctx.a?.b == nil || ctx.a.b == "x"`, `ctx.a.b != nil && ctx.a.b != "x"`, `ctx.a?.b == "x" || ctx.a?.b == "y" || ctx.a?.c == nil`,
		`ctx.a?.b?.c == nil && ctx.a.b.c == 1`, `ctx.a in ["q", "r", "s", "t", "u", "v", "w", "x", 1, nil, true]`,
		`ctx.a?.b in ["q", "r", "s", "t", "u", "v", "w", "y", "yx"]`,
		// Two fields compared: strings, numbers of both kinds, booleans, nil.
		`ctx.a == ctx.b`, `ctx.a != ctx.b?.c`, `ctx.a?.b != nil && ctx.a.b != ctx.c`, `ctx.a?.c == ctx.b?.c || ctx.a == ctx.c`, `!(ctx.b in ["1", "2", "3", "4", "5", "6", "7", "8", "xy", ""])`, `!(ctx.b?.a == "x") && ctx.b?.c in ["y", "x"] && ctx.b.a startsWith "x"`,
	}
	values := func(r *rand.Rand, depth int) any { return nil }
	values = func(r *rand.Rand, depth int) any {
		switch r.IntN(9) {
		case 0:
			return nil
		case 1:
			return []string{"x", "y", "xy", "yx", ""}[r.IntN(5)]
		case 2:
			return r.IntN(2) == 0
		case 3:
			return json.Number([]string{"1", "1.0", "x"}[r.IntN(3)])
		case 4:
			return int64(r.IntN(3))
		case 5:
			return float64(r.IntN(3))
		case 6:
			return []any{"x"}
		default:
			if depth > 2 {
				return "x"
			}
			m := map[string]any{}
			for _, k := range []string{"a", "b", "c"} {
				if r.IntN(3) > 0 {
					m[k] = values(r, depth+1)
				}
			}
			return m
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, src := range conds {
		p, err := compileCond(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if p.fast == nil {
			t.Errorf("%s: no fast path", src)
			continue
		}
		decided := 0
		for range 2000 {
			fields := map[string]any{}
			for _, k := range []string{"a", "b"} {
				if r.IntN(4) > 0 {
					fields[k] = values(r, 0)
				}
			}
			fast, ok := p.fast.eval(fields)
			out, vmErr := p.eval(&event.Event{Fields: fields})
			if !ok {
				continue
			}
			decided++
			if vmErr != nil {
				t.Fatalf("%s on %s: fast path says %v, expr fails: %v", src, show(fields), fast, vmErr)
			}
			if out != fast {
				t.Fatalf("%s on %s: fast path says %v, expr %v", src, show(fields), fast, out)
			}
		}
		if decided == 0 {
			t.Errorf("%s: the fast path never decided", src)
		}
	}
	for _, src := range []string{`num(ctx.a) > 1`, `ctx.a matches "x"`, `ctx.a.b`, `len(ctx.a) == 1`} {
		if p, err := compileCond(src); err == nil && p.fast != nil {
			t.Errorf("%s: has a fast path", src)
		}
	}
}

func show(v any) string { return fmt.Sprintf("%#v", v) }
