package enrich

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sluice-siem/sluice/internal/secret"
)

// Defaults of ResourcesConfig that a zero value stands for. They live here, in one
// place; DefaultResourcesConfig holds the ones of the cache and of reloads.
const (
	// DefaultSourceTimeout bounds one Redis or PostgreSQL call when a source sets none.
	DefaultSourceTimeout = 250 * time.Millisecond
	// DefaultPostgresMaxConns is the connection pool size of a PostgreSQL source that
	// sets none.
	DefaultPostgresMaxConns = 4
	// DefaultThreatTag is the tag threat_intel adds to matching events when it sets none.
	DefaultThreatTag = "threat-intel-match"
)

// ResourcesConfig is the `lookups:` section of the main configuration: every database,
// table, indicator set and lookup source that enrichment processors refer to by name.
// It is plain data; DefaultResourcesConfig holds the defaults and Validate reports every
// problem at once, each with its path relative to the section (prefix "lookups." when
// reporting).
type ResourcesConfig struct {
	// MMDB maps a name to the path of a MaxMind database (City or ASN).
	MMDB map[string]string `yaml:"mmdb" doc:"name -> path of a MaxMind .mmdb file (City or ASN); reloaded when it changes"`
	// CIDRTables maps a name to the path of a CIDR table: a .csv file (header row: cidr,
	// then field names) or a .json file (a list of {"cidr": ..., "fields": {...}}).
	CIDRTables map[string]string `yaml:"cidr_tables" doc:"name -> path of a CIDR table (.csv: header cidr,field...; .json: [{cidr, fields}]); reloaded when it changes"`
	// ThreatIntel maps a name to a set of indicators loaded from files.
	ThreatIntel map[string]IndicatorSetConfig `yaml:"threat_intel" doc:"name -> threat-intel indicator set (IPs, CIDRs, domains, file hashes) from files"`
	// Redis maps a source name to a Redis server. Names are shared with Postgres.
	Redis map[string]RedisConfig `yaml:"redis" doc:"name -> Redis lookup source (GET key_prefix+key, a JSON object)"`
	// Postgres maps a source name to a PostgreSQL query. Names are shared with Redis.
	Postgres map[string]PostgresConfig `yaml:"postgres" doc:"name -> PostgreSQL lookup source (a query with $1 = key, one row)"`
	// Cache sizes the cache that each lookup source keeps of its answers.
	Cache CacheConfig `yaml:"cache" doc:"cache of each Redis/PostgreSQL source"`
	// ReloadInterval is how often Run checks the files above for changes.
	ReloadInterval time.Duration `yaml:"reload_interval" doc:"how often files are checked for changes (mtime and size); a change is loaded once it has held for one interval"`
	// Embedded holds files built into the binary (the sample lookups sluice ships),
	// which the paths above name with EmbeddedPrefix ("embedded:sample-city.mmdb"). They
	// never change, so they are never reloaded. Set by sluice, not by configuration.
	Embedded fs.FS `yaml:"-"`
}

// EmbeddedPrefix starts a lookup file path naming a file of ResourcesConfig.Embedded
// rather than of the disk.
const EmbeddedPrefix = "embedded:"

func isEmbedded(path string) bool { return strings.HasPrefix(path, EmbeddedPrefix) }

