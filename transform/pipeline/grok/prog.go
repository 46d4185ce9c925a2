package grok

import (
	"errors"
	"fmt"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// opcode is an instruction of the fast matcher. Instructions are coarse: one consumes
// a whole literal, a whole run of a character class, or a whole IPv4 address.
type opcode uint8

const (
	opMatch     opcode = iota // the whole expression matched
	opFail                    // never matches
	opLit                     // lit, byte for byte (never contains U+FFFD)
	opLitFold                 // lit's runes, each matching any rune of its case-folding orbit
	opSpan                    // min to max (-1: unbounded) runes of cls, greedy or lazy
	opFind                    // a span of cls (min 0 or 1, unbounded) that can only end where lit starts
	opAlt                     // try x, then y
	opJmp                     // continue at x
	opSave                    // slot n = position
	opAssert                  // zero-width assertion n (a syntax.EmptyOp)
	opIPv4                    // the IPV4 vocabulary pattern, by hand
	opGuardIPv6               // fail unless an IPV6 vocabulary pattern can start here
)

// inst is one instruction.
type inst struct {
	op         opcode
	greedy     bool
	possessive bool // a greedy span that gives nothing back: what follows cannot start with cls
	x, y       int
	n          int
	min, max   int
	lit        string
	cls        *charClass
	// first sets: of the branches of opAlt (xfirst, yfirst); of what follows a span
	// (follow), to skip give-back positions that cannot continue.
	xfirst, yfirst, follow firstSet
}

// prog is a compiled expression: instructions from pc 0, which saves slot 0.
type prog struct {
	insts []inst
	// start is the first set of the whole expression, to skip start positions.
	start firstSet
	// anchored: the expression starts with ^ (\A): only position 0 can match.
	anchored bool
	// prefix: the expression starts with this literal: start positions are its
	// occurrences.
	prefix string
	// caps maps the expansion's capture group numbers to the program's; nslots is
	// two per program capture, the whole match included.
	caps   map[int]int
	nslots int
}

// maxInsts bounds a program's size; bigger expressions (huge repetitions) run on
// regexp.
const maxInsts = 50000

var errUnsupported = errors.New("not supported by the fast matcher")

// compileProg compiles a parsed expansion. markers holds, for each marker group
// __pN, the vocabulary pattern it stands for ("" for custom ones).
func compileProg(re *syntax.Regexp, markers []string) (*prog, error) {
	c := &compiler{markers: markers, caps: map[int]int{}}
	c.emit(inst{op: opSave, n: 0})
	c.gen(re)
	c.emit(inst{op: opSave, n: 1})
	c.emit(inst{op: opMatch})
	if c.err != nil {
		return nil, c.err
	}
	// The program lives as long as its pipeline: keep its instructions without the
	// room append left for more.
	p := &prog{insts: slices.Clone(c.insts), caps: c.caps, nslots: 2 * (len(c.caps) + 1)}
	p.analyze()
	return p, nil
}

type compiler struct {
	insts   []inst
	markers []string
	caps    map[int]int // capture group number in the expansion -> capture index in prog
	err     error
}

func (c *compiler) emit(i inst) int {
	if len(c.insts) >= maxInsts {
		c.err = fmt.Errorf("more than %d instructions: %w", maxInsts, errUnsupported)
	}
	c.insts = append(c.insts, i)
	return len(c.insts) - 1
}

func (c *compiler) gen(re *syntax.Regexp) {
	if c.err != nil {
		return
	}
	switch re.Op {
	case syntax.OpNoMatch:
		c.emit(inst{op: opFail})
	case syntax.OpEmptyMatch:
	case syntax.OpLiteral:
		c.genLiteral(re)
	case syntax.OpCharClass, syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		c.emit(inst{op: opSpan, cls: classOf(re), min: 1, max: 1, greedy: true})
	case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		c.emit(inst{op: opAssert, n: int(emptyOpOf(re.Op))})
	case syntax.OpCapture:
		c.genCapture(re)
	case syntax.OpStar:
		c.genRepeat(re, 0, -1)
	case syntax.OpPlus:
		c.genRepeat(re, 1, -1)
	case syntax.OpQuest:
		c.genRepeat(re, 0, 1)
	case syntax.OpRepeat:
		c.genRepeat(re, re.Min, re.Max)
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			c.gen(sub)
		}
	case syntax.OpAlternate:
		// alt L1, next; L1: sub1; jmp end; next: alt L2, next2; ...; last: subN; end:
		var jumps []int
		for i, sub := range re.Sub {
			if i == len(re.Sub)-1 {
				c.gen(sub)
				break
			}
			alt := c.emit(inst{op: opAlt})
			c.insts[alt].x = len(c.insts)
			c.gen(sub)
			jumps = append(jumps, c.emit(inst{op: opJmp}))
			if c.err != nil {
				return
			}
			c.insts[alt].y = len(c.insts)
		}
		for _, j := range jumps {
			c.insts[j].x = len(c.insts)
		}
	default:
		c.err = fmt.Errorf("%s: %w", re.Op, errUnsupported)
	}
}

