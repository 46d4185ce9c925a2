package grok

import (
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// firewallExpr is the iptables line of the benchmarks and the sample pipeline.
const firewallExpr = `^<%{NONNEGINT:log.syslog.priority:int}>%{SYSLOGTIMESTAMP:timestamp} %{SYSLOGHOST:observer.hostname} kernel: \[\s*%{NUMBER:uptime}\] %{DATA:prefix}IN=%{DATA:observer.ingress.interface.name} OUT=%{DATA:observer.egress.interface.name} (?:MAC=%{NOTSPACE:mac} )?SRC=%{IP:source.ip} DST=%{IP:destination.ip} LEN=%{INT:iptables.length:int} TOS=%{NOTSPACE:iptables.tos} PREC=%{NOTSPACE:iptables.precedence_bits} TTL=%{INT:iptables.ttl:int} ID=%{INT:iptables.id:int} (?:%{WORD:iptables.fragment_flags} )?PROTO=%{WORD:network.transport}(?: SPT=%{INT:source.port:int} DPT=%{INT:destination.port:int})?%{GREEDYDATA:rest}`

const firewallLine = `<4>Nov 26 07:00:01 fw01 kernel: [12345.678] FW-DROP: IN=eth0 OUT= MAC=00:16:3e:4a:5b:6c:00:1a:2b:3c:4d:5e:08:00 SRC=203.0.113.7 DST=10.1.2.3 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=54321 DF PROTO=TCP SPT=51234 DPT=22 WINDOW=29200 RES=0x00 SYN URGP=0`

// diffCase is an expression of the differential test and lines it is meant to match,
// from which near misses are made.
type diffCase struct {
	expr    string
	defs    map[string]string
	samples []string
}

func diffCases() []diffCase {
	return []diffCase{
		{expr: firewallExpr, samples: []string{firewallLine,
			`<4>Nov  6 23:59:59 edge-fw.example.net kernel: [  7.1] IN=eth1 OUT=eth0 SRC=2001:db8::1 DST=fe80::1%eth0 LEN=100 TOS=0x10 PREC=0x00 TTL=64 ID=0 PROTO=ICMPv6 TYPE=128 CODE=0`}},
		{expr: `%{IP:ip}`, samples: []string{"10.0.0.1", "::ffff:10.1.2.3", "fe80::1:80", "1:2:3:4:5:6:7:8", "300.1.2.3 1.2.3.4", "a1.2.3.4 ::"}},
		{expr: `%{IPV4:a} %{IPV6:b}`, samples: []string{"1.2.3.4 ::1", "01.002.3.255 2001:db8:0:0:0:0:2:1"}},
		{expr: `%{IPORHOST:h}:%{POSINT:p}`, samples: []string{"fw01.example.com:443", "[::1]:80", "10.0.0.1:0", "::1:8080"}},
		{expr: `%{HOSTNAME:h}`, samples: []string{"a-b.c.", "x..y", "-bad.host"}},
		{expr: `%{WORD:w} %{DATA:d} %{GREEDYDATA:g}`, samples: []string{"a b c", "hello world  again", "x  "}},
		{expr: `%{NUMBER:n:float} %{INT:i:int}`, samples: []string{"1.5 -3", ".5 +7", "1. 2"}},
		{expr: `%{QUOTEDSTRING:q} %{QS:r}`, samples: []string{`"a\"b" 'c'`, "`x` \"y\"", `"unterminated 'x'`}},
		{expr: `%{TIMESTAMP_ISO8601:ts}`, samples: []string{"2026-11-26T07:00:01.123456+0000", "2026-11-26 07:00:01Z", "26-11-26T7:00"}},
		{expr: `%{SYSLOGBASE} %{GREEDYDATA:message}`, samples: []string{"Nov 26 07:00:01 host sshd[123]: Accepted", "Nov  6 07:00:01 <1.2> 10.0.0.1 cron: x"}},
		{expr: `%{HTTPDATE:d}`, samples: []string{"26/Nov/2026:07:00:01 +0000"}},
		{expr: `%{COMBINEDAPACHELOG}`, samples: []string{`203.0.113.9 - bob [26/Nov/2026:07:00:01 +0000] "GET /a?b=c HTTP/1.1" 200 512 "-" "curl/8.0"`, `::1 - - [26/Nov/2026:07:00:01 +0000] "-" 400 - "-" "-"`}},
		{expr: `%{UUID:u} %{MAC:m}`, samples: []string{"123e4567-e89b-12d3-a456-426614174000 00:16:3e:4a:5b:6c", "123e4567-e89b-12d3-a456-426614174000 0016.3e4a.5b6c"}},
		{expr: `%{URI:u}`, samples: []string{"https://user:pw@example.com:8443/a/b.php?x=1&y=2", "ftp://10.0.0.1/"}},
		{expr: `%{LOGLEVEL:l}: %{EMAILADDRESS:e}`, samples: []string{"ERROR: bob@example.com", "warn: a.b@c"}},
		{expr: `^%{NOTSPACE:a}$`, samples: []string{"abc", "a b", "é\xff"}},
		{expr: `(?i)error %{DATA:x}\.`, samples: []string{"ERROR disk full.", "Error x. y."}},
		{expr: `%{DATA:a}%{DATA:b}x`, samples: []string{"aaxbx", "x"}},
		{expr: `a*?b+?%{INT:i}`, samples: []string{"aabbb12", "b1"}},
		{expr: `(?:%{INT:x},)*%{INT:y}`, samples: []string{"1,2,3", "1,,2"}},
		{expr: `(?m)^%{WORD:w}$`, samples: []string{"a b\nword\nx"}},
		{expr: `\B[0-9]+%{GREEDYDATA:w}`, samples: []string{"a12x", "12"}},
		{expr: `[^\]]+\] %{GREEDYDATA:rest}`, samples: []string{"[x] y", "a]b] c"}},
		{expr: `%{GREEDYDATA:a}=%{GREEDYDATA:b}`, samples: []string{"k=v=w", "=\n=x"}},
		{expr: `%{SPACE}%{WORD:w}%{SPACE}`, samples: []string{"  a  ", "\t"}},
		{expr: `é+%{WORD:x}`, samples: []string{"ééword", "é\xffw"}},
		{expr: `\x{FFFD}%{WORD:x}`, samples: []string{"\xffabc", "\uFFFDabc"}},
		{expr: `(?i)k%{WORD:x}`, samples: []string{"\u212Aelvin", "Kx"}},
		{expr: `x{2,4}?%{INT:i}`, samples: []string{"xxx1", "xxxxx2"}},
		{expr: `(?P<user>\w+)@%{HOSTNAME:host}`, samples: []string{"me@example.com"}},
		{expr: `%{MYNUM:n} %{GREEDYDATA:rest}`, defs: map[string]string{"MYNUM": `\d+(?:\.\d+)?`}, samples: []string{"12.5 x", "7 y"}},
		{expr: `%{DATA:k}: %{NOTSPACE:v}(?: %{NOTSPACE:w})?$`, samples: []string{"a: b c", "a: b: c d"}},
		{expr: `[a-c]*[^a]{2,3}%{WORD:w}`, samples: []string{"abcxyzw", "aaa"}},
		{expr: `\[%{DATA:a}\]%{GREEDYDATA:b}\]`, samples: []string{"[x]y]z]", "[é]]"}},
	}
}

// alphabet is what random lines are made of: the bytes grok patterns care about,
// non-ASCII runes and invalid UTF-8.
var alphabet = []string{
	"0", "1", "2", "5", "9", "25", "255", "256", "a", "b", "f", "x", "z", "K", "k", "E", "R", "O",
	".", ":", "::", "-", "/", " ", "  ", "_", "=", `"`, "'", `\`, "[", "]", "%", "@", "\n", "\t",
	",", "<", ">", "?", "#", "é", "€", "\u212A", "\xff", "\x80", "\xe2\x82", "\uFFFD",
	"Nov", " 26 ", "07:00:01", "DST=", "SRC=", "IN=", " OUT=", "PROTO=", "10.0.0.1", "::1", "fe80::",
	"2026-11-26", "T", "ERROR", "http://", "example.com",
}

// mutate returns a near miss of s: a few random edits.
func mutate(r *rand.Rand, s string) string {
	b := []byte(s)
	for range 1 + r.IntN(3) {
		switch r.IntN(5) {
		case 0: // insert
			i := r.IntN(len(b) + 1)
			b = slices.Insert(b, i, []byte(alphabet[r.IntN(len(alphabet))])...)
		case 1: // delete a run
			if len(b) > 0 {
				i := r.IntN(len(b))
				j := min(len(b), i+1+r.IntN(4))
				b = slices.Delete(b, i, j)
			}
		case 2: // replace a byte
			if len(b) > 0 {
				b[r.IntN(len(b))] = alphabet[r.IntN(len(alphabet))][0]
			}
		case 3: // truncate
			b = b[:r.IntN(len(b)+1)]
		case 4: // duplicate a piece
			if len(b) > 0 {
				i := r.IntN(len(b))
				j := min(len(b), i+1+r.IntN(10))
				b = slices.Insert(b, r.IntN(len(b)+1), b[i:j]...)
			}
		}
	}
	return string(b)
}

func randomLine(r *rand.Rand) string {
	var sb strings.Builder
	for range r.IntN(30) {
		sb.WriteString(alphabet[r.IntN(len(alphabet))])
	}
	return sb.String()
}

// TestDifferential checks the fast matcher against the reference, the expanded
// expression run by regexp, on samples, near misses of them and random lines: the
// same lines match, with the same whole match and the same span for every field.
func TestDifferential(t *testing.T) {
	n := 800
	if s := os.Getenv("GROK_DIFF_LINES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	if testing.Short() {
		n = 300
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range diffCases() {
		p, err := Compile(c.expr, c.defs)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		if !p.Fast() {
			t.Errorf("%s: not compiled for the fast matcher", c.expr)
			continue
		}
		refSrc, _, err := Expand(c.expr, c.defs)
		if err != nil {
			t.Fatal(err)
		}
		ref := regexp.MustCompile(refSrc)
		lines := slices.Clone(c.samples)
		for i := 0; len(lines) < n; i++ {
			switch {
			case i%3 == 2:
				lines = append(lines, randomLine(r))
			default:
				lines = append(lines, mutate(r, c.samples[r.IntN(len(c.samples))]))
			}
		}
		matched := 0
		for _, line := range lines {
			if diff := compare(p, ref, line); diff != "" {
				t.Errorf("%s\nline %q\n%s", c.expr, line, diff)
				break
			}
			if ref.MatchString(line) {
				matched++
			}
		}
		if matched == 0 {
			t.Errorf("%s: no line matched; the case tests nothing", c.expr)
		}
	}
}

// compare runs the fast matcher (with no budget limit, so the fallback never hides a
// difference) and the reference on line, and describes any difference.
func compare(p *Pattern, ref *regexp.Regexp, line string) string {
	slots := make([]int, p.nslots)
	got := p.prog.exec(line, slots, 1<<62) == execMatch
	loc := ref.FindStringSubmatchIndex(line)
	if got != (loc != nil) {
		return fmt.Sprintf("fast match %v, reference %v (%v)", got, loc != nil, loc)
	}
	if !got {
		return ""
	}
	if slots[0] != loc[0] || slots[1] != loc[1] {
		return fmt.Sprintf("whole match: fast [%d,%d] %q, reference [%d,%d] %q",
			slots[0], slots[1], line[slots[0]:slots[1]], loc[0], loc[1], line[loc[0]:loc[1]])
	}
	for i, f := range p.fields {
		c := p.progCaps[i]
		rc := ref.SubexpIndex(fieldGroupPrefix + fmt.Sprint(i))
		if i >= len(p.reCaps) || rc < 0 {
			rc = p.reCaps[i]
		}
		if slots[2*c] != loc[2*rc] || slots[2*c+1] != loc[2*rc+1] {
			return fmt.Sprintf("field %s: fast [%d,%d], reference [%d,%d]", f.Name, slots[2*c], slots[2*c+1], loc[2*rc], loc[2*rc+1])
		}
	}
	// And Match, budget and all, agrees.
	spans := make([]int, 2*len(p.fields))
	if !p.Match(line, spans) {
		return "Match did not match"
	}
	return ""
}

// TestBudgetFallback: a pathological expression and line exhaust the fast matcher's
// budget; the result is still the reference's, in linear time.
func TestBudgetFallback(t *testing.T) {
	p, err := Compile(`%{DATA:a} %{DATA:b} %{DATA:c} %{DATA:d}X`, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The reference is compiled when a match first needs it, not before.
	spans := make([]int, 2*len(p.Fields()))
	if !p.Match("a b c dX", spans) || p.re.Load() != nil {
		t.Fatalf("a fast match: reference compiled %v", p.re.Load() != nil)
	}
	line := strings.Repeat(" ", 5000)
	start := time.Now()
	if p.Match(line, spans) {
		t.Fatal("matched")
	}
	if p.Fallbacks() != 1 || p.re.Load() == nil {
		t.Errorf("fallbacks = %d, want 1; reference compiled %v", p.Fallbacks(), p.re.Load() != nil)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
	if !p.Match(line+"X", spans) || spans[7] != len(line) {
		t.Errorf("spans %v", spans)
	}
}

func TestVocabularyCompiles(t *testing.T) {
	for name := range Vocabulary() {
		p, err := Compile("%{"+name+"}", nil)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !p.Fast() {
			t.Errorf("%s runs on regexp only", name)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for expr, want := range map[string]string{
		`%{NOPE:x}`:       "unknown pattern %{NOPE}",
		`%{WORD:x`:        "unterminated %{",
		`%{WORD:x:bool}`:  `type "bool" is not int, long, float or double`,
		`%{A}`:            "pattern A refers to itself",
		`(%{WORD:x}`:      "missing closing )",
		`(?P<__x>a)`:      "reserved",
		`%{bad-name}`:     "invalid pattern name",
		`%{LOOP1}`:        "refers to itself",
		`%{WORD:x}[z-a]`:  "invalid character class range",
		`%{WORD:x}\\p{Q}`: "",
	} {
		_, err := Compile(expr, map[string]string{"A": "%{A}", "LOOP1": "%{LOOP2}", "LOOP2": "x%{LOOP1}"})
		if want == "" {
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Compile(%q) = %v, want an error containing %q", expr, err, want)
		}
	}
}

// FuzzGrok matches arbitrary lines against the differential cases: the fast matcher
// agrees with the reference, and never panics.
func FuzzGrok(f *testing.F) {
	cases := diffCases()
	for i, c := range cases {
		for _, s := range c.samples {
			f.Add(i, s)
		}
	}
	compiled := make([]*Pattern, len(cases))
	refs := make([]*regexp.Regexp, len(cases))
	for i, c := range cases {
		var err error
		if compiled[i], err = Compile(c.expr, c.defs); err != nil {
			f.Fatal(err)
		}
		src, _, _ := Expand(c.expr, c.defs)
		refs[i] = regexp.MustCompile(src)
	}
	f.Fuzz(func(t *testing.T, i int, line string) {
		if i < 0 {
			i = -i
		}
		i %= len(cases)
		if len(line) > 4096 {
			return
		}
		if diff := compare(compiled[i], refs[i], line); diff != "" {
			t.Errorf("%s\nline %q\n%s", cases[i].expr, line, diff)
		}
	})
}

// TestClassesShared: classes of the same runes are one class, so that the thousands
// of [0-9] and \s of a configuration's expressions take the memory of one.
func TestClassesShared(t *testing.T) {
	a, b := newClass([]rune{'0', '9'}), newClass([]rune{'0', '9'})
	if a != b {
		t.Error("two [0-9] classes")
	}
	if c := newClass([]rune{'0', '8'}); c == a || c.hasRune('9') || !a.hasRune('9') {
		t.Error("[0-8] is [0-9]")
	}
}
