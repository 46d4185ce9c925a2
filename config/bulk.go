package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sluice-siem/sluice/stream"
)

// Bulk configures the Elasticsearch-compatible API on the HTTP port: POST /_bulk and
// POST /{index}/_bulk, GET / (the version check of shippers and the official clients),
// and harmless answers to the start-up calls of shippers (license, index templates,
// ILM policies), so that any shipper with an Elasticsearch output can send to sluice.
type Bulk struct {
	// Enabled serves the API on the HTTP listener.
	Enabled bool `yaml:"enabled" doc:"serve the Elasticsearch-compatible _bulk API (and GET /, _license, templates...) on the HTTP port"`
	// IndexTypes map index or data stream names to log types, tried in order.
	IndexTypes []IndexType `yaml:"index_types" doc:"index or data stream name patterns ('*' globs) and their log types, tried in order; an empty type takes it from the event's fields (gateway.routing.type_fields)"`
	// DataStreamTypes makes a data stream name logs-<dataset>-<namespace> that no
	// pattern matches name the log type <dataset>.
	DataStreamTypes bool `yaml:"data_stream_types" doc:"when no pattern matches, a data stream name logs-<dataset>-<namespace> names the log type <dataset>"`
	// Version is the Elasticsearch version reported to shippers. Beats refuse a node
	// older than themselves unless allow_older_versions is set.
	Version string `yaml:"version" doc:"Elasticsearch version reported by GET / (shippers pick their protocol by it)"`
	// ClusterName is reported by GET / and the health API.
	ClusterName string `yaml:"cluster_name" doc:"cluster name reported by GET /"`
	// NodeName is reported by GET /; empty reports the host name.
	NodeName string `yaml:"node_name" doc:"node name reported by GET /; empty: the host name"`
}

// IndexType maps index names matching a pattern to a log type.
type IndexType struct {
	// Pattern matches index or data stream names; '*' matches any run of characters.
	Pattern string `yaml:"pattern"`
	// Type is the log type; empty takes it from the event's fields.
	Type string `yaml:"type"`
}

// defaultBulk returns the API's defaults: on, data stream names give the log type
// (logs-firewall-default is firewall), except logs-generic-*, the catch-all data stream
// of Logstash and Vector, whose events name their type in their fields if at all.
func defaultBulk() Bulk {
	return Bulk{
		Enabled:         true,
		IndexTypes:      []IndexType{{Pattern: "logs-generic-*", Type: ""}},
		DataStreamTypes: true,
		Version:         "8.17.0",
		ClusterName:     "sluice",
	}
}

// Validate reports every problem of b at once, each prefixed with its path under
// prefix (for example "bulk.").
func (b Bulk) Validate(prefix string) error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s: %s", prefix, path, fmt.Sprintf(format, args...)))
	}
	for i, it := range b.IndexTypes {
		path := fmt.Sprintf("index_types[%d]", i)
		switch {
		case strings.TrimSpace(it.Pattern) == "":
			bad(path+".pattern", "required: an index name, '*' matching any run of characters")
		case strings.ToLower(it.Pattern) != it.Pattern:
			bad(path+".pattern", "%q never matches: index names are lowercase", it.Pattern)
		}
		if it.Type != "" && !stream.ValidType(it.Type) {
			bad(path+".type", "invalid log type name %q: use 1-64 of a-z 0-9 _ - . starting with a letter or digit, or empty to take it from the event's fields", it.Type)
		}
	}
	if !validVersion(b.Version) {
		bad("version", "want an Elasticsearch version such as 8.17.0, not %q", b.Version)
	}
	if strings.TrimSpace(b.ClusterName) == "" {
		bad("cluster_name", "required")
	}
	return errors.Join(errs...)
}

// validVersion accepts MAJOR.MINOR.PATCH with a major version of 7 or later: older
// ones change the bulk protocol (document types) and what shippers expect of a node.
func validVersion(v string) bool {
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || p != strconv.Itoa(n) || (i == 0 && n < 7) {
			return false
		}
	}
	return true
}