func emptyOpOf(op syntax.Op) syntax.EmptyOp {
	switch op {
	case syntax.OpBeginLine:
		return syntax.EmptyBeginLine
	case syntax.OpEndLine:
		return syntax.EmptyEndLine
	case syntax.OpBeginText:
		return syntax.EmptyBeginText
	case syntax.OpEndText:
		return syntax.EmptyEndText
	case syntax.OpWordBoundary:
		return syntax.EmptyWordBoundary
	default:
		return syntax.EmptyNoWordBoundary
	}
}

// genLiteral emits a literal string. regexp decodes an invalid input byte as U+FFFD,
// so a U+FFFD in the pattern matches one: such runes become one-rune classes, and
// opLit compares valid UTF-8 only.
func (c *compiler) genLiteral(re *syntax.Regexp) {
	if re.Flags&syntax.FoldCase != 0 {
		c.emit(inst{op: opLitFold, lit: string(re.Rune)})
		return
	}
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			c.emit(inst{op: opLit, lit: b.String()})
			b.Reset()
		}
	}
	for _, r := range re.Rune {
		if r == utf8.RuneError {
			flush()
			c.emit(inst{op: opSpan, cls: newClass([]rune{r, r}), min: 1, max: 1, greedy: true})
			continue
		}
		b.WriteRune(r)
	}
	flush()
}

func (c *compiler) genCapture(re *syntax.Regexp) {
	if strings.HasPrefix(re.Name, markerGroupPrefix) {
		i, err := strconv.Atoi(re.Name[len(markerGroupPrefix):])
		if err == nil && i < len(c.markers) {
			switch c.markers[i] {
			case "IPV4":
				c.emit(inst{op: opIPv4})
				return
			case "IPV6":
				c.emit(inst{op: opGuardIPv6})
			}
		}
		c.gen(re.Sub[0])
		return
	}
	// Marker groups take no slots: captures are numbered afresh, from 1.
	slot, ok := c.caps[re.Cap]
	if !ok {
		slot = len(c.caps) + 1
		c.caps[re.Cap] = slot
	}
	c.emit(inst{op: opSave, n: 2 * slot})
	c.gen(re.Sub[0])
	c.emit(inst{op: opSave, n: 2*slot + 1})
}