// readLookupFile reads a lookup file: from embedded when path starts with
// EmbeddedPrefix, else from the disk.
func readLookupFile(embedded fs.FS, path string) ([]byte, error) {
	name, ok := strings.CutPrefix(path, EmbeddedPrefix)
	if !ok {
		return os.ReadFile(path)
	}
	if embedded == nil {
		return nil, fmt.Errorf("%s: no embedded files in this build", path)
	}
	data, err := fs.ReadFile(embedded, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}

// IndicatorSetConfig is one threat-intel indicator set: the union of its files.
//
// A file's format follows its extension: ".json" is a JSON array of objects with an
// "indicator" key and optional "provider", "confidence", "description" and "reference";
// ".csv" has a header row naming an "indicator" column and any of those optional ones;
// any other file holds one indicator per line, with blank lines and lines starting
// with '#' ignored. An indicator is an IP address, a CIDR range, a domain (which also
// matches its subdomains) or an MD5, SHA-1 or SHA-256 file hash in hex.
type IndicatorSetConfig struct {
	Files []string `yaml:"files" doc:"indicator files (.json, .csv with a header, or one indicator per line)"`
	// Provider and Confidence apply to the indicators that do not name their own.
	Provider   string `yaml:"provider" doc:"threat.indicator.provider of indicators that name none"`
	Confidence string `yaml:"confidence" doc:"threat.indicator.confidence of indicators that name none (Low, Medium, High, ...)"`
}

// RedisConfig is a Redis lookup source. A key is looked up with GET key_prefix+key; the
// value must be a JSON object, whose members become fields (nested objects too). A
// missing key is a miss.
type RedisConfig struct {
	Addr      string `yaml:"addr" doc:"host:port of the Redis server"`
	Username  string `yaml:"username" doc:"ACL user name; empty: default user"`
	Password  Secret `yaml:"password" doc:"password; never printed"`
	DB        int    `yaml:"db" doc:"database number"`
	KeyPrefix string `yaml:"key_prefix" doc:"prepended to every key (e.g. asset:)"`
	// Timeout bounds one call, connecting included; 0 means DefaultSourceTimeout.
	Timeout time.Duration `yaml:"timeout" doc:"bound on one call, connecting included; 0: 250ms"`
}

// PostgresConfig is a PostgreSQL lookup source: Query runs with the key as $1 (a text
// value: cast it in the query when the column is not text, e.g. $1::inet), and the
// first row it returns maps each column name (dots allowed: "asset.owner") to a field;
// NULL columns add nothing. No row is a miss.
type PostgresConfig struct {
	DSN   Secret `yaml:"dsn" doc:"connection string (postgres://user:password@host:port/db?sslmode=...); never printed"`
	Query string `yaml:"query" doc:"parameterised query, $1 = key; the first row's columns become fields"`
	// Timeout bounds one call, waiting for a connection included; 0 means
	// DefaultSourceTimeout.
	Timeout time.Duration `yaml:"timeout" doc:"bound on one query, waiting for a connection included; 0: 250ms"`
	// MaxConns sizes the connection pool; 0 means DefaultPostgresMaxConns.
	MaxConns int32 `yaml:"max_conns" doc:"connection pool size; 0: 4"`
}

// CacheConfig sizes the answer cache of each lookup source: a bounded LRU whose entries
// are fresh for TTL (NegativeTTL for misses). A stale entry is not used while the
// backend answers, but is served instead of an error for StaleIfError after it
// expired, so enrichment outlives a short backend outage.
type CacheConfig struct {
	Size         int           `yaml:"size" doc:"entries per source (answers and misses); LRU beyond"`
	TTL          time.Duration `yaml:"ttl" doc:"how long an answer is served from the cache"`
	NegativeTTL  time.Duration `yaml:"negative_ttl" doc:"how long a miss (no such key) is served from the cache"`
	StaleIfError time.Duration `yaml:"stale_if_error" doc:"how long past its TTL an entry is still served when the backend fails; 0: never"`
}

// DefaultResourcesConfig returns the defaults of the lookups section: no resources, a
// 10,000-entry cache per source with a 5 minute TTL, 30 second negative TTL and an
// hour of stale-if-error, and files checked every 30 seconds.
func DefaultResourcesConfig() ResourcesConfig {
	return ResourcesConfig{
		MMDB:        map[string]string{},
		CIDRTables:  map[string]string{},
		ThreatIntel: map[string]IndicatorSetConfig{},
		Redis:       map[string]RedisConfig{},
		Postgres:    map[string]PostgresConfig{},
		Cache: CacheConfig{
			Size:         10000,
			TTL:          5 * time.Minute,
			NegativeTTL:  30 * time.Second,
			StaleIfError: time.Hour,
		},
		ReloadInterval: 30 * time.Second,
	}
}

// Validate reports every problem of the section at once, each with its path relative
// to the section. It checks the shape of the configuration, not the files and servers
// (NewResources does).
func (c ResourcesConfig) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	for _, name := range sortedKeys(c.MMDB) {
		if !validName(name) {
			bad("mmdb."+name, "invalid name: use letters, digits, '_' and '-'")
		}
		if strings.TrimSpace(c.MMDB[name]) == "" {
			bad("mmdb."+name, "path required")
		}
	}
	for _, name := range sortedKeys(c.CIDRTables) {
		if !validName(name) {
			bad("cidr_tables."+name, "invalid name: use letters, digits, '_' and '-'")
		}
		path := c.CIDRTables[name]
		switch strings.ToLower(filepath.Ext(path)) {
		case ".csv", ".json":
		default:
			bad("cidr_tables."+name, "path %q must end in .csv or .json", path)
		}
	}
	for _, name := range sortedKeys(c.ThreatIntel) {
		s := c.ThreatIntel[name]
		if !validName(name) {
			bad("threat_intel."+name, "invalid name: use letters, digits, '_' and '-'")
		}
		if len(s.Files) == 0 {
			bad("threat_intel."+name+".files", "required: at least one file")
		}
		for i, f := range s.Files {
			if strings.TrimSpace(f) == "" {
				bad(fmt.Sprintf("threat_intel.%s.files[%d]", name, i), "empty path")
			}
		}
	}
	for _, name := range sortedKeys(c.Redis) {
		r := c.Redis[name]
		p := "redis." + name
		if !validName(name) {
			bad(p, "invalid name: use letters, digits, '_' and '-'")
		}
		if _, ok := c.Postgres[name]; ok {
			bad(p, "the name is also a postgres source: source names must be unique")
		}
		if _, port, err := net.SplitHostPort(r.Addr); err != nil || port == "" {
			bad(p+".addr", "want host:port, not %q", r.Addr)
		}
		if r.DB < 0 {
			bad(p+".db", "must not be negative")
		}
		if r.Timeout < 0 {
			bad(p+".timeout", "must not be negative")
		}
	}
	for _, name := range sortedKeys(c.Postgres) {
		pg := c.Postgres[name]
		p := "postgres." + name
		if !validName(name) {
			bad(p, "invalid name: use letters, digits, '_' and '-'")
		}
		if pg.DSN == "" {
			bad(p+".dsn", "required")
		}
		if !strings.Contains(pg.Query, "$1") {
			bad(p+".query", "must use the key as $1")
		}
		if pg.Timeout < 0 {
			bad(p+".timeout", "must not be negative")
		}
		if pg.MaxConns < 0 {
			bad(p+".max_conns", "must not be negative")
		}
	}
	if c.Cache.Size < 1 {
		bad("cache.size", "must be at least 1, not %d", c.Cache.Size)
	}
	if c.Cache.TTL <= 0 {
		bad("cache.ttl", "must be positive")
	}
	if c.Cache.NegativeTTL < 0 {
		bad("cache.negative_ttl", "must not be negative")
	}
	if c.Cache.StaleIfError < 0 {
		bad("cache.stale_if_error", "must not be negative")
	}
	if c.ReloadInterval <= 0 {
		bad("reload_interval", "must be positive")
	}
	return errors.Join(errs...)
}

