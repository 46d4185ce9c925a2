package grok

import (
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The results of exec.
const (
	execNoMatch = iota
	execMatch
	execBudget // out of steps: the caller runs the reference instead
)

// frame kinds: what to resume when backtracking.
const (
	kRestore    uint8 = iota // slots[a] = b
	kAlt                     // continue at pc with pos a
	kGiveBack                // greedy span at pc: min end a, current end b
	kExtend                  // lazy span at pc: current end a, count b
	kFindLazy                // find at pc: span start a, last occurrence b
	kFindGreedy              // find at pc: lowest end a, last occurrence b
)

// frame is one backtracking choice point (or slot restore).
type frame struct {
	pc   int32
	kind uint8
	a, b int32
}

// push appends a frame; positions fit in int32 (exec refuses longer inputs).
func push(stack []frame, pc int, kind uint8, a, b int) []frame {
	return append(stack, frame{pc: int32(pc), kind: kind, a: int32(a), b: int32(b)})
}

// exec runs the program over s: at each start position in turn (rune by rune, as
// regexp steps), a depth-first search of the instructions in preference order. The
// first match found is regexp's leftmost-first match. slots receives the capture
// offsets. budget bounds the steps (instructions run, plus bytes scanned / 4).
func (p *prog) exec(s string, slots []int, budget int) int {
	var stackBuf [128]frame
	stack := stackBuf[:0]
	steps := 0
	insts := p.insts
	start := 0
	for {
		// Skip start positions that cannot begin a match.
		if p.anchored && start > 0 {
			return execNoMatch
		}
		if p.prefix != "" {
			i := strings.Index(s[start:], p.prefix)
			if i < 0 {
				return execNoMatch
			}
			steps += i >> 2
			start += i
		} else if !p.start.empty {
			for start < len(s) {
				b := s[start]
				if p.start.has(b) {
					break
				}
				if b < utf8.RuneSelf {
					start++
				} else {
					_, w := utf8.DecodeRuneInString(s[start:])
					start += w
				}
				steps++
			}
			if start >= len(s) {
				return execNoMatch
			}
		}
		for i := range slots {
			slots[i] = -1
		}
		stack = stack[:0]
		pc, pos := 0, start

	run:
		for {
			// Run forward until an instruction fails.
		forward:
			for {
				steps++
				if steps > budget {
					return execBudget
				}
				in := &insts[pc]
				switch in.op {
				case opMatch:
					return execMatch
				case opFail:
					break forward
				case opLit:
					if !strings.HasPrefix(s[pos:], in.lit) {
						break forward
					}
					pos += len(in.lit)
					pc++
				case opLitFold:
					end, ok := matchFold(s, pos, in.lit)
					if !ok {
						break forward
					}
					pos = end
					pc++
				case opSave:
					stack = push(stack, 0, kRestore, in.n, slots[in.n])
					slots[in.n] = pos
					pc++
				case opAssert:
					if !assert(syntax.EmptyOp(in.n), s, pos) {
						break forward
					}
					pc++
				case opJmp:
					pc = in.x
				case opAlt:
					canX, canY := in.xfirst.can(s, pos), in.yfirst.can(s, pos)
					switch {
					case canX && canY:
						stack = push(stack, in.y, kAlt, pos, 0)
						pc = in.x
					case canX:
						pc = in.x
					case canY:
						pc = in.y
					default:
						break forward
					}
				case opSpan:
					if in.greedy {
						minEnd, end, ok := spanGreedy(in, s, pos)
						if !ok {
							break forward
						}
						steps += (end - pos) >> 2
						if !in.possessive && end > minEnd {
							stack = push(stack, pc, kGiveBack, minEnd, end)
						}
						pos = end
					} else {
						end, ok := spanMin(in, s, pos)
						if !ok {
							break forward
						}
						if in.max < 0 || in.min < in.max {
							stack = push(stack, pc, kExtend, end, in.min)
						}
						pos = end
					}
					pc++
				case opFind:
					lo := pos
					if in.min == 1 {
						if pos >= len(s) {
							break forward
						}
						w := in.cls.at(s, pos)
						if w == 0 {
							break forward
						}
						lo = pos + w
					}
					var e, cost int
					if in.greedy {
						e, cost = findLast(in, s, pos, lo, -1)
						if e >= 0 {
							stack = push(stack, pc, kFindGreedy, lo, e)
						}
					} else {
						e, cost = findNext(in, s, lo, lo)
						if e >= 0 {
							stack = push(stack, pc, kFindLazy, 0, e)
						}
					}
					steps += cost
					if e < 0 {
						break forward
					}
					pos = e
					pc++
				case opIPv4:
					end := scanIPv4(s, pos)
					if end < 0 {
						break forward
					}
					pos = end
					pc++
				case opGuardIPv6:
					if !ipv6CanStart(s, pos) {
						break forward
					}
					pc++
				}
			}

			// Backtrack to the latest choice point.
			for len(stack) > 0 {
				steps++
				f := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				switch f.kind {
				case kRestore:
					slots[f.a] = int(f.b)
				case kAlt:
					pc, pos = int(f.pc), int(f.a)
					continue run
				case kGiveBack:
					in := &insts[f.pc]
					fpc, fa, fb := int(f.pc), int(f.a), int(f.b)
					end := prevEnd(in, s, fa, fb)
					if end < 0 {
						continue
					}
					steps += (fb - end) >> 2
					if end > fa {
						stack = push(stack, fpc, kGiveBack, fa, end)
					}
					pc, pos = fpc+1, end
					continue run
				case kExtend:
					in := &insts[f.pc]
					fpc, fa, fb := int(f.pc), int(f.a), int(f.b)
					if fa >= len(s) {
						continue
					}
					w := in.cls.at(s, fa)
					if w == 0 {
						continue
					}
					end, n := fa+w, fb+1
					if in.max < 0 || n < in.max {
						stack = push(stack, fpc, kExtend, end, n)
					}
					pc, pos = fpc+1, end
					continue run
				case kFindLazy:
					in := &insts[f.pc]
					fpc, fb := int(f.pc), int(f.b)
					e, cost := findNext(in, s, fb, fb+1)
					steps += cost
					if e < 0 {
						continue
					}
					stack = push(stack, fpc, kFindLazy, 0, e)
					pc, pos = fpc+1, e
					continue run
				case kFindGreedy:
					in := &insts[f.pc]
					fpc, fa, fb := int(f.pc), int(f.a), int(f.b)
					e, cost := findLast(in, s, -1, fa, fb)
					steps += cost
					if e < 0 {
						continue
					}
					stack = push(stack, fpc, kFindGreedy, fa, e)
					pc, pos = fpc+1, e
					continue run
				}
			}
			break run
		}

		// No match from this start: try the next rune.
		if start >= len(s) || p.anchored {
			return execNoMatch
		}
		if s[start] < utf8.RuneSelf {
			start++
		} else {
			_, w := utf8.DecodeRuneInString(s[start:])
			start += w
		}
	}
}

// spanGreedy takes the longest run of in.cls from pos, up to in.max runes. It returns
// the end after in.min runes and the end of the run.
func spanGreedy(in *inst, s string, pos int) (minEnd, end int, ok bool) {
	cls := in.cls
	i, n := pos, 0
	minEnd = pos
	if in.max < 0 && in.min <= 1 && (cls.highAll || cls.highNone) {
		// Byte by byte: the run stops at an ASCII byte or the end, both rune
		// boundaries, and only the first rune's width counts for min.
		for i < len(s) && cls.tab[s[i]] {
			i++
		}
		if in.min == 1 {
			if i == pos {
				return 0, 0, false
			}
			minEnd = pos + 1
			if s[pos] >= utf8.RuneSelf {
				_, w := utf8.DecodeRuneInString(s[pos:])
				minEnd = pos + w
			}
		}
		return minEnd, i, true
	}
	for (in.max < 0 || n < in.max) && i < len(s) {
		w := cls.at(s, i)
		if w == 0 {
			break
		}
		i += w
		n++
		if n == in.min {
			minEnd = i
		}
	}
	if n < in.min {
		return 0, 0, false
	}
	return minEnd, i, true
}

// spanMin takes exactly in.min runes of in.cls from pos.
func spanMin(in *inst, s string, pos int) (int, bool) {
	i := pos
	for range in.min {
		if i >= len(s) {
			return 0, false
		}
		w := in.cls.at(s, i)
		if w == 0 {
			return 0, false
		}
		i += w
	}
	return i, true
}

// prevEnd returns the next shorter end of a greedy span run from minEnd to end: the
// previous rune boundary, skipping ends where what follows cannot start. -1 if none.
func prevEnd(in *inst, s string, minEnd, end int) int {
	for end > minEnd {
		// end is a rune boundary of the forward scan, so no rune straddles it, and
		// decoding backwards finds the boundary the forward scan had before it.
		_, w := utf8.DecodeLastRuneInString(s[minEnd:end])
		end -= w
		if in.follow.can(s, end) {
			return end
		}
	}
	return -1
}

// findNext returns the first occurrence of in.lit at or after from such that the
// span run reaches it (a lazy span's next end), or -1, with its cost in steps. The
// run is known to reach checked, a rune boundary at or before from.
func findNext(in *inst, s string, checked, from int) (int, int) {
	if from > len(s) {
		return -1, 1
	}
	i := strings.Index(s[from:], in.lit)
	if i < 0 {
		return -1, (len(s)-from)>>4 + 1
	}
	e := from + i
	cost := (e-checked)>>2 + 1
	if !runCovers(in.cls, s, checked, e) {
		return -1, cost
	}
	return e, cost
}

// findLast returns the last occurrence of in.lit starting in [lo, before) — before -1
// meaning up to the end of the class run from pos — (a greedy span's next end), or
// -1, with its cost in steps.
func findLast(in *inst, s string, pos, lo, before int) (int, int) {
	cost := 1
	if before < 0 {
		runEnd := classRunEnd(in.cls, s, pos)
		cost += (runEnd - pos) >> 2
		before = runEnd + 1
	}
	if lo >= before || lo > len(s) {
		return -1, cost
	}
	hi := min(len(s), before-1+len(in.lit))
	i := strings.LastIndex(s[lo:hi], in.lit)
	cost += (hi - lo) >> 4
	if i < 0 {
		return -1, cost
	}
	return lo + i, cost
}

// classRunEnd returns the end of the longest run of cls from pos.
func classRunEnd(cls *charClass, s string, pos int) int {
	i := pos
	if cls.highAll || cls.highNone {
		for i < len(s) && cls.tab[s[i]] {
			i++
		}
		return i
	}
	for i < len(s) {
		w := cls.at(s, i)
		if w == 0 {
			break
		}
		i += w
	}
	return i
}

// runCovers reports whether s[from:to] is all runes of cls; from is a rune boundary.
func runCovers(cls *charClass, s string, from, to int) bool {
	if cls.highAll || cls.highNone {
		for i := from; i < to; i++ {
			if !cls.tab[s[i]] {
				return false
			}
		}
		return true
	}
	return classRunEnd(cls, s[:to], from) >= to
}

// matchFold matches the runes of lit case-insensitively at pos, like regexp's (?i).
func matchFold(s string, pos int, lit string) (int, bool) {
	i := pos
	for _, pr := range lit {
		if i >= len(s) {
			return 0, false
		}
		r, w := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, w = utf8.DecodeRuneInString(s[i:])
		}
		if r != pr && !foldEqual(pr, r) {
			return 0, false
		}
		i += w
	}
	return i, true
}

