package pipeline

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// unpatchedOptions are exprOptions without the fetch rewrite: expr-lang's own
// compilation, the reference the rewrite must agree with.
func unpatchedOptions() []expr.Option {
	return []expr.Option{
		expr.Env(condEnv{}),
		expr.Function("num", exprNum, new(func(any) any)),
		expr.Function("cidr_match", exprCIDRMatch, new(func(any, ...string) bool)),
	}
}

// fetchExprs are expressions that read the event in the shapes the rewrite takes and
// around them: plain and optional chains, a member of a chain that the call does not
// take in ([0], a method, a slice), chains inside builtins, predicates and lets.
var fetchExprs = []string{
	`ctx.a`, `ctx.a.b`, `ctx.a.b.c`, `ctx.a?.b`, `ctx.a?.b.c`, `ctx.a?.b?.c`, `ctx.a.b?.c`, `ctx?.a`,
	`ctx["a"].b`, `ctx["a"]?.b`, `ctx.a.b[0]`, `ctx.a?.b[0]`, `ctx.a?.b[0].c`, `ctx.a[1:]`, `ctx.a?.b[1:]`,
	`ctx.a?.b ?? "none"`, `ctx.a.b == "x"`, `ctx.a?.b == "x" || ctx.c?.a != nil`, `len(ctx.a?.b ?? [])`,
	`string(ctx.a?.b?.c)`, `let v = ctx.a?.b; v == nil ? ctx.c : v`, `filter(ctx.a?.b ?? [], # != nil)`,
	`map(ctx.a ?? [], ctx.c)`, `ctx.a.b.c.a.b`, `{"k": ctx.a?.c}`, `[ctx.a, ctx.b?.c]`, `ctx.a?.b?.c startsWith "x"`,
	`ctx.a.Len`, `ctx.a?.b.c + ctx.c`, `num(ctx.a?.b) > 1`,
}

// randomDoc returns a random event document of keys a, b and c.
func randomDoc(r *rand.Rand) map[string]any {
	var value func(depth int) any
	value = func(depth int) any {
		switch r.IntN(8) {
		case 0:
			return nil
		case 1:
			return []string{"x", "y", "xyz", ""}[r.IntN(4)]
		case 2:
			return r.IntN(2) == 0
		case 3:
			return json.Number("1")
		case 4:
			return int64(r.IntN(3))
		case 5:
			return []any{"x", map[string]any{"c": "y"}, nil}[:r.IntN(4)]
		default:
			if depth > 3 {
				return "x"
			}
			m := map[string]any{}
			for _, k := range []string{"a", "b", "c"} {
				if r.IntN(3) > 0 {
					m[k] = value(depth + 1)
				}
			}
			return m
		}
	}
	doc, _ := value(0).(map[string]any)
	if doc == nil {
		doc = map[string]any{"a": value(1)}
	}
	return doc
}

// runBoth runs src compiled with and without the rewrite on doc.
func runBoth(t *testing.T, src string, doc map[string]any) (got, want any, gotErr, wantErr error) {
	t.Helper()
	patched, perr := expr.Compile(src, exprOptions()...)
	plain, err := expr.Compile(src, unpatchedOptions()...)
	if (perr == nil) != (err == nil) {
		t.Fatalf("%s: compiles with the rewrite: %v; without: %v", src, perr, err)
	}
	if err != nil {
		return nil, nil, perr, err
	}
	got, gotErr = vm.Run(patched, condEnv{Ctx: doc})
	want, wantErr = vm.Run(plain, condEnv{Ctx: doc})
	return got, want, gotErr, wantErr
}

// TestFetchRewriteAgreesWithExpr: on random documents, every expression gives the same
// value, or fails, with the rewrite as without it.
func TestFetchRewriteAgreesWithExpr(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	failed, succeeded := 0, 0
	for range 3000 {
		doc := randomDoc(r)
		for _, src := range fetchExprs {
			got, want, gotErr, wantErr := runBoth(t, src, doc)
			if (gotErr == nil) != (wantErr == nil) || !reflect.DeepEqual(got, want) {
				d, _ := json.Marshal(doc)
				t.Fatalf("%s on %s: rewritten %v (%v), expr-lang %v (%v)", src, d, got, gotErr, want, wantErr)
			}
			if gotErr != nil {
				failed++
			} else {
				succeeded++
			}
		}
	}
	if failed == 0 || succeeded == 0 {
		t.Fatalf("%d runs failed, %d succeeded: the documents do not exercise both", failed, succeeded)
	}
}

// TestFetchRewriteApplies: the chains that read the event compile to calls, not to a
// fetch per member; the message of a member of nil is expr-lang's own.
func TestFetchRewriteApplies(t *testing.T) {
	for src, fetches := range map[string]int{
		`ctx.a.b.c == "x"`:          0,
		`ctx.a?.b?.c != nil`:        0,
		`ctx["@timestamp"]`:         0,
		`ctx.a?.b[0]`:               1, // ?. then [0]: expr-lang's chain, member by member
		`ctx.a.b[0]`:                1, // [0] of the call's value
		`let x = ctx.a; x.b`:        1, // x is not ctx
		`filter(ctx.a ?? [], #.b)`:  1, // # is not ctx
		`ctx.a.b + ctx.c?.d ?? "x"`: 0,
	} {
		prog, err := expr.Compile(src, exprOptions()...)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		code := prog.Disassemble()
		if n := strings.Count(code, "OpFetch\t") + strings.Count(code, "OpFetch\n"); n != fetches {
			t.Errorf("%s: %d OpFetch, want %d:\n%s", src, n, fetches, code)
		}
		if fetches == 0 && !strings.Contains(code, "OpCall2") {
			t.Errorf("%s: no call of the rewrite:\n%s", src, code)
		}
	}
	_, _, gotErr, wantErr := runBoth(t, `ctx.a.b`, map[string]any{})
	if gotErr == nil || wantErr == nil || !strings.Contains(gotErr.Error(), "cannot fetch b from <nil>") {
		t.Errorf("member of nil: rewritten %v, expr-lang %v", gotErr, wantErr)
	}
	if _, err := expr.Compile(`__sluice_fetch(ctx, "a")`, exprOptions()...); err == nil {
		t.Error("an expression calls the rewrite's function by name")
	}
}

// FuzzFetchRewrite compiles any expression with and without the rewrite and runs both
// on a document: they compile alike, and give the same value or both fail.
func FuzzFetchRewrite(f *testing.F) {
	for _, src := range fetchExprs {
		f.Add(src, `{"a":{"b":{"c":"x"}},"c":[1,"y"]}`)
	}
	f.Add(`ctx.a?.b.c?.d`, `{"a":{"b":null}}`)
	f.Fuzz(func(t *testing.T, src, docJSON string) {
		if len(src) > 256 || strings.Contains(src, fetchFunc) || checkExprBounds(src) != nil {
			return
		}
		var doc map[string]any
		if json.Unmarshal([]byte(docJSON), &doc) != nil {
			return
		}
		got, want, gotErr, wantErr := runBoth(t, src, doc)
		if (gotErr == nil) != (wantErr == nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s on %s: rewritten %v (%v), expr-lang %v (%v)", src, docJSON, got, gotErr, want, wantErr)
		}
	})
}
