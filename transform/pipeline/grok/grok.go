// Package grok is the grok compiler of the transform step's parsers: it turns a grok
// expression ("%{IPV4:source.ip} %{WORD:event.action}") into a matcher built for a CPU
// budget, with exactly the results of the equivalent regular expression.
//
// A grok expression is a regular expression (RE2 syntax) in which %{NAME} stands for a
// named pattern of the vocabulary (or of custom definitions), %{NAME:field} also
// captures what it matches into field, and %{NAME:field:type} converts the capture
// (int, long, float or double). Expand gives the plain regular expression; its
// semantics — leftmost match, then Perl's leftmost-first preference among alternatives
// and repetitions — are the reference.
//
// Compile builds a backtracking matcher over coarse instructions instead of running
// the expanded expression through regexp: a literal is one comparison, a repeated
// character class is one scanning loop (which gives nothing back when what follows
// cannot start with a byte of the class), a lazy or greedy run up to a literal
// (%{DATA} followed by " OUT=") jumps between the literal's occurrences with
// strings.Index, alternatives are skipped when the next byte cannot start them, IPV4
// is a hand scanner and IPV6 is tried only where an address can start. Backtracking
// follows the reference's preference order, so the first match found is the
// reference's match; TestDifferential checks that over generated lines.
//
// Backtracking can take polynomial time on hostile input, so each match has a budget
// of steps linear in the input's length: when it runs out, the match is run again
// with Go's regexp on the expanded expression, which is linear. Matching is therefore
// linear in the input by construction, and the fast path serves all but pathological
// lines.
package grok

import (
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"sync/atomic"
)

// Field is one named capture of a compiled expression.
type Field struct {
	// Name is the field the capture is stored in, as written ("source.ip").
	Name string
	// Type is how the capture is converted: "" (a string), "int", "long", "float" or
	// "double".
	Type string
}

// Pattern is one compiled grok expression. It is safe for concurrent use.
type Pattern struct {
	expr   string
	fields []Field
	defs   map[string]string // the custom definitions, for Explain

	prog     *prog // nil when the expression uses something the fast matcher lacks
	progCaps []int // per field, its capture index in prog
	nslots   int   // slots prog needs: two per capture group

	// re is the reference, the expansion without markers, compiled: for an
	// expression on the fast matcher only when a match first falls back to it, since
	// it is rarely needed and takes as much memory as the fast program (a vendor
	// sample's patterns: megabytes).
	re     atomic.Pointer[regexp.Regexp] // nil until needed (see reference)
	reSrc  string
	reCaps []int // per field, its capture index in re

	fallbacks atomic.Int64
}

// The generated capture group names: fields and pattern markers. User-written named
// groups may not start with "__".
const (
	fieldGroupPrefix  = "__f"
	markerGroupPrefix = "__p"
)

// maxDepth bounds how deeply patterns may refer to patterns.
const maxDepth = 32

// Expand returns the plain regular expression of a grok expression, with one named
// group per field (named __f0, __f1, ... in the order of fields), and the fields.
// defs are custom pattern definitions, which take precedence over the vocabulary.
func Expand(expr string, defs map[string]string) (string, []Field, error) {
	x := expander{defs: defs, vocab: Vocabulary()}
	re, err := x.expand(expr, nil)
	if err != nil {
		return "", nil, err
	}
	return re, x.fields, nil
}

// expander expands grok expressions. With markers set, each use of a named pattern is
// also wrapped in a capture group named __pN, where patterns[N] is the pattern's name,
// so that the compiler can recognize the patterns it has scanners for.
type expander struct {
	defs, vocab map[string]string
	markers     bool
	fields      []Field
	patterns    []string
	// uses, with markers, is every marker's pattern: its name (custom ones too), the
	// field it is captured into, and how deep it is.
	uses []Part
}

func (x *expander) lookup(name string) (def string, builtin bool, ok bool) {
	if d, ok := x.defs[name]; ok {
		return d, false, true
	}
	d, ok := x.vocab[name]
	return d, true, ok
}

