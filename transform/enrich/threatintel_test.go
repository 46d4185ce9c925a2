package enrich

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
)

const (
	testMD5    = "44d88612fea8a8f36de82e1278abb02f"
	testSHA1   = "3395856ce81f2b7382dee72602f798b642f14140"
	testSHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
)

func threatResources(t testing.TB, m *testMeter, run bool) (*Resources, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := DefaultResourcesConfig()
	cfg.ReloadInterval = 10 * time.Millisecond
	cfg.ThreatIntel = map[string]IndicatorSetConfig{
		"feeds": {
			Files: []string{
				writeFile(t, dir, "ips.txt", []byte("# bad IPs\n198.51.100.7\n\n203.0.113.0/24\n2001:db8:bad::/48\n")),
				writeFile(t, dir, "mixed.csv", []byte("indicator,provider,confidence,description,reference\n"+
					"Evil.Example,ti.example,High,phishing kit,https://ti.example/1\n"+
					"# a comment\n"+
					strings.ToUpper(testSHA256)+",,Medium,eicar,\n"+
					"198.51.100.7,other,Low,listed twice: the first wins,\n")),
				writeFile(t, dir, "hashes.json", []byte(`[
  {"indicator": "`+testMD5+`", "description": "eicar md5"},
  {"indicator": "`+testSHA1+`", "provider": "hashes.example"}
]`)),
			},
			Provider:   "feeds.example",
			Confidence: "Not Specified",
		},
	}
	return newTestResources(t, cfg, m, run), dir
}