// genRepeat emits min to max (-1: unbounded) repetitions of re.Sub[0], in regexp's
// order of preference: x{2,4} is xx(x(x)?)? (each optional copy only after the one
// before it), x{2,} is xx*.
func (c *compiler) genRepeat(re *syntax.Regexp, min, max int) {
	sub := re.Sub[0]
	greedy := re.Flags&syntax.NonGreedy == 0
	if cls := singleRune(sub); cls != nil {
		c.emit(inst{op: opSpan, cls: cls, min: min, max: max, greedy: greedy})
		return
	}
	if max == -1 && nullable(sub) {
		// Empty iterations have subtle semantics; regexp has them right.
		c.err = fmt.Errorf("repetition of an expression that can match empty: %w", errUnsupported)
		return
	}
	if min > 1000 || max > 1000 {
		c.err = fmt.Errorf("repetition count above 1000: %w", errUnsupported)
		return
	}
	if max == -1 && min > 0 {
		for range min - 1 {
			c.gen(sub)
		}
		// x+: L: x; alt L, end
		loop := len(c.insts)
		c.gen(sub)
		c.emitChoice(greedy, loop, -1)
		return
	}
	for range min {
		c.gen(sub)
	}
	if max == -1 {
		// x*: L: alt body, end; body: x; jmp L; end:
		loop := c.emitChoice(greedy, -1, -1)
		c.setFirst(loop, greedy, len(c.insts))
		c.gen(sub)
		c.emit(inst{op: opJmp, x: loop})
		c.setSecond(loop, greedy, len(c.insts))
		return
	}
	var alts []int
	for range max - min {
		a := c.emitChoice(greedy, -1, -1)
		c.setFirst(a, greedy, len(c.insts))
		alts = append(alts, a)
		c.gen(sub)
	}
	for _, a := range alts {
		c.setSecond(a, greedy, len(c.insts))
	}
}

// emitChoice emits an opAlt between taking the repetition (body) and leaving it
// (exit), preferring body when greedy. -1 targets are patched later by setFirst (the
// body) and setSecond (the exit).
func (c *compiler) emitChoice(greedy bool, body, exit int) int {
	pc := len(c.insts)
	c.emit(inst{op: opAlt})
	if body >= 0 {
		c.setFirst(pc, greedy, body)
	}
	if exit >= 0 {
		c.setSecond(pc, greedy, exit)
	} else if body >= 0 {
		c.setSecond(pc, greedy, pc+1)
	}
	return pc
}

func (c *compiler) setFirst(pc int, greedy bool, body int) {
	if c.err != nil {
		return
	}
	if greedy {
		c.insts[pc].x = body
	} else {
		c.insts[pc].y = body
	}
}

func (c *compiler) setSecond(pc int, greedy bool, exit int) {
	if c.err != nil {
		return
	}
	if greedy {
		c.insts[pc].y = exit
	} else {
		c.insts[pc].x = exit
	}
}

// singleRune returns the class of an expression that matches exactly one rune, or nil.
func singleRune(re *syntax.Regexp) *charClass {
	switch re.Op {
	case syntax.OpCharClass, syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		return classOf(re)
	case syntax.OpLiteral:
		if len(re.Rune) == 1 {
			return classOf(re)
		}
	}
	return nil
}

// nullable reports whether re can match the empty string (assertions count as empty).
func nullable(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary, syntax.OpStar, syntax.OpQuest:
		return true
	case syntax.OpLiteral:
		return len(re.Rune) == 0
	case syntax.OpCapture, syntax.OpPlus:
		return nullable(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min == 0 || nullable(re.Sub[0])
	case syntax.OpConcat:
		for _, s := range re.Sub {
			if !nullable(s) {
				return false
			}
		}
		return true
	case syntax.OpAlternate:
		for _, s := range re.Sub {
			if nullable(s) {
				return true
			}
		}
		return false
	}
	return false
}

// classOf builds the class of a one-rune expression.
func classOf(re *syntax.Regexp) *charClass {
	switch re.Op {
	case syntax.OpAnyCharNotNL:
		return newClass([]rune{0, '\n' - 1, '\n' + 1, unicode.MaxRune})
	case syntax.OpAnyChar:
		return newClass([]rune{0, unicode.MaxRune})
	case syntax.OpLiteral:
		r := re.Rune[0]
		if re.Flags&syntax.FoldCase == 0 {
			return newClass([]rune{r, r})
		}
		var ranges []rune
		for f := r; ; {
			ranges = append(ranges, f, f)
			if f = unicode.SimpleFold(f); f == r {
				break
			}
		}
		return newClass(ranges)
	default:
		return newClass(re.Rune)
	}
}

