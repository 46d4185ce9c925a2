package pipeline

import "slices"

// Vendor pipelines run one log type's steps among many: panos tests
// `ctx.panw?.panos?.type == "TRAFFIC"`, then "THREAT", then "SYSTEM", ... on ten
// consecutive steps (twice), zeek `ctx._tmp.k == "conn"` on nineteen, and every event pays
// for each of those conditions (a walk of two or three objects and a comparison) to
// run one of them. A dispatch reads the field once for such a run of steps and goes
// straight to the steps whose condition can hold, as a switch would.
//
// A step joins a run when its condition tests the same path as the run's other
// steps, and only for equality with string constants: `==` a string, `in` a list, or
// such tests joined by `||`. For a string value those conditions are exactly "the
// value is one of these strings", so a step whose strings do not hold the value is
// skipped without changing what the pipeline does. Anything else the field holds
// (nothing, null, a number, a path that cannot be read) decides nothing: each step's
// condition is then evaluated as usual, with expr's own result or error. The steps that
// are not skipped still evaluate their own condition, and the field is read again
// after each one that runs, since it may have changed the field.

// minDispatch is the shortest run of steps that gets a dispatch: with two, a read of
// the field replaces at most one condition.
const minDispatch = 3

// dispatch is one run of steps, steps[start:end] of their list, that test one path.
type dispatch struct {
	path  fastPath
	end   int
	cases map[string][]int // a value -> the steps (indexes in the list) whose condition it meets
}

// next returns the index of the first step from i (within the run) whose condition
// can hold, or the run's end when none can; i itself when the field's value decides
// nothing.
func (d *dispatch) next(fields map[string]any, i int) int {
	v, ok := d.path.fetch(fields, nil)
	if !ok {
		return i
	}
	s, ok := v.(string)
	if !ok {
		return i
	}
	steps := d.cases[s]
	if k, _ := slices.BinarySearch(steps, i); k < len(steps) {
		return steps[k]
	}
	return d.end
}

// skip returns the index of the next step from i that must run or evaluate its
// condition, skipping those the dispatches rule out.
func skip(fields map[string]any, steps []*step, i int) int {
	for i < len(steps) {
		d := steps[i].dispatch
		if d == nil {
			return i
		}
		j := d.next(fields, i)
		if j < d.end {
			return j
		}
		i = j
	}
	return i
}

// linkDispatches finds the runs of steps that a dispatch serves and links each of
// their steps to it.
func linkDispatches(steps []*step) {
	for start := 0; start < len(steps); {
		path, strs, ok := stringCases(steps[start])
		if !ok {
			start++
			continue
		}
		run := [][]string{strs}
		end := start + 1
		for ; end < len(steps); end++ {
			p, s, ok := stringCases(steps[end])
			if !ok || !samePath(p, path) {
				break
			}
			run = append(run, s)
		}
		if end-start >= minDispatch {
			d := &dispatch{path: fastPath{keys: path.keys, optional: path.optional, slots: noSlots(len(path.keys))}, end: end, cases: map[string][]int{}}
			for k, strs := range run {
				for _, s := range strs {
					if cases := d.cases[s]; len(cases) == 0 || cases[len(cases)-1] != start+k {
						d.cases[s] = append(cases, start+k)
					}
				}
			}
			for i := start; i < end; i++ {
				steps[i].dispatch = d
			}
		}
		start = end
	}
}

// stringCases returns the path a step's condition tests and the strings that make it
// true, when the condition is only equality of that path with string constants.
func stringCases(s *step) (fastPath, []string, bool) {
	if s.cond == nil || s.cond.fast == nil {
		return fastPath{}, nil, false
	}
	var path fastPath
	var strs []string
	var walk func(n *condNode) bool
	walk = func(n *condNode) bool {
		switch n.op {
		case "||":
			return walk(n.left) && walk(n.right)
		case "==", "in":
		default:
			return false
		}
		if path.keys == nil {
			path = n.path
		} else if !samePath(path, n.path) {
			return false
		}
		for _, l := range n.lits {
			s, ok := l.(string)
			if !ok {
				if n.op == "==" {
					return false // == nil, == 3: not a string test
				}
				continue // in a list, a non-string never equals a string value
			}
			strs = append(strs, s)
		}
		return true
	}
	if !walk(s.cond.fast.root) {
		return fastPath{}, nil, false
	}
	return path, strs, true
}

// samePath reports whether two paths read the same keys with the same optional
// accesses (which decide whether a missing object is nil or an error).
func samePath(a, b fastPath) bool {
	return slices.Equal(a.keys, b.keys) && slices.Equal(a.optional, b.optional)
}

// noSlots is a path's slots when it keeps none of its values.
func noSlots(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = -1
	}
	return s
}
