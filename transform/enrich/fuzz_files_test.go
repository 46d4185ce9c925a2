package enrich

import (
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/sluice-siem/sluice/transform/event"
)

// This file fuzzes the lookup files that enrichment loads: threat-intel indicator
// files in each of their formats, and CIDR tables in CSV and JSON.

// checkFileErr fails unless err (a loader reports one problem) starts with the file's
// path.
func checkFileErr(t *testing.T, err error, path string) {
	t.Helper()
	if err != nil && !strings.HasPrefix(err.Error(), path) {
		t.Fatalf("a problem that does not name the file %s: %q", path, err)
	}
}

// sampleFile reads a file of the shipped samples, for seeds.
func sampleFile(f *testing.F, name string) []byte {
	f.Helper()
	data, err := os.ReadFile("../pipeline/samples/enriched/" + name)
	if err != nil {
		f.Fatal(err)
	}
	return data
}

// manyLines is n lines made by line(i).
func manyLines(n int, line func(i int) string) []byte {
	var b strings.Builder
	for i := range n {
		b.WriteString(line(i))
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

var indicatorExts = []string{".txt", ".json", ".csv", ""}

// FuzzIndicatorFile guards the threat-intel indicator loader in each format (JSON
// array, CSV with a header, one indicator per line): no panic, every problem names the
// file, and every indicator loaded matches itself (an address, the first address of a
// range, a domain and its subdomains, a hash in either case), with the metadata of its
// first listing.
func FuzzIndicatorFile(f *testing.F) {
	add := func(ext int, data []byte) { f.Add(uint8(ext), data) }
	add(0, sampleFile(f, "threat-intel.txt"))
	add(0, []byte("# comment\n\n10.0.0.1\n10.0.0.0/8\n2001:db8::/32\n::ffff:10.1.2.3\nEvil.Example.\nd41d8cd98f00b204e9800998ecf8427e\n"+strings.Repeat("a", 40)+"\n"+strings.Repeat("F", 64)+"\n"))
	add(0, []byte("10.0.0.1\n10.0.0.1\nevil.example\nevil.example\n"))
	add(0, []byte("not an indicator\n"))
	add(0, []byte("fe80::1%eth0\n"))
	add(0, []byte("1.2.3\n"))
	add(0, []byte(strings.Repeat("x", 1<<20+1)))
	add(0, manyLines(50000, func(i int) string {
		return "10." + strconv.Itoa(i>>16&255) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255)
	}))
	add(0, manyLines(20000, func(i int) string { return strings.Repeat("a.", 100) + "x" + strconv.Itoa(i) + ".example" }))
	add(1, []byte(`[{"indicator":"10.0.0.1","provider":"p","confidence":"High","description":"d","reference":"https://r"},{"indicator":"evil.example"}]`))
	add(1, []byte(`[{"indicator":"10.0.0.1","unknown":1}]`))
	add(1, []byte(`{"indicator":"10.0.0.1"}`))
	add(1, []byte(`[{"indicator":"10.0.0.1"}] trailing`))
	add(1, []byte(`[`+strings.Repeat(`[`, 100000)+strings.Repeat(`]`, 100000)+`]`))
	add(1, []byte(`[{"indicator":"10.0.0.1","description":"`+strings.Repeat("x", 1<<20)+`"}]`))
	add(1, []byte("[\n"+strings.Repeat(`{"indicator":"10.0.0.1"},`+"\n", 20000)+`{"indicator":"x"}`+"\n]"))
	add(2, []byte("indicator,provider,confidence,description,reference\n10.0.0.1,p,High,d,https://r\n\"evil.example\",,,\"a, b\",\n"))
	add(2, []byte("# feed\nIndicator\n10.0.0.1\n"))
	add(2, []byte("indicator,indicator\n1,2\n"))
	add(2, []byte("provider\nx\n"))
	add(2, []byte("indicator,bogus\n"))
	add(2, []byte("indicator\n\"unterminated\n"))
	add(2, []byte("indicator,provider\n10.0.0.1\n"))
	add(2, []byte("\ufeffindicator\n10.0.0.1\r\n"))
	add(2, []byte("indicator\n"+strings.Repeat("\"", 100001)))
	add(2, []byte("indicator"+strings.Repeat(",description", 10000)+"\n"))
	f.Fuzz(func(t *testing.T, ext uint8, data []byte) {
		if len(data) > 4<<20 {
			return
		}
		start := time.Now()
		name := "feed" + indicatorExts[int(ext)%len(indicatorExts)]
		path := EmbeddedPrefix + name
		s, err := loadIndicatorSet(fstest.MapFS{name: {Data: data}}, IndicatorSetConfig{Files: []string{path}, Provider: "default", Confidence: "Low"})
		checkFileErr(t, err, path)
		if err != nil {
			return
		}
		first := map[string]int{}
		for i, in := range s.indicators {
			if _, ok := first[in.typ+" "+in.name]; !ok {
				first[in.typ+" "+in.name] = i
			}
		}
		for i, in := range s.indicators {
			if in.provider == "" || in.confidence == "" {
				t.Fatalf("indicator %s has no provider or confidence: %+v", in.name, in)
			}
			value := in.name
			if in.cidr {
				p, err := netip.ParsePrefix(in.name)
				if err != nil {
					t.Fatalf("range %q does not parse: %v", in.name, err)
				}
				value = p.Addr().String()
			}
			m := s.match(nil, "f", value)
			if len(m) != 1 {
				t.Fatalf("indicator %q (%s): %q matches %d indicators", in.name, in.typ, value, len(m))
			}
			if in.cidr {
				continue // a more specific range may match its first address
			}
			if want := &s.indicators[first[in.typ+" "+in.name]]; m[0].ind != want {
				t.Fatalf("indicator %d %q matches %q, not its first listing", i, in.name, m[0].ind.name)
			}
			switch in.typ {
			case indicatorDomain:
				if m := s.match(nil, "f", "sub."+strings.ToUpper(in.name)+"."); len(m) != 1 {
					t.Fatalf("a subdomain of %q matches %d indicators", in.name, len(m))
				}
			case indicatorFile:
				if m := s.match(nil, "f", strings.ToUpper(in.name)); len(m) != 1 || m[0].ind.name != in.name {
					t.Fatalf("hash %q in upper case does not match it", in.name)
				}
			}
			e := &event.Event{Fields: map[string]any{}}
			if len(in.fields(e, value)) == 0 {
				t.Fatalf("indicator %q has no fields", in.name)
			}
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("%d bytes took %v", len(data), d)
		}
	})
}

// FuzzCIDRFile guards the CIDR table loader in CSV and JSON: no panic, every problem
// names the file, and every row's range is found again: its first address looks up a
// row whose range contains it and is at least as specific, and its fields apply to an
// event.
func FuzzCIDRFile(f *testing.F) {
	f.Add(false, sampleFile(f, "zones.csv"))
	f.Add(false, []byte("# zones\ncidr,network.zone,asset.owner\n10.0.0.0/8,a,\n10.0.0.1,b,c\n::/0,any,x\n"))
	f.Add(false, []byte("cidr,a\n10.0.0.0/8,x\n10.0.0.0/8,y\n"))
	f.Add(false, []byte("cidr,a,a\n"))
	f.Add(false, []byte("cidr,a..b\n"))
	f.Add(false, []byte("cidr\n10.0.0.0/8\n"))
	f.Add(false, []byte(""))
	f.Add(false, []byte("cidr,a\n10.0.0.0/33,x\n"))
	f.Add(false, []byte("cidr,a\n10.0.0.0/8\n"))
	f.Add(false, []byte("cidr,a\n\"10.0.0.0/8\",\"multi\nline\"\n"))
	f.Add(false, []byte("cidr,a.b,a\n10.0.0.0/8,x,y\n"))
	f.Add(false, manyLines(50000, func(i int) string {
		if i == 0 {
			return "cidr,zone"
		}
		return "10." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255) + ".0/24,z" + strconv.Itoa(i)
	}))
	f.Add(false, []byte("cidr"+strings.Repeat(",f", 20000)+"\n"))
	f.Add(false, []byte("cidr,"+strings.Repeat("a.", 50000)+"b\n10.0.0.0/8,x\n"))
	f.Add(true, []byte(`[{"cidr":"10.0.0.0/8","fields":{"network.zone":"dc","asset":{"owner":"x","tags":["a",1,null]}}}]`))
	f.Add(true, []byte(`[{"cidr":"10.0.0.0/8"},{"cidr":"::1","fields":{}}]`))
	f.Add(true, []byte(`[{"fields":{}}]`))
	f.Add(true, []byte(`[{"cidr":"10.0.0.0/8","fields":{"a..b":1}}]`))
	f.Add(true, []byte(`[{"cidr":"10.0.0.0/8","fields":{"a":1,"a.b":2}}]`))
	f.Add(true, []byte(`[{"cidr":"10.0.0.0/8","extra":1}]`))
	f.Add(true, []byte(`[] []`))
	f.Add(true, []byte(`{}`))
	f.Add(true, []byte(`[{"cidr":"10.0.0.0/8","fields":`+strings.Repeat(`{"a":`, 100000)+`1`+strings.Repeat(`}`, 100000)+`}]`))
	f.Add(true, []byte(`[{"cidr":"10.0.0.0/8","fields":`+strings.Repeat(`{"a":`, 5000)+`1`+strings.Repeat(`}`, 5000)+`}]`))
	f.Add(true, []byte(`[{"cidr":"10.0.0.0/8","fields":{"a":"`+strings.Repeat("x", 1<<20)+`"}}]`))
	f.Fuzz(func(t *testing.T, isJSON bool, data []byte) {
		if len(data) > 4<<20 {
			return
		}
		start := time.Now()
		name := "zones.csv"
		if isJSON {
			name = "zones.json"
		}
		path := EmbeddedPrefix + name
		tab, err := loadCIDRTable(fstest.MapFS{name: {Data: data}}, path)
		checkFileErr(t, err, path)
		if err != nil {
			return
		}
		var rows []cidrRow
		if isJSON {
			rows, err = parseCIDRJSON(path, data)
		} else {
			rows, err = parseCIDRCSV(path, data)
		}
		if err != nil || len(rows) != len(tab.rows) {
			t.Fatalf("the table loads with %d rows, parsing again gives %d, %v", len(tab.rows), len(rows), err)
		}
		for i, r := range rows {
			p := normalizePrefix(r.prefix)
			got := tab.prefixes.lookup(p.Addr())
			if got < 0 {
				t.Fatalf("row %d: %s is not found", i, p)
			}
			if q := normalizePrefix(rows[got].prefix); !q.Contains(p.Addr()) || q.Bits() < p.Bits() {
				t.Fatalf("row %d: %s finds row %d, %s", i, p, got, q)
			}
			for _, l := range tab.rows[i] {
				if len(l.path) == 0 || slices.Contains(l.path, "") {
					t.Fatalf("row %d: a field with an empty path element: %q", i, l.path)
				}
			}
			_ = applyLeaves(&event.Event{}, map[string]any{}, tab.rows[i]) // a clash between leaves is an error, not a panic
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("%d bytes took %v", len(data), d)
		}
	})
}
