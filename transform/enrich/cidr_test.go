package enrich

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

const testZonesCSV = `# network zones and owners
cidr,network.zone,asset.owner,vlan
10.0.0.0/8,internal,,
10.1.0.0/16,servers,infra,
10.1.2.0/24,"dmz, north",web team,102
10.1.2.7,dmz,web team,102
2001:db8::/32,internal-v6,,
2001:db8:5::/48,lab,research,
`

const testAssetsJSON = `[
  {"cidr": "192.168.0.0/16", "fields": {"zone": "office"}},
  {"cidr": "192.168.10.0/24",
   "fields": {"zone": "printers", "asset": {"owner": "it", "tags": ["pci", "print"]}, "asset.count": 12}}
]`

func cidrResources(t testing.TB, m *testMeter, run bool) (*Resources, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := DefaultResourcesConfig()
	cfg.ReloadInterval = 10 * time.Millisecond
	cfg.CIDRTables = map[string]string{
		"zones":  writeFile(t, dir, "zones.csv", []byte(testZonesCSV)),
		"assets": writeFile(t, dir, "assets.json", []byte(testAssetsJSON)),
	}
	return newTestResources(t, cfg, m, run), dir
}

func TestCIDRLookup(t *testing.T) {
	m := newTestMeter(t)
	res, _ := cidrResources(t, m, false)
	cases := []struct {
		name    string
		cfg     CIDRConfig
		in      map[string]any
		want    map[string]any
		wantErr string
	}{
		{
			name: "widest range; empty cells add nothing",
			in:   map[string]any{"source": map[string]any{"ip": "10.200.0.1"}},
			want: map[string]any{"source": map[string]any{"ip": "10.200.0.1", "network": map[string]any{"zone": "internal"}}},
		},
		{
			name: "nested range",
			in:   map[string]any{"source": map[string]any{"ip": "10.1.9.9"}},
			want: map[string]any{"source": map[string]any{"ip": "10.1.9.9",
				"network": map[string]any{"zone": "servers"}, "asset": map[string]any{"owner": "infra"}}},
		},
		{
			name: "most specific of three; quoted cell",
			in:   map[string]any{"source": map[string]any{"ip": "10.1.2.8"}},
			want: map[string]any{"source": map[string]any{"ip": "10.1.2.8",
				"network": map[string]any{"zone": "dmz, north"}, "asset": map[string]any{"owner": "web team"}, "vlan": "102"}},
		},
		{
			name: "single address row",
			in:   map[string]any{"source": map[string]any{"ip": "10.1.2.7"}},
			want: map[string]any{"source": map[string]any{"ip": "10.1.2.7",
				"network": map[string]any{"zone": "dmz"}, "asset": map[string]any{"owner": "web team"}, "vlan": "102"}},
		},
		{
			name: "IPv6 nested",
			in:   map[string]any{"source": map[string]any{"ip": "2001:db8:5::1"}},
			want: map[string]any{"source": map[string]any{"ip": "2001:db8:5::1",
				"network": map[string]any{"zone": "lab"}, "asset": map[string]any{"owner": "research"}}},
		},
		{
			name: "IPv6 outer",
			in:   map[string]any{"source": map[string]any{"ip": "2001:db8:6::1"}},
			want: map[string]any{"source": map[string]any{"ip": "2001:db8:6::1", "network": map[string]any{"zone": "internal-v6"}}},
		},
		{
			name: "no match",
			in:   map[string]any{"source": map[string]any{"ip": "8.8.8.8"}},
			want: map[string]any{"source": map[string]any{"ip": "8.8.8.8"}},
		},
		{
			name: "merges into existing objects, explicit target",
			cfg:  CIDRConfig{Field: "destination.ip", TargetField: "destination.enrich", Table: "zones"},
			in: map[string]any{"destination": map[string]any{"ip": "10.1.0.1",
				"enrich": map[string]any{"network": map[string]any{"name": "x"}}}},
			want: map[string]any{"destination": map[string]any{"ip": "10.1.0.1",
				"enrich": map[string]any{"network": map[string]any{"name": "x", "zone": "servers"}, "asset": map[string]any{"owner": "infra"}}}},
		},
		{
			name: "JSON table: nested objects, dotted keys, arrays, numbers",
			cfg:  CIDRConfig{Field: "host.ip", Table: "assets"},
			in:   map[string]any{"host": map[string]any{"ip": "192.168.10.20"}},
			want: map[string]any{"host": map[string]any{"ip": "192.168.10.20", "zone": "printers",
				"asset": map[string]any{"owner": "it", "tags": []any{"pci", "print"}, "count": json.Number("12")}}},
		},
		{
			name:    "invalid IP",
			in:      map[string]any{"source": map[string]any{"ip": "10.1.2"}},
			wantErr: `cidr_lookup of source.ip: "10.1.2" is not an IP address`,
		},
		{
			name:    "absent field",
			in:      map[string]any{},
			wantErr: "cidr_lookup of source.ip: the field is absent",
		},
		{
			name: "absent field, ignore_missing",
			cfg:  CIDRConfig{Field: "source.ip", Table: "zones", IgnoreMissing: true},
			in:   map[string]any{},
			want: map[string]any{},
		},
		{
			name:    "a value on the way is not an object",
			in:      map[string]any{"source": map[string]any{"ip": "10.1.0.1", "asset": "pc-17"}},
			wantErr: "cidr_lookup of source.ip: set asset.owner: asset is a string, not an object",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			if cfg.Field == "" {
				cfg = CIDRConfig{Field: "source.ip", Table: "zones"}
			}
			p, err := NewCIDRLookup(cfg, res)
			if err != nil {
				t.Fatal(err)
			}
			e := eventOf(c.in)
			err = p.Process(context.Background(), e)
			if c.wantErr != "" {
				if err == nil || err.Error() != c.wantErr {
					t.Fatalf("error %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(e.Fields, c.want) {
				t.Fatalf("fields\n got %#v\nwant %#v", e.Fields, c.want)
			}
		})
	}
	// Events own what they get: changing one event's array leaves the table's alone.
	p, _ := NewCIDRLookup(CIDRConfig{Field: "host.ip", Table: "assets"}, res)
	e1 := eventOf(map[string]any{"host": map[string]any{"ip": "192.168.10.1"}})
	_ = p.Process(context.Background(), e1)
	e1.Fields["host"].(map[string]any)["asset"].(map[string]any)["tags"].([]any)[0] = "changed"
	e2 := eventOf(map[string]any{"host": map[string]any{"ip": "192.168.10.1"}})
	_ = p.Process(context.Background(), e2)
	if got := e2.Fields["host"].(map[string]any)["asset"].(map[string]any)["tags"].([]any)[0]; got != "pci" {
		t.Errorf("a change to one event reached the table: tags[0] = %v", got)
	}
	if got := m.sum(t, "sluice_enrich_lookups_total", "processor=cidr_lookup", "resource=zones", "result=miss"); got != 1 {
		t.Errorf("misses counted %d, want 1", got)
	}
	if _, err := NewCIDRLookup(CIDRConfig{Field: "source.ip", Table: "nope"}, res); err == nil ||
		err.Error() != `table: no cidr table "nope" in lookups.cidr_tables` {
		t.Errorf("unknown table: %v", err)
	}
}

func TestCIDRTableLoadErrors(t *testing.T) {
	cases := []struct {
		name, file, data, want string
	}{
		{"bad cidr", "t.csv", "cidr,zone\n10.0.0.0/8,a\n# comment\n10.0.0.0/33,b\n", "t.csv:4: \"10.0.0.0/33\" is not a CIDR range"},
		{"bad address", "t.csv", "cidr,zone\n10.0.0.0/8,a\nserver-1,b\n", `t.csv:3: "server-1" is not a CIDR range or IP address`},
		{"duplicate", "t.csv", "cidr,zone\n10.0.0.0/8,a\n10.0.0.0/24,b\n10.0.0.1/8,c\n", "t.csv:4: duplicate cidr 10.0.0.0/8 (also on line 2)"},
		{"wrong field count", "t.csv", "cidr,zone\n10.0.0.0/8,a\n10.1.0.0/16,a,b\n", "t.csv: record on line 3: wrong number of fields"},
		{"no header", "t.csv", "10.0.0.0/8,a\n", "t.csv:1: want a header row with cidr first and at least one field name"},
		{"bad field name", "t.csv", "cidr,zone,asset..owner\n", `t.csv:1: column 3: invalid field name "asset..owner"`},
		{"repeated field", "t.csv", "cidr,zone,zone\n", "t.csv:1: field zone named twice"},
		{"empty", "t.csv", "", "t.csv: empty: want a header row (cidr,field,...)"},
		{"json syntax", "t.json", "[\n {\"cidr\": \"10.0.0.0/8\", \"fields\": {}},\n {\"cidr\": \"10.1.0.0/16\" \"fields\": {}}\n]", "t.json:3: invalid character '\"' after object key:value pair"},
		{"json bad cidr", "t.json", "[\n {\"cidr\": \"10.0.0.0/8\", \"fields\": {}},\n\n {\"cidr\": \"nope\", \"fields\": {}}\n]", `t.json:4: "nope" is not a CIDR range or IP address`},
		{"json missing cidr", "t.json", "[\n {\"fields\": {\"a\": 1}}\n]", "t.json:2: cidr required"},
		{"json not an array", "t.json", `{"cidr": "10.0.0.0/8"}`, "t.json:1: want a JSON array of {cidr, fields}"},
		{"json wrong type", "t.json", "[\n {\"cidr\": 10}\n]", "t.json:2: json: cannot unmarshal number into Go struct field .cidr of type string"},
		{"json unknown key", "t.json", "[\n {\"cidr\": \"10.0.0.0/8\", \"field\": {}}\n]", `t.json:2: json: unknown field "field"`},
		{"json trailing data", "t.json", "[]\n[]", "t.json:2: data after the array"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeFile(t, dir, c.file, []byte(c.data))
			_, err := loadCIDRTable(nil, path)
			if err == nil {
				t.Fatal("loaded")
			}
			if got := strings.TrimPrefix(err.Error(), dir+"/"); got != c.want {
				t.Fatalf("error\n got %s\nwant %s", got, c.want)
			}
		})
	}
	// NewResources names the table and the file.
	cfg := DefaultResourcesConfig()
	dir := t.TempDir()
	cfg.CIDRTables = map[string]string{"zones": writeFile(t, dir, "z.csv", []byte("cidr,zone\nx,y\n")), "gone": dir + "/missing.csv"}
	_, err := NewResources(context.Background(), cfg, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "load cidr table zones: "+dir+"/z.csv:2:") ||
		!strings.Contains(err.Error(), "cidr_table gone: stat "+dir+"/missing.csv: no such file or directory") {
		t.Fatalf("NewResources: %v", err)
	}
}

