package grok

import (
	"testing"
)

// TestExplain: each use of a named pattern that took part in the match is reported
// with what it matched, nested uses deeper, and fields named.
func TestExplain(t *testing.T) {
	p, err := Compile(`%{FWHEAD} SRC=%{IP:source.ip}(?: SPT=%{INT:source.port:int})?`, map[string]string{
		"FWHEAD": `%{SYSLOGTIMESTAMP:@timestamp} %{WORD:host.name}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	s := "Nov 26 07:00:01 fw01 SRC=203.0.113.7"
	parts, ok, err := p.Explain(s)
	if err != nil || !ok {
		t.Fatalf("Explain: %v %v", ok, err)
	}
	want := map[string]Part{
		"FWHEAD":          {Name: "FWHEAD", Depth: 0},
		"SYSLOGTIMESTAMP": {Name: "SYSLOGTIMESTAMP", Field: "@timestamp", Depth: 1},
		"WORD":            {Name: "WORD", Field: "host.name", Depth: 1},
		"IP":              {Name: "IP", Field: "source.ip", Depth: 0},
	}
	texts := map[string]string{"FWHEAD": "Nov 26 07:00:01 fw01", "SYSLOGTIMESTAMP": "Nov 26 07:00:01", "WORD": "fw01", "IP": "203.0.113.7"}
	seen := map[string]bool{}
	for _, part := range parts {
		w, top := want[part.Name]
		if !top {
			if part.Depth == 0 {
				t.Errorf("unexpected top-level part %+v", part)
			}
			continue // the vocabulary's own inner patterns (MONTH, IPV4, ...)
		}
		seen[part.Name] = true
		if part.Field != w.Field || part.Depth != w.Depth || s[part.Start:part.End] != texts[part.Name] {
			t.Errorf("part %+v (%q), want %+v %q", part, s[part.Start:part.End], w, texts[part.Name])
		}
		if part.Name == "INT" {
			t.Error("the optional port took no part, yet is reported")
		}
	}
	if len(seen) != len(want) {
		t.Errorf("saw %v of %v", seen, want)
	}
	if parts[0].Name != "FWHEAD" {
		t.Errorf("first part %s: a pattern comes before those of its definition", parts[0].Name)
	}
	if _, ok, err := p.Explain("no match here"); ok || err != nil {
		t.Errorf("Explain of a line that does not match: %v %v", ok, err)
	}
}

// FuzzExplain: whenever a pattern matches, its explanation matches too and puts each
// field's capture where Match does.
func FuzzExplain(f *testing.F) {
	cases := diffCases()
	for i, c := range cases {
		for _, s := range c.samples {
			f.Add(i, s)
		}
	}
	compiled := make([]*Pattern, len(cases))
	for i, c := range cases {
		var err error
		if compiled[i], err = Compile(c.expr, c.defs); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, i int, line string) {
		if i < 0 {
			i = -i
		}
		p := compiled[i%len(cases)]
		if len(line) > 4096 {
			return
		}
		spans := make([]int, 2*len(p.Fields()))
		matched := p.Match(line, spans)
		parts, ok, err := p.Explain(line)
		if err != nil {
			t.Fatalf("%s: %v", p.String(), err)
		}
		if ok != matched {
			t.Fatalf("%s on %q: Explain %v, Match %v", p.String(), line, ok, matched)
		}
		// Each field captured by a named pattern's use: the use's span is the field's
		// (for a field named once; one named twice keeps its last capture).
		for _, part := range parts {
			if part.Start < 0 || part.End > len(line) || part.Start > part.End {
				t.Fatalf("part %+v out of the line of %d bytes", part, len(line))
			}
			if part.Field == "" || countField(p, part.Field) != 1 {
				continue
			}
			for fi, fld := range p.Fields() {
				if fld.Name == part.Field && (spans[2*fi] != part.Start || spans[2*fi+1] != part.End) {
					t.Fatalf("%s on %q: field %s at %d-%d, explained at %d-%d", p.String(), line, fld.Name, spans[2*fi], spans[2*fi+1], part.Start, part.End)
				}
			}
		}
	})
}

func countField(p *Pattern, name string) int {
	n := 0
	for _, f := range p.Fields() {
		if f.Name == name {
			n++
		}
	}
	return n
}