// analyze computes first sets, marks possessive spans, turns spans that must end at a
// literal into opFind, and finds how start positions can be skipped.
func (p *prog) analyze() {
	n := len(p.insts)
	memo := make([]*firstSet, n)
	state := make([]uint8, n) // 0 new, 1 in progress, 2 done
	var first func(pc int) firstSet
	first = func(pc int) firstSet {
		if pc >= n {
			return firstSet{empty: true}
		}
		switch state[pc] {
		case 2:
			return *memo[pc]
		case 1:
			return anyFirst() // a cycle without consuming: be conservative
		}
		state[pc] = 1
		var f firstSet
		in := &p.insts[pc]
		switch in.op {
		case opMatch:
			f = firstSet{empty: true}
		case opFail:
		case opLit:
			f.add(in.lit[0])
		case opLitFold:
			r, _ := utf8.DecodeRuneInString(in.lit)
			for g := r; ; {
				var buf [utf8.UTFMax]byte
				utf8.EncodeRune(buf[:], g)
				f.add(buf[0])
				if g == utf8.RuneError {
					f.addHigh()
				}
				if g = unicode.SimpleFold(g); g == r {
					break
				}
			}
		case opSpan, opFind:
			f = in.cls.first()
			if in.min == 0 {
				f.union(first(pc + 1))
			}
		case opIPv4:
			for b := byte('0'); b <= '9'; b++ {
				f.add(b)
			}
		case opAlt:
			f = first(in.x)
			f.union(first(in.y))
		case opJmp:
			f = first(in.x)
		default: // opSave, opAssert, opGuardIPv6: zero-width
			f = first(pc + 1)
		}
		memo[pc], state[pc] = &f, 2
		return f
	}
	for pc := range p.insts {
		in := &p.insts[pc]
		switch in.op {
		case opAlt:
			in.xfirst, in.yfirst = first(in.x), first(in.y)
		case opSpan:
			in.follow = first(pc + 1)
		}
	}
	for pc := range p.insts {
		in := &p.insts[pc]
		if in.op != opSpan || in.min == in.max {
			continue
		}
		if in.greedy && p.cannotGiveBack(pc) {
			in.possessive = true
			continue
		}
		if in.max == -1 && in.min <= 1 {
			if lit, ok := p.literalAfter(pc + 1); ok {
				in.op, in.lit = opFind, lit
			}
		}
	}
	p.start = first(0)
	pc := 1 // after save 0
	for pc < n && p.insts[pc].op == opSave {
		pc++
	}
	if pc < n {
		switch in := p.insts[pc]; {
		case in.op == opAssert && syntax.EmptyOp(in.n) == syntax.EmptyBeginText:
			p.anchored = true
		case in.op == opLit:
			p.prefix = in.lit
		}
	}
}

// cannotGiveBack reports whether giving back part of the greedy span at pc can never
// let the rest match where the longest run failed: what follows cannot start with a
// byte of the span's class (and cannot match empty), or the span is of word
// characters, at least one long, and followed by \b.
func (p *prog) cannotGiveBack(pc int) bool {
	in := &p.insts[pc]
	if !in.follow.empty && !in.cls.first().intersects(in.follow) {
		return true
	}
	next := pc + 1
	for next < len(p.insts) && p.insts[next].op == opSave {
		next++
	}
	if next < len(p.insts) && p.insts[next].op == opAssert &&
		syntax.EmptyOp(p.insts[next].n) == syntax.EmptyWordBoundary && in.min >= 1 && in.cls.wordOnly() {
		// Any shorter run ends between two word characters, where \b fails.
		return true
	}
	return false
}

// literalAfter returns the literal that must come right after pc, past saves only.
func (p *prog) literalAfter(pc int) (string, bool) {
	for pc < len(p.insts) && p.insts[pc].op == opSave {
		pc++
	}
	if pc < len(p.insts) && p.insts[pc].op == opLit && p.insts[pc].lit != "" {
		return p.insts[pc].lit, true
	}
	return "", false
}
