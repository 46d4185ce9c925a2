package enrich

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestResourcesConfigValidate(t *testing.T) {
	if err := DefaultResourcesConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	cfg := DefaultResourcesConfig()
	cfg.MMDB = map[string]string{"city db": "/x.mmdb", "asn": ""}
	cfg.CIDRTables = map[string]string{"zones": "/zones.txt"}
	cfg.ThreatIntel = map[string]IndicatorSetConfig{"feeds": {}, "more": {Files: []string{" "}}}
	cfg.Redis = map[string]RedisConfig{"users": {Addr: "localhost", DB: -1, Timeout: -time.Second}}
	cfg.Postgres = map[string]PostgresConfig{"users": {Query: "SELECT 1", MaxConns: -1}}
	cfg.Cache = CacheConfig{Size: 0, TTL: 0, NegativeTTL: -1, StaleIfError: -1}
	cfg.ReloadInterval = 0
	err := cfg.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		`mmdb.asn: path required`,
		`mmdb.city db: invalid name: use letters, digits, '_' and '-'`,
		`cidr_tables.zones: path "/zones.txt" must end in .csv or .json`,
		`threat_intel.feeds.files: required: at least one file`,
		`threat_intel.more.files[0]: empty path`,
		`redis.users: the name is also a postgres source: source names must be unique`,
		`redis.users.addr: want host:port, not "localhost"`,
		`redis.users.db: must not be negative`,
		`redis.users.timeout: must not be negative`,
		`postgres.users.dsn: required`,
		`postgres.users.query: must use the key as $1`,
		`postgres.users.max_conns: must not be negative`,
		`cache.size: must be at least 1, not 0`,
		`cache.ttl: must be positive`,
		`cache.negative_ttl: must not be negative`,
		`cache.stale_if_error: must not be negative`,
		`reload_interval: must be positive`,
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Fatalf("errors\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

func TestProcessorConfigValidate(t *testing.T) {
	cases := []struct {
		cfg  interface{ Validate() error }
		want string
	}{
		{GeoIPConfig{Field: "a..b", TargetField: ".x"}, "field: \"a..b\" has an empty path element\ntarget_field: \".x\" has an empty path element\ncity_db: city_db, asn_db or both required"},
		{CIDRConfig{}, "field: required\ntable: required"},
		{LookupConfig{}, "field: field or key required\nsource: required"},
		{LookupConfig{Field: "a", Key: "{{b}}", Source: "s"}, "key: set field or key, not both"},
		{LookupConfig{Key: "{{b", Source: "s"}, "key: \"{{b\": {{ without }}\ntarget_field: required with key"},
		{LookupConfig{Key: "plain", TargetField: "x", Source: "s"}, `key: "plain": no {{field}} placeholder`},
		{LookupConfig{Key: "a}}{{b}}", TargetField: "x", Source: "s"}, `key: "a}}{{b}}": }} without {{`},
		{LookupConfig{Key: "{{a b}}", TargetField: "x", Source: "s"}, `key: "{{a b}}": invalid placeholder {{a b}}`},
		{ThreatIntelConfig{Fields: []string{""}}, "fields[0]: required\nset: required"},
		{ThreatIntelConfig{}, "fields: required: at least one field\nset: required"},
	}
	for _, c := range cases {
		err := c.cfg.Validate()
		if err == nil || err.Error() != c.want {
			t.Errorf("%#v:\n got %v\nwant %s", c.cfg, err, c.want)
		}
	}
	if err := (LookupConfig{Key: "u:{{ user.name }}@{{host.name}}", TargetField: "user", Source: "s"}).Validate(); err != nil {
		t.Errorf("valid template: %v", err)
	}
}

func TestProcessorFromYAML(t *testing.T) {
	res, _ := cidrResources(t, nil, false)
	node := func(s string) *yaml.Node {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(s), &doc); err != nil {
			t.Fatal(err)
		}
		return doc.Content[0]
	}
	p, ok, err := res.Processor("cidr_lookup", node("field: source.ip\ntable: zones\nignore_missing: true\n"))
	if err != nil || !ok || p == nil {
		t.Fatalf("cidr_lookup: %v %v %v", p, ok, err)
	}
	got, err := process(t, p, map[string]any{"source": map[string]any{"ip": "10.1.0.1"}})
	if err != nil || got["source"].(map[string]any)["network"] == nil {
		t.Fatalf("constructed processor: %v %v", got, err)
	}
	if p, ok, err := res.Processor("grok", node("pattern: x")); p != nil || ok || err != nil {
		t.Errorf("grok: %v %v %v", p, ok, err)
	}
	cases := []struct{ kind, yaml, want string }{
		{"cidr_lookup", "field: source.ip\ntabel: zones\ntarget_field: [1]\n", "line 2: unknown option \"tabel\"\nline 3: cannot unmarshal !!seq into string"},
		{"cidr_lookup", "field: source.ip\ntable: nope\n", `table: no cidr table "nope" in lookups.cidr_tables`},
		{"geoip", "- a\n", "line 1: want a mapping of options"},
		{"geoip", "{}", "field: required\ncity_db: city_db, asn_db or both required"},
		{"lookup", "field: user.name\nsource: users\n", `source: no source "users" in lookups.redis or lookups.postgres`},
		{"threat_intel", "fields: [source.ip]\nset: feeds\nfail_open: true\n", "line 3: unknown option \"fail_open\""},
	}
	for _, c := range cases {
		p, ok, err := res.Processor(c.kind, node(c.yaml))
		if p != nil || !ok || err == nil || err.Error() != c.want {
			t.Errorf("%s %q:\n got %v %v %v\nwant %s", c.kind, c.yaml, p, ok, err, c.want)
		}
	}
	// CheckProcessor: the same decoding and validation, and names checked against the
	// configuration only.
	rc := DefaultResourcesConfig()
	rc.MMDB = map[string]string{"city": "/nowhere/city.mmdb"}
	rc.Redis = map[string]RedisConfig{"users": {Addr: "127.0.0.1:1"}}
	checks := []struct{ kind, yaml, want string }{
		{"geoip", "field: source.ip\ncity_db: city\n", ""},
		{"geoip", "field: source.ip\ncity_db: city\nasn_db: asn\n", `asn_db: no "asn" in lookups.mmdb`},
		{"lookup", "field: user.name\nsource: users\n", ""},
		{"lookup", "field: user.name\nsource: hosts\n", `source: no "hosts" in lookups.redis or lookups.postgres`},
		{"cidr_lookup", "field: source.ip\ntable: zones\n", `table: no "zones" in lookups.cidr_tables`},
		{"threat_intel", "fields: [a]\nset: feeds\n", `set: no "feeds" in lookups.threat_intel`},
		{"threat_intel", "fields: [a]\nsets: feeds\n", "line 2: unknown option \"sets\""},
	}
	for _, c := range checks {
		ok, err := CheckProcessor(c.kind, node(c.yaml), rc)
		if !ok || (c.want == "") != (err == nil) || (err != nil && err.Error() != c.want) {
			t.Errorf("CheckProcessor %s %q: %v %v, want %q", c.kind, c.yaml, ok, err, c.want)
		}
	}
	if ok, err := CheckProcessor("grok", node("x: 1"), rc); ok || err != nil {
		t.Errorf("CheckProcessor grok: %v %v", ok, err)
	}
	for _, k := range Kinds() {
		if _, ok, _ := res.Processor(k, nil); !ok {
			t.Errorf("Kinds lists %s but Processor does not know it", k)
		}
	}
}

func TestResourcesConfigYAML(t *testing.T) {
	const doc = `
reload_interval: 1m
mmdb: {city: /geo/city.mmdb}
cidr_tables: {zones: /t/zones.csv}
threat_intel:
  feeds: {files: [/ti/a.txt], provider: x, confidence: High}
redis:
  users: {addr: "127.0.0.1:6379", password: hunter2, db: 2, key_prefix: "u:", timeout: 100ms}
postgres:
  hosts: {dsn: "postgres://u:pw@db/cmdb", query: "SELECT a FROM t WHERE k = $1", timeout: 2s, max_conns: 8}
cache: {size: 5, ttl: 1m, negative_ttl: 5s, stale_if_error: 10m}
`
	cfg := DefaultResourcesConfig()
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Redis["users"].Timeout != 100*time.Millisecond || cfg.Postgres["hosts"].MaxConns != 8 ||
		cfg.Cache.StaleIfError != 10*time.Minute || cfg.ThreatIntel["feeds"].Confidence != "High" {
		t.Errorf("decoded %+v", cfg)
	}
	// Secrets never print.
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "redis", cfg.Redis["users"], "pw", cfg.Redis["users"].Password)
	for name, s := range map[string]string{"yaml": string(out), "json": string(js), "%v": fmt.Sprintf("%v", cfg),
		"%#v": fmt.Sprintf("%#v", cfg), "slog": logged.String()} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "pw@db") {
			t.Errorf("%s output holds a secret: %s", name, s)
		}
	}
}

func TestRateLimit(t *testing.T) {
	r := rateLimit{interval: 10 * time.Second}
	now := time.Unix(100, 0)
	if ok, n := r.allow(now); !ok || n != 0 {
		t.Fatalf("first: %v %d", ok, n)
	}
	for range 5 {
		if ok, _ := r.allow(now.Add(time.Second)); ok {
			t.Fatal("let through within the interval")
		}
	}
	if ok, n := r.allow(now.Add(11 * time.Second)); !ok || n != 5 {
		t.Fatalf("after the interval: %v %d, want true 5", ok, n)
	}
}
