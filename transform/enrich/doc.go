// Package enrich is the enrich step of the data path (step 6, after parsing and before
// indexing): pipeline processors that add what an event's own fields do not say, from
// the lookup DB. geoip adds ECS geo and as objects from MaxMind City and ASN databases;
// cidr_lookup adds the fields of the most specific CIDR range holding an address
// (asset inventory, network zone, owner); lookup adds the fields Redis or PostgreSQL
// hold for a key, through a bounded cache; threat_intel matches IPs, domains and file
// hashes against indicator sets and records the matches as ECS threat fields and a tag.
//
// # API
//
// Everything the processors read lives in one *Resources, made from the `lookups:`
// section of the configuration and shared by every pipeline and shard:
//
//	cfg := enrich.DefaultResourcesConfig()     // then decode `lookups:` over it
//	err := cfg.Validate()                       // every problem, with its path
//	res, err := enrich.NewResources(ctx, cfg, logger, meter)
//	defer res.Close()
//	go res.Run(ctx)                             // reloads files that change
//
// Pipelines construct processors by kind from their YAML options:
//
//	p, ok, err := res.Processor("geoip", node)  // ok=false: not an enrichment kind
//
// (`sluice validate` can check the same options against the configuration alone, with
// nothing loaded or connected: CheckProcessor(kind, node, cfg).)
//
// or directly with NewGeoIP, NewCIDRLookup, NewLookup and NewThreatIntel and the
// plain-data configs GeoIPConfig, CIDRConfig, LookupConfig and ThreatIntelConfig. Every
// processor implements event.Processor and is safe for concurrent use. An error from
// Process means the processor could not do its job for this event (no such field, not
// an IP address, a failed backend with fail_open off); the pipeline's on_failure
// applies. A value that simply has no match adds nothing and is not an error.
//
// # Configuration
//
//	lookups:
//	  reload_interval: 30s
//	  mmdb:
//	    city: /etc/sluice/GeoLite2-City.mmdb
//	    asn: /etc/sluice/GeoLite2-ASN.mmdb
//	  cidr_tables:
//	    zones: /etc/sluice/zones.csv     # cidr,network.zone,asset.owner
//	    assets: /etc/sluice/assets.json  # [{"cidr": "10.1.0.0/16", "fields": {...}}]
//	  threat_intel:
//	    feeds:
//	      files: [/etc/sluice/ti/bad-ips.txt, /etc/sluice/ti/indicators.csv]
//	      provider: abuse.example
//	      confidence: High
//	  redis:
//	    users:
//	      addr: 127.0.0.1:6379
//	      key_prefix: "user:"             # GET user:<key>, a JSON object
//	      timeout: 100ms
//	  postgres:
//	    hosts:
//	      dsn: postgres://sluice@db:5432/cmdb?sslmode=require
//	      query: SELECT owner AS "asset.owner", criticality FROM hosts WHERE name = $1
//	      timeout: 200ms
//	  cache: {size: 10000, ttl: 5m, negative_ttl: 30s, stale_if_error: 1h}
//
// and, in a pipeline's list of processors:
//
//	processors:
//	  - geoip: {field: source.ip, city_db: city, asn_db: asn}    # source.geo.*, source.as.*
//	  - cidr_lookup: {field: source.ip, table: zones}            # source.network.zone, ...
//	  - lookup: {field: user.name, source: users, fail_open: true}
//	  - lookup: {key: "{{host.name}}", target_field: host, source: hosts}  # host.asset.owner, ...
//	  - threat_intel: {fields: [source.ip, destination.ip, dns.question.name], set: feeds}
//
// # Semantics
//
// Target objects default to the parent of the input field (source.ip: source); a field
// without a parent writes at the top level. Enrichments merge into objects the event
// already has and fail, naming the path, when a value on the way is not an object.
// Every event gets its own copy of what it receives. IP fields hold one address
// (IPv4-mapped IPv6 addresses are looked up as IPv4); CIDR tables match by longest
// prefix, IPv4 and IPv6. CSV cells are strings (empty cells add nothing); JSON tables
// keep JSON types.
//
// Sources: a Redis source answers GET key_prefix+key, whose value must be a JSON
// object; a PostgreSQL source runs its query with the key as $1 and maps the first
// row's columns to fields (NULLs skipped). Each source caches answers and misses
// (CacheConfig), shares one backend call among concurrent misses of a key, and bounds
// each call by its timeout. When the backend fails, an expired entry within
// stale_if_error is served; otherwise the lookup fails: with fail_open the event passes
// unenriched (counted, logged at most every 10 s per processor), without it Process
// returns the error.
//
// threat_intel writes, for each match, an entry of threat.enrichments:
//
//	{"indicator": {"type": "ipv4-addr", "name": "203.0.113.0/24", "ip": "203.0.113.9",
//	               "provider": ..., "confidence": ..., "description": ..., "reference": ...},
//	 "matched": {"atomic": "203.0.113.9", "field": "source.ip", "type": "indicator_match_rule"}}
//
// sets threat.indicator to the first match's indicator when the event has none, and
// adds its tag to tags. Field values are bare IP addresses, domains (not URLs) or hex
// hashes; arrays of them are matched element by element. Domains match themselves and
// their subdomains, case-insensitively; hashes match case-insensitively and write
// file.hash.{md5,sha1,sha256}.
//
// Metrics: sluice_enrich_lookups_total {processor, resource, result: hit, miss,
// cache_hit, negative_cache_hit, stale, error}, sluice_enrich_backend_duration_seconds
// {source, backend, result}, sluice_enrich_reloads_total {kind, resource, result}.
package enrich