// GeoIPConfig configures a geoip processor: the IP address in Field is looked up in the
// City and ASN databases, and the answers are written as ECS fields below TargetField:
// geo.{country_iso_code, country_name, continent_name, region_iso_code, region_name,
// city_name, postal_code, timezone, location {lat, lon}} and as.{number,
// organization.name}. Private, loopback, link-local and unspecified addresses, and
// addresses the databases do not know, add nothing.
type GeoIPConfig struct {
	Field string `yaml:"field" doc:"field holding an IP address"`
	// TargetField defaults to the parent of Field (source.ip: source); a Field without
	// a parent writes geo and as at the top level.
	TargetField string `yaml:"target_field" doc:"object that receives geo and as; default: the parent of field"`
	CityDB      string `yaml:"city_db" doc:"name of a City database in lookups.mmdb"`
	ASNDB       string `yaml:"asn_db" doc:"name of an ASN database in lookups.mmdb"`
	// IgnoreMissing makes an absent field a no-op instead of an error.
	IgnoreMissing bool `yaml:"ignore_missing" doc:"an absent field is not an error"`
}

// Validate reports every problem at once, each with its option name.
func (c GeoIPConfig) Validate() error {
	var errs []error
	errs = append(errs, checkPath("field", c.Field, true))
	errs = append(errs, checkPath("target_field", c.TargetField, false))
	if c.CityDB == "" && c.ASNDB == "" {
		errs = append(errs, errors.New("city_db: city_db, asn_db or both required"))
	}
	return errors.Join(errs...)
}

// CIDRConfig configures a cidr_lookup processor: the IP address in Field is looked up
// in Table by longest-prefix match and the fields of the matching row are merged below
// TargetField. No match adds nothing.
type CIDRConfig struct {
	Field       string `yaml:"field" doc:"field holding an IP address"`
	TargetField string `yaml:"target_field" doc:"object that receives the row's fields; default: the parent of field"`
	Table       string `yaml:"table" doc:"name of a table in lookups.cidr_tables"`
	// IgnoreMissing makes an absent field a no-op instead of an error.
	IgnoreMissing bool `yaml:"ignore_missing" doc:"an absent field is not an error"`
}

