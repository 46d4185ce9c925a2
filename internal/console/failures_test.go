package console

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestFailuresLatestAndClasses: the last `keep` failures, newest first, and a count per
// class over all of them, most frequent first.
func TestFailuresLatestAndClasses(t *testing.T) {
	fs := NewFailures(3)
	for i := range 5 {
		fs.Record(Failure{Type: "fw", Processor: "processors[0] grok", Error: fmt.Sprint("no match ", i), Event: fmt.Sprint("line ", i)})
	}
	fs.Record(Failure{Error: "decode envelope: invalid log type", Event: "\x1f\x8b", DeadLetter: true})
	v := fs.View("", 0)
	if v.Total != 6 || len(v.Latest) != 3 || v.Keep != 3 {
		t.Fatalf("total %d, latest %d, keep %d", v.Total, len(v.Latest), v.Keep)
	}
	if !v.Latest[0].DeadLetter || v.Latest[1].Event != "line 4" || v.Latest[2].Event != "line 3" {
		t.Errorf("latest not newest first: %+v", v.Latest)
	}
	if len(v.Classes) != 2 || v.Classes[0].Class != "fw: processors[0] grok" || v.Classes[0].Count != 5 || v.Classes[0].Error != "no match 4" {
		t.Errorf("classes %+v", v.Classes)
	}
	if v.Classes[1].Class != "dead letter: decode envelope" || !v.Classes[1].DeadLetter {
		t.Errorf("dead letter class %+v", v.Classes[1])
	}
	only := fs.View("fw", 1)
	if len(only.Latest) != 1 || only.Latest[0].Type != "fw" || len(only.Classes) != 1 || !only.Filtered {
		t.Errorf("filtered view %+v", only)
	}
}

// TestFailuresBounds: a failure's event and error are cut (on a rune boundary) and
// marked, and classes beyond the limit are counted as one.
func TestFailuresBounds(t *testing.T) {
	fs := NewFailures(10)
	fs.maxClasses = 2
	event := strings.Repeat("é", DefaultFailureBytes) // two bytes a rune
	fs.Record(Failure{Type: "a", Processor: "p", Error: strings.Repeat("e", 10000), Event: event[1:]})
	fs.Record(Failure{Type: "b", Processor: "p"})
	fs.Record(Failure{Type: "c", Processor: "p"})
	fs.Record(Failure{Type: "d", Processor: "p"})
	v := fs.View("", 0)
	f := v.Latest[3]
	if !f.Truncated || len(f.Event) > DefaultFailureBytes || !utf8.ValidString(f.Event[1:]) || len(f.Error) > maxErrorBytes {
		t.Errorf("event of %d bytes (truncated %v, valid %v), error of %d", len(f.Event), f.Truncated, utf8.ValidString(f.Event[1:]), len(f.Error))
	}
	if len(v.Classes) != 3 || v.Classes[0].Class != otherClass || v.Classes[0].Count != 2 {
		t.Errorf("classes %+v: want a and b, and the other two counted as one", v.Classes)
	}
}