// builtinName is the name under which a pattern's marker records it: the name for an
// unchanged vocabulary pattern, empty for a custom one (so no scanner replaces it).
func (x *expander) expand(expr string, stack []string) (string, error) {
	if len(stack) > maxDepth {
		return "", fmt.Errorf("patterns nest deeper than %d: %s", maxDepth, strings.Join(stack, " -> "))
	}
	var b strings.Builder
	for {
		i := strings.Index(expr, "%{")
		if i < 0 {
			b.WriteString(expr)
			return b.String(), nil
		}
		b.WriteString(expr[:i])
		expr = expr[i+2:]
		j := strings.IndexByte(expr, '}')
		if j < 0 {
			return "", fmt.Errorf("unterminated %%{ in %q", truncate(expr, 40))
		}
		ref := expr[:j]
		expr = expr[j+1:]
		name, field, _ := strings.Cut(ref, ":")
		field, typ, _ := strings.Cut(field, ":")
		if !validName(name) {
			return "", fmt.Errorf("invalid pattern name %q in %%{%s}", name, ref)
		}
		switch typ {
		case "", "int", "long", "float", "double":
		default:
			return "", fmt.Errorf("%%{%s}: type %q is not int, long, float or double", ref, typ)
		}
		for _, s := range stack {
			if s == name {
				return "", fmt.Errorf("pattern %s refers to itself: %s -> %s", name, strings.Join(stack, " -> "), name)
			}
		}
		def, builtin, ok := x.lookup(name)
		if !ok {
			return "", fmt.Errorf("unknown pattern %%{%s}", name)
		}
		// A field's group opens before the pattern's contents are expanded, so group
		// numbers follow the order of fields and the reference numbers them alike.
		if field != "" {
			fmt.Fprintf(&b, "(?P<%s%d>", fieldGroupPrefix, len(x.fields))
			x.fields = append(x.fields, Field{Name: field, Type: typ})
		}
		if x.markers {
			marked := ""
			if builtin {
				marked = name
			}
			fmt.Fprintf(&b, "(?P<%s%d>", markerGroupPrefix, len(x.patterns))
			x.patterns = append(x.patterns, marked)
			x.uses = append(x.uses, Part{Name: name, Field: field, Depth: len(stack)})
		} else {
			b.WriteString("(?:")
		}
		inner, err := x.expand(def, append(stack, name))
		if err != nil {
			if len(stack) == 0 {
				return "", fmt.Errorf("%%{%s}: %w", ref, err)
			}
			return "", err
		}
		b.WriteString(inner)
		b.WriteString(")")
		if field != "" {
			b.WriteString(")")
		}
	}
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Compile compiles a grok expression. defs are custom pattern definitions (name ->
// definition), which take precedence over the vocabulary. Named groups written in the
// expression itself ((?P<name>...) or (?<name>...)) capture fields too.
func Compile(expr string, defs map[string]string) (*Pattern, error) {
	plain := expander{defs: defs, vocab: Vocabulary()}
	reSrc, err := plain.expand(expr, nil)
	if err != nil {
		return nil, err
	}
	re, err := regexp.Compile(reSrc)
	if err != nil {
		return nil, fmt.Errorf("compile %q: %w", truncate(expr, 80), cleanRegexpError(err))
	}
	p := &Pattern{expr: expr, reSrc: reSrc, defs: defs}
	p.re.Store(re)
	// Fields: the generated groups, then any named groups the user wrote.
	p.fields = plain.fields
	for i := range plain.fields {
		p.reCaps = append(p.reCaps, re.SubexpIndex(fieldGroupPrefix+strconv.Itoa(i)))
	}
	var userNames []string
	for i, name := range re.SubexpNames() {
		if name == "" || strings.HasPrefix(name, fieldGroupPrefix) {
			continue
		}
		if strings.HasPrefix(name, "__") {
			return nil, fmt.Errorf("compile %q: group names starting with __ are reserved", truncate(expr, 80))
		}
		userNames = append(userNames, name)
		p.fields = append(p.fields, Field{Name: name})
		p.reCaps = append(p.reCaps, i)
	}

	marked := expander{defs: defs, vocab: plain.vocab, markers: true}
	progSrc, err := marked.expand(expr, nil)
	if err != nil {
		return nil, err
	}
	ast, err := syntax.Parse(progSrc, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("compile %q: %w", truncate(expr, 80), cleanRegexpError(err))
	}
	capIndex := map[string]int{}
	var walk func(*syntax.Regexp)
	walk = func(r *syntax.Regexp) {
		if r.Op == syntax.OpCapture && r.Name != "" {
			capIndex[r.Name] = r.Cap
		}
		for _, s := range r.Sub {
			walk(s)
		}
	}
	walk(ast)
	// The fast matcher covers nearly every expression; one it cannot compile (an empty
	// loop such as (a*)*, or a huge repetition) runs on regexp alone.
	pr, err := compileProg(ast, marked.patterns)
	if err != nil {
		return p, nil
	}
	p.prog, p.nslots = pr, pr.nslots
	p.re.Store(nil) // compiled again when a match falls back (see reference)
	for i := range plain.fields {
		p.progCaps = append(p.progCaps, pr.caps[capIndex[fieldGroupPrefix+strconv.Itoa(i)]])
	}
	for _, name := range userNames {
		p.progCaps = append(p.progCaps, pr.caps[capIndex[name]])
	}
	return p, nil
}

// cleanRegexpError keeps a regexp error readable: its code, and the offending fragment
// unless it holds the generated group syntax, which would only confuse.
func cleanRegexpError(err error) error {
	se, ok := err.(*syntax.Error)
	if !ok {
		return err
	}
	if se.Expr == "" || strings.Contains(se.Expr, "(?P<__") {
		return fmt.Errorf("%s", se.Code)
	}
	return fmt.Errorf("%s: %s", se.Code, truncate(se.Expr, 40))
}

// Fields returns the expression's fields in capture order. A field may appear more
// than once (in alternatives): Match reports each occurrence.
func (p *Pattern) Fields() []Field { return p.fields }

// String returns the grok expression.
func (p *Pattern) String() string { return p.expr }

// Regexp returns the reference regular expression: the expansion of the expression.
func (p *Pattern) Regexp() string { return p.reSrc }

// Fast reports whether the expression runs on the fast matcher (else on regexp).
func (p *Pattern) Fast() bool { return p.prog != nil }

// Fallbacks returns how many matches ran out of their step budget and were run by
// regexp instead.
func (p *Pattern) Fallbacks() int64 { return p.fallbacks.Load() }

// Match matches s (leftmost match, anywhere in s, like the reference) and, on a
// match, stores each field's capture as a start and end offset into s in spans
// (spans[2*i], spans[2*i+1] for Fields()[i]), or -1, -1 for a field whose group did not
// take part. spans must have room for 2*len(Fields()) offsets.
func (p *Pattern) Match(s string, spans []int) bool {
	matched, _ := p.MatchFallback(s, spans)
	return matched
}

// MatchFallback is Match that also reports whether regexp ran the match instead of
// the fast matcher: always for an expression that is not Fast, else when the fast
// matcher ran out of its step budget on s.
func (p *Pattern) MatchFallback(s string, spans []int) (matched, fallback bool) {
	if p.prog == nil || len(s) > math.MaxInt32 {
		return p.matchRegexp(s, spans), true
	}
	var buf [256]int
	var slots []int
	if p.nslots <= len(buf) {
		slots = buf[:p.nslots]
	} else {
		slots = make([]int, p.nslots)
	}
	switch p.prog.exec(s, slots, budgetFor(len(s))) {
	case execMatch:
		for i, c := range p.progCaps {
			spans[2*i], spans[2*i+1] = slots[2*c], slots[2*c+1]
		}
		return true, false
	case execNoMatch:
		return false, false
	default:
		p.fallbacks.Add(1)
		return p.matchRegexp(s, spans), true
	}
}

func (p *Pattern) matchRegexp(s string, spans []int) bool {
	loc := p.reference().FindStringSubmatchIndex(s)
	if loc == nil {
		return false
	}
	for i, c := range p.reCaps {
		spans[2*i], spans[2*i+1] = loc[2*c], loc[2*c+1]
	}
	return true
}

// reference returns the compiled reference, compiling it on first use. Compile
// compiled the same source already, so this cannot fail; two matches that fall back
// at once may both compile it, and one of the two is kept.
func (p *Pattern) reference() *regexp.Regexp {
	if re := p.re.Load(); re != nil {
		return re
	}
	re := regexp.MustCompile(p.reSrc)
	if p.re.CompareAndSwap(nil, re) {
		return re
	}
	return p.re.Load()
}

// budgetFor is the number of steps a match of an input of n bytes may take on the
// fast matcher: linear in n, and far above what a matching line needs (about one step
// per instruction plus one per byte scanned).
func budgetFor(n int) int { return 512 + 16*n }

// Part is what one %{NAME} of an expression matched, as Explain reports it.
type Part struct {
	// Name is the pattern's name; Field the field it is captured into, if any.
	Name, Field string
	// Depth is how deep the use is in other patterns' definitions (0: in the
	// expression itself).
	Depth int
	// Start and End are the offsets of what it matched in the subject.
	Start, End int
}

// Explain matches s as Match does and reports what each use of a named pattern
// matched, in the order they appear in the expanded expression (a pattern before the
// patterns of its definition); uses that took no part in the match are left out. It
// compiles a regexp of its own each time: it is for explaining a match to a person
// (the console's playground), never for the data path.
func (p *Pattern) Explain(s string) ([]Part, bool, error) {
	x := expander{defs: p.defs, vocab: Vocabulary(), markers: true}
	src, err := x.expand(p.expr, nil)
	if err != nil {
		return nil, false, err
	}
	re, err := regexp.Compile(src)
	if err != nil {
		return nil, false, fmt.Errorf("compile %q: %w", truncate(p.expr, 80), cleanRegexpError(err))
	}
	loc := re.FindStringSubmatchIndex(s)
	if loc == nil {
		return nil, false, nil
	}
	var parts []Part
	for i, use := range x.uses {
		g := re.SubexpIndex(markerGroupPrefix + strconv.Itoa(i))
		if g < 0 || loc[2*g] < 0 {
			continue
		}
		use.Start, use.End = loc[2*g], loc[2*g+1]
		parts = append(parts, use)
	}
	return parts, true, nil
}