func foldEqual(a, b rune) bool {
	for f := unicode.SimpleFold(a); f != a; f = unicode.SimpleFold(f) {
		if f == b {
			return true
		}
	}
	return false
}

// assert evaluates a zero-width assertion at pos, like regexp (ASCII word characters).
func assert(op syntax.EmptyOp, s string, pos int) bool {
	switch op {
	case syntax.EmptyBeginText:
		return pos == 0
	case syntax.EmptyEndText:
		return pos == len(s)
	case syntax.EmptyBeginLine:
		return pos == 0 || s[pos-1] == '\n'
	case syntax.EmptyEndLine:
		return pos == len(s) || s[pos] == '\n'
	case syntax.EmptyWordBoundary, syntax.EmptyNoWordBoundary:
		before := pos > 0 && isWordByte(s[pos-1])
		after := pos < len(s) && isWordByte(s[pos])
		return (before != after) == (op == syntax.EmptyWordBoundary)
	}
	return false
}

// scanIPv4 matches the IPV4 vocabulary pattern at pos and returns its end, or -1.
//
// The pattern is \b(?:OCTET\.){3}OCTET\b with OCTET 25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?
// — strings of one to three digits. An octet is followed by '.' or by \b after a
// digit, neither of which can be a digit, so each octet is the whole run of digits
// there: the pattern has at most one match at pos, and it is this one (whole runs of 1
// to 3 digits of value <= 255, which is exactly what OCTET accepts).
func scanIPv4(s string, pos int) int {
	if pos > 0 && isWordByte(s[pos-1]) {
		return -1
	}
	i := pos
	for octet := range 4 {
		if octet > 0 {
			if i >= len(s) || s[i] != '.' {
				return -1
			}
			i++
		}
		start, v := i, 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' && i-start < 4 {
			v = v*10 + int(s[i]-'0')
			i++
		}
		if n := i - start; n == 0 || n > 3 || v > 255 {
			return -1
		}
	}
	if i < len(s) && isWordByte(s[i]) {
		return -1
	}
	return i
}

// ipv6CanStart reports whether the IPV6 vocabulary pattern can match at pos: every
// alternative starts with up to four hex digits and then ':' (or with "::").
func ipv6CanStart(s string, pos int) bool {
	i := pos
	for i < len(s) && i-pos < 4 && isHex(s[i]) {
		i++
	}
	return i < len(s) && s[i] == ':'
}

func isHex(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F'
}
