package grok

import (
	"regexp"
	"strings"
	"testing"

	elasticgrok "github.com/elastic/go-grok"
	vjgrok "github.com/vjeantet/grok"
)

// BenchmarkFirewallLine matches the iptables line with a firewall expression: sluice's
// matcher (spans only, and spans turned into a map as the libraries return), the
// reference regexp on the same expansion, and two stock Go grok libraries on the same
// expression with their own vocabularies.
func BenchmarkFirewallLine(b *testing.B) {
	p, err := Compile(firewallExpr, nil)
	if err != nil {
		b.Fatal(err)
	}
	spans := make([]int, 2*len(p.Fields()))
	b.Run("sluice", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(firewallLine)))
		for b.Loop() {
			if !p.Match(firewallLine, spans) {
				b.Fatal("no match")
			}
		}
	})
	// The same result as the libraries' ParseString: a map of field -> text.
	b.Run("sluice-map", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(firewallLine)))
		for b.Loop() {
			if !p.Match(firewallLine, spans) {
				b.Fatal("no match")
			}
			m := make(map[string]string, len(p.Fields()))
			for i, f := range p.Fields() {
				if spans[2*i] >= 0 {
					m[f.Name] = firewallLine[spans[2*i]:spans[2*i+1]]
				}
			}
		}
	})
	b.Run("regexp", func(b *testing.B) {
		re := regexp.MustCompile(p.Regexp())
		b.ReportAllocs()
		b.SetBytes(int64(len(firewallLine)))
		for b.Loop() {
			if re.FindStringSubmatchIndex(firewallLine) == nil {
				b.Fatal("no match")
			}
		}
	})
	b.Run("elastic-go-grok", func(b *testing.B) {
		g := elasticgrok.New()
		if err := g.Compile(firewallExpr, true); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.SetBytes(int64(len(firewallLine)))
		for b.Loop() {
			m, err := g.ParseString(firewallLine)
			if err != nil || len(m) == 0 {
				b.Fatal("no match", err)
			}
		}
	})
	b.Run("vjeantet-grok", func(b *testing.B) {
		g, err := vjgrok.NewWithConfig(&vjgrok.Config{NamedCapturesOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := g.Parse(firewallExpr, firewallLine); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.SetBytes(int64(len(firewallLine)))
		for b.Loop() {
			m, err := g.Parse(firewallExpr, firewallLine)
			if err != nil || len(m) == 0 {
				b.Fatal("no match", err)
			}
		}
	})
}

// BenchmarkNoMatch is the cost of a line the expression does not match (a near miss:
// the protocol field is missing), which tries every start position.
func BenchmarkNoMatch(b *testing.B) {
	p, err := Compile(firewallExpr, nil)
	if err != nil {
		b.Fatal(err)
	}
	line := strings.Replace(firewallLine, "PROTO=", "PROTO ", 1)
	spans := make([]int, 2*len(p.Fields()))
	b.ReportAllocs()
	for b.Loop() {
		if p.Match(line, spans) {
			b.Fatal("match")
		}
	}
}