func TestThreatIntel(t *testing.T) {
	m := newTestMeter(t)
	res, _ := threatResources(t, m, false)
	p, err := NewThreatIntel(ThreatIntelConfig{
		Fields: []string{"source.ip", "destination.ip", "dns.question.name", "file.hash.sha256", "file.hash.md5", "file.hash.sha1", "related.ip"},
		Set:    "feeds",
	}, res)
	if err != nil {
		t.Fatal(err)
	}
	enrichment := func(field, atomic string, indicator map[string]any) map[string]any {
		return map[string]any{"indicator": indicator,
			"matched": map[string]any{"atomic": atomic, "field": field, "type": "indicator_match_rule"}}
	}
	ipInd := func(name, ip string) map[string]any {
		return map[string]any{"type": "ipv4-addr", "name": name, "ip": ip, "provider": "feeds.example", "confidence": "Not Specified"}
	}
	domainInd := map[string]any{"type": "domain-name", "name": "evil.example", "domain": "evil.example",
		"provider": "ti.example", "confidence": "High", "description": "phishing kit", "reference": "https://ti.example/1"}
	cases := []struct {
		name string
		in   map[string]any
		want []map[string]any // threat.enrichments; nil: no match
	}{
		{"IP", map[string]any{"source": map[string]any{"ip": "198.51.100.7"}},
			[]map[string]any{enrichment("source.ip", "198.51.100.7", ipInd("198.51.100.7", "198.51.100.7"))}},
		{"CIDR", map[string]any{"destination": map[string]any{"ip": "203.0.113.99"}},
			[]map[string]any{enrichment("destination.ip", "203.0.113.99", ipInd("203.0.113.0/24", "203.0.113.99"))}},
		{"IPv6 CIDR", map[string]any{"source": map[string]any{"ip": "2001:db8:bad::1"}},
			[]map[string]any{enrichment("source.ip", "2001:db8:bad::1", map[string]any{"type": "ipv6-addr",
				"name": "2001:db8:bad::/48", "ip": "2001:db8:bad::1", "provider": "feeds.example", "confidence": "Not Specified"})}},
		{"domain", map[string]any{"dns": map[string]any{"question": map[string]any{"name": "evil.example"}}},
			[]map[string]any{enrichment("dns.question.name", "evil.example", domainInd)}},
		{"subdomain, upper case, trailing dot", map[string]any{"dns": map[string]any{"question": map[string]any{"name": "Login.Mail.EVIL.example."}}},
			[]map[string]any{enrichment("dns.question.name", "Login.Mail.EVIL.example.", domainInd)}},
		{"sha256 in lower case matches an upper-case indicator", map[string]any{"file": map[string]any{"hash": map[string]any{"sha256": testSHA256}}},
			[]map[string]any{enrichment("file.hash.sha256", testSHA256, map[string]any{"type": "file", "name": testSHA256,
				"file": map[string]any{"hash": map[string]any{"sha256": testSHA256}}, "provider": "feeds.example", "confidence": "Medium", "description": "eicar"})}},
		{"md5 in upper case", map[string]any{"file": map[string]any{"hash": map[string]any{"md5": strings.ToUpper(testMD5)}}},
			[]map[string]any{enrichment("file.hash.md5", strings.ToUpper(testMD5), map[string]any{"type": "file", "name": testMD5,
				"file": map[string]any{"hash": map[string]any{"md5": testMD5}}, "provider": "feeds.example", "confidence": "Not Specified", "description": "eicar md5"})}},
		{"sha1", map[string]any{"file": map[string]any{"hash": map[string]any{"sha1": testSHA1}}},
			[]map[string]any{enrichment("file.hash.sha1", testSHA1, map[string]any{"type": "file", "name": testSHA1,
				"file": map[string]any{"hash": map[string]any{"sha1": testSHA1}}, "provider": "hashes.example", "confidence": "Not Specified"})}},
		{"array field, two matches", map[string]any{"related": map[string]any{"ip": []any{"10.0.0.1", "198.51.100.7", int64(3), "203.0.113.1"}}},
			[]map[string]any{
				enrichment("related.ip", "198.51.100.7", ipInd("198.51.100.7", "198.51.100.7")),
				enrichment("related.ip", "203.0.113.1", ipInd("203.0.113.0/24", "203.0.113.1")),
			}},
		{"no match", map[string]any{"source": map[string]any{"ip": "198.51.100.8"},
			"dns": map[string]any{"question": map[string]any{"name": "notevil.example"}}}, nil},
		{"parent domains do not match children", map[string]any{"dns": map[string]any{"question": map[string]any{"name": "example"}}}, nil},
		{"not an indicator at all", map[string]any{"dns": map[string]any{"question": map[string]any{"name": "hello world"}},
			"source": map[string]any{"ip": "::ffff:999.1.1.1"}}, nil},
		{"absent fields", map[string]any{"message": "x"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := eventOf(c.in)
			if err := p.Process(context.Background(), e); err != nil {
				t.Fatal(err)
			}
			if c.want == nil {
				if _, ok := e.Fields["threat"]; ok {
					t.Fatalf("threat fields on no match: %v", e.Fields["threat"])
				}
				if _, ok := e.Fields["tags"]; ok {
					t.Fatalf("tags on no match: %v", e.Fields["tags"])
				}
				return
			}
			threat := e.Fields["threat"].(map[string]any)
			got := threat["enrichments"].([]any)
			if len(got) != len(c.want) {
				t.Fatalf("%d enrichments, want %d: %v", len(got), len(c.want), got)
			}
			for i := range got {
				if !reflect.DeepEqual(got[i], c.want[i]) {
					t.Errorf("enrichment %d\n got %v\nwant %v", i, got[i], c.want[i])
				}
			}
			if !reflect.DeepEqual(threat["indicator"], c.want[0]["indicator"]) {
				t.Errorf("threat.indicator %v, want the first match's %v", threat["indicator"], c.want[0]["indicator"])
			}
			if !reflect.DeepEqual(e.Fields["tags"], []any{"threat-intel-match"}) {
				t.Errorf("tags %v", e.Fields["tags"])
			}
		})
	}
	if got := m.sum(t, "sluice_enrich_lookups_total", "processor=threat_intel", "resource=feeds", "result=hit"); got != 9 {
		t.Errorf("hits counted %d, want 9", got)
	}

	// Earlier enrichments, indicator and tags are kept; the tag is not repeated.
	p2, err := NewThreatIntel(ThreatIntelConfig{Fields: []string{"url.domain"}, Set: "feeds", Tag: "ti"}, res)
	if err != nil {
		t.Fatal(err)
	}
	earlier := map[string]any{"indicator": map[string]any{"name": "earlier"}}
	e := eventOf(map[string]any{"url": map[string]any{"domain": "a.evil.example"}, "tags": []any{"fw", "ti"},
		"threat": map[string]any{"indicator": earlier["indicator"], "enrichments": []any{earlier}}})
	if err := p2.Process(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	threat := e.Fields["threat"].(map[string]any)
	if !reflect.DeepEqual(threat["indicator"], earlier["indicator"]) || len(threat["enrichments"].([]any)) != 2 {
		t.Errorf("threat %v", threat)
	}
	if !reflect.DeepEqual(e.Fields["tags"], []any{"fw", "ti"}) {
		t.Errorf("tags %v", e.Fields["tags"])
	}
	// A single-string tags field becomes an array.
	e = eventOf(map[string]any{"url": map[string]any{"domain": "evil.example"}, "tags": "fw"})
	if err := p2.Process(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(e.Fields["tags"], []any{"fw", "ti"}) {
		t.Errorf("tags %v", e.Fields["tags"])
	}
	// threat that is not an object is an error naming it.
	e = eventOf(map[string]any{"url": map[string]any{"domain": "evil.example"}, "threat": "x"})
	if err := p2.Process(context.Background(), e); err == nil || err.Error() != "threat_intel: threat is a string, not an object" {
		t.Errorf("error %v", err)
	}
	if _, err := NewThreatIntel(ThreatIntelConfig{Fields: []string{"a"}, Set: "nope"}, res); err == nil ||
		err.Error() != `set: no indicator set "nope" in lookups.threat_intel` {
		t.Errorf("unknown set: %v", err)
	}
}

func TestThreatIntelLoadErrors(t *testing.T) {
	cases := []struct{ name, file, data, want string }{
		{"bad line", "x.txt", "198.51.100.7\n# c\nnot an indicator!\n", `x.txt:3: "not an indicator!" is not an IP address, CIDR range, domain or MD5/SHA-1/SHA-256 hash`},
		{"bad IP", "x.txt", "1.2.3\n", `x.txt:1: "1.2.3" is not a CIDR range or IP address`},
		{"bad CIDR", "x.txt", "\n\n10.0.0.0/40\n", `x.txt:3: "10.0.0.0/40" is not a CIDR range`},
		{"csv unknown column", "x.csv", "indicator,score\n", `x.csv:1: unknown column "score" (want indicator, provider, confidence, description, reference)`},
		{"csv no indicator column", "x.csv", "provider\nx\n", "x.csv:1: want a header row with an indicator column"},
		{"csv bad row", "x.csv", "indicator,provider\nevil.example,a\n-bad-.example,b\n", `x.csv:3: "-bad-.example" is not an IP address, CIDR range, domain or MD5/SHA-1/SHA-256 hash`},
		{"json unknown key", "x.json", "[\n {\"indicator\": \"evil.example\"},\n {\"indicatr\": \"x\"}\n]", `x.json:3: json: unknown field "indicatr"`},
		{"json empty indicator", "x.json", "[\n {\"indicator\": \"\"}\n]", "x.json:2: empty indicator"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := loadIndicatorSet(nil, IndicatorSetConfig{Files: []string{writeFile(t, dir, c.file, []byte(c.data))}})
			if err == nil {
				t.Fatal("loaded")
			}
			if got := strings.TrimPrefix(err.Error(), dir+"/"); got != c.want {
				t.Fatalf("error\n got %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestThreatIntelReload(t *testing.T) {
	res, dir := threatResources(t, nil, true)
	p, err := NewThreatIntel(ThreatIntelConfig{Fields: []string{"source.ip"}, Set: "feeds"}, res)
	if err != nil {
		t.Fatal(err)
	}
	matches := func(ip string) bool {
		e := eventOf(map[string]any{"source": map[string]any{"ip": ip}})
		if err := p.Process(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		_, ok := e.Fields["threat"]
		return ok
	}
	if matches("192.0.2.1") || !matches("198.51.100.7") {
		t.Fatal("wrong matches before the reload")
	}
	writeFile(t, dir, "ips.txt", []byte("192.0.2.1\n"))
	eventually(t, "the new indicators", func() bool { return matches("192.0.2.1") })
	if !matches("198.51.100.7") { // still in mixed.csv
		t.Error("an indicator of another file of the set was lost")
	}
	if matches("203.0.113.5") {
		t.Error("a removed indicator still matches")
	}
}