func TestCIDRReload(t *testing.T) {
	m := newTestMeter(t)
	res, dir := cidrResources(t, m, true)
	p, err := NewCIDRLookup(CIDRConfig{Field: "source.ip", Table: "zones"}, res)
	if err != nil {
		t.Fatal(err)
	}
	zoneOf := func(ip string) any {
		e := eventOf(map[string]any{"source": map[string]any{"ip": ip}})
		if err := p.Process(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		nw, _ := e.Fields["source"].(map[string]any)["network"].(map[string]any)
		return nw["zone"]
	}
	if z := zoneOf("172.16.0.1"); z != nil {
		t.Fatalf("zone %v before the reload", z)
	}
	writeFile(t, dir, "zones.csv", []byte("cidr,network.zone\n172.16.0.0/12,vpn\n"))
	eventually(t, "the new table", func() bool { return zoneOf("172.16.0.1") == "vpn" })
	if z := zoneOf("10.1.0.1"); z != nil {
		t.Errorf("a row of the old table is still served: %v", z)
	}
	writeFile(t, dir, "zones.csv", []byte("cidr,network.zone\nbroken,x\n"))
	eventually(t, "a failed reload", func() bool {
		return m.sum(t, "sluice_enrich_reloads_total", "kind=cidr_table", "resource=zones", "result=error") == 1
	})
	if z := zoneOf("172.16.0.1"); z != "vpn" {
		t.Errorf("after a failed reload: zone %v, want vpn", z)
	}
}