// Validate reports every problem at once, each with its option name.
func (c CIDRConfig) Validate() error {
	var errs []error
	errs = append(errs, checkPath("field", c.Field, true))
	errs = append(errs, checkPath("target_field", c.TargetField, false))
	if c.Table == "" {
		errs = append(errs, errors.New("table: required"))
	}
	return errors.Join(errs...)
}

// LookupConfig configures a lookup processor: the key (Field's value, or Key with
// {{path}} placeholders filled from the event) is looked up in Source through the
// source's cache, and the fields of the answer are merged below TargetField. A miss
// adds nothing. A backend failure (after the cache had nothing to serve) is an error
// of Process unless FailOpen is set: then the event passes unenriched, and the failure
// is counted and logged (rate-limited).
type LookupConfig struct {
	Field string `yaml:"field" doc:"field whose value is the key (string or number); or use key"`
	// Key is a template such as "{{host.name}}:{{user.name}}"; it excludes Field.
	Key         string `yaml:"key" doc:"key template with {{field.path}} placeholders, instead of field"`
	TargetField string `yaml:"target_field" doc:"object that receives the fields; default: the parent of field (required with key)"`
	Source      string `yaml:"source" doc:"name of a source in lookups.redis or lookups.postgres"`
	// FailOpen lets events pass unenriched when the backend fails.
	FailOpen bool `yaml:"fail_open" doc:"on backend errors pass the event unenriched (counted, logged) instead of failing the processor"`
	// IgnoreMissing makes an absent field (or template field) a no-op instead of an error.
	IgnoreMissing bool `yaml:"ignore_missing" doc:"an absent key field is not an error"`
}

// Validate reports every problem at once, each with its option name.
func (c LookupConfig) Validate() error {
	var errs []error
	switch {
	case c.Field == "" && c.Key == "":
		errs = append(errs, errors.New("field: field or key required"))
	case c.Field != "" && c.Key != "":
		errs = append(errs, errors.New("key: set field or key, not both"))
	case c.Field != "":
		errs = append(errs, checkPath("field", c.Field, true))
	default:
		if _, err := parseKeyTemplate(c.Key); err != nil {
			errs = append(errs, fmt.Errorf("key: %w", err))
		}
		if c.TargetField == "" {
			errs = append(errs, errors.New("target_field: required with key"))
		}
	}
	errs = append(errs, checkPath("target_field", c.TargetField, false))
	if c.Source == "" {
		errs = append(errs, errors.New("source: required"))
	}
	return errors.Join(errs...)
}

// ThreatIntelConfig configures a threat_intel processor: the values of Fields (strings,
// or arrays of strings) are matched against the indicator set Set. Each match appends
// an entry to threat.enrichments, the first match of the event sets threat.indicator
// (when the event has none), and Tag is added to tags. Absent fields are skipped.
type ThreatIntelConfig struct {
	Fields []string `yaml:"fields" doc:"fields to match: IPs, domains (subdomains match their parent) or file hashes"`
	Set    string   `yaml:"set" doc:"name of an indicator set in lookups.threat_intel"`
	// Tag defaults to DefaultThreatTag.
	Tag string `yaml:"tag" doc:"tag added to matching events; default threat-intel-match"`
}

// Validate reports every problem at once, each with its option name.
func (c ThreatIntelConfig) Validate() error {
	var errs []error
	if len(c.Fields) == 0 {
		errs = append(errs, errors.New("fields: required: at least one field"))
	}
	for i, f := range c.Fields {
		errs = append(errs, checkPath(fmt.Sprintf("fields[%d]", i), f, true))
	}
	if c.Set == "" {
		errs = append(errs, errors.New("set: required"))
	}
	return errors.Join(errs...)
}

// checkPath reports an invalid dotted field path of option name.
func checkPath(name, path string, required bool) error {
	if path == "" {
		if required {
			return fmt.Errorf("%s: required", name)
		}
		return nil
	}
	if slices.Contains(strings.Split(path, "."), "") {
		return fmt.Errorf("%s: %q has an empty path element", name, path)
	}
	return nil
}

// validName accepts resource names that read well in paths and metrics.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Secret is a credential that never prints (see internal/secret).
type Secret = secret.Secret
