package search

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/sluice-siem/sluice/internal/bytesize"

	"github.com/sluice-siem/sluice/internal/secret"
)

// Engines the sink can index into (Config.Engine).
const (
	EngineElasticsearch = "elasticsearch"
	EngineOpenSearch    = "opensearch"
)

// Index layouts (Config.Layout).
const (
	// LayoutDataStream writes each log type to the data stream logs-<type>-<namespace>.
	LayoutDataStream = "data_stream"
	// LayoutDaily writes each log type to daily indices <prefix>-<type>-YYYY.MM.DD,
	// chosen by the document's UTC date.
	LayoutDaily = "daily"
)

// Config configures a Sink. It is plain data with yaml tags, embedded in sluice's
// configuration as sink.search.
type Config struct {
	Engine    string   `yaml:"engine" doc:"elasticsearch or opensearch"`
	Addresses []string `yaml:"addresses" doc:"engine URLs, e.g. https://search.internal:9200"`
	Username  string   `yaml:"username" doc:"basic authentication user"`
	Password  Secret   `yaml:"password" doc:"basic authentication password"`
	APIKey    Secret   `yaml:"api_key" doc:"API key (base64 id:key), sent as Authorization: ApiKey"`
	// CAFile is a PEM file of the CAs that sign the engine's certificate; empty: the
	// system's roots.
	CAFile string `yaml:"ca_file" doc:"PEM CAs of the engine's TLS certificate; empty: system roots"`
	// AWSRegion, when set, signs every request with AWS SigV4 for Amazon OpenSearch
	// Service, with credentials from the AWS default chain (engine opensearch only).
	AWSRegion  string `yaml:"aws_region" doc:"sign requests with AWS SigV4 for Amazon OpenSearch Service in this region"`
	AWSService string `yaml:"aws_service" doc:"SigV4 service name: es (managed domains) or aoss (serverless)"`

	Layout    string `yaml:"layout" doc:"data_stream (logs-<type>-<namespace>) or daily (<index_prefix>-<type>-YYYY.MM.DD)"`
	Namespace string `yaml:"namespace" doc:"data stream namespace"`
	// IndexPrefix starts daily index names.
	IndexPrefix string `yaml:"index_prefix" doc:"first part of daily index names"`
	// Template installs (or updates) the index template at start.
	Template bool `yaml:"template" doc:"install the index template with sluice's mappings at start"`
	// Lifecycle rolls data streams over and deletes expired indices (see lifecycle.go).
	Lifecycle LifecycleConfig `yaml:"lifecycle" doc:"rollover and retention: the engine's ILM/ISM policy, or sluice's sweeper where the engine has none (replaces Curator)"`

	BulkMaxBytes bytesize.Size `yaml:"bulk_max_bytes" doc:"largest _bulk request body"`
	BulkMaxDocs  int           `yaml:"bulk_max_docs" doc:"most documents per _bulk request"`
	Workers      int           `yaml:"workers" doc:"most _bulk requests in flight at once"`
	// FlushInterval, when more than zero, gathers the documents of concurrent Write
	// calls into shared _bulk requests, sent when full or this long after their first
	// document; zero sends each Write's documents at once.
	FlushInterval time.Duration `yaml:"flush_interval" doc:"gather concurrent writes into shared _bulk requests for at most this long; 0: send each write at once"`
	// RequestTimeout bounds one _bulk request; a timed-out request is retried.
	RequestTimeout time.Duration `yaml:"request_timeout" doc:"longest wait for one _bulk answer before it is retried"`
	RetryBase      time.Duration `yaml:"retry_base" doc:"first retry wait of throttled or failed documents (full jitter)"`
	RetryMax       time.Duration `yaml:"retry_max" doc:"cap of the retry wait"`
}

// DefaultConfig returns the defaults: OpenSearch, data streams in namespace "default",
// template installed, 5 MiB or 1000 documents per request, 2 workers.
func DefaultConfig() Config {
	return Config{
		Engine:         EngineOpenSearch,
		Addresses:      []string{},
		Layout:         LayoutDataStream,
		Namespace:      "default",
		IndexPrefix:    "sluice",
		AWSService:     "es",
		Template:       true,
		Lifecycle:      DefaultLifecycleConfig(),
		BulkMaxBytes:   5 * bytesize.MiB,
		BulkMaxDocs:    1000,
		Workers:        2,
		RequestTimeout: 30 * time.Second,
		RetryBase:      100 * time.Millisecond,
		RetryMax:       10 * time.Second,
	}
}

// Validate reports every problem of the configuration at once, each named by its path
// in the section; the configuration adds the section's path.
func (c Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	switch c.Engine {
	case EngineElasticsearch, EngineOpenSearch:
	default:
		bad("engine", "%q, want elasticsearch or opensearch", c.Engine)
	}
	if len(c.Addresses) == 0 {
		bad("addresses", "required")
	}
	for i, a := range c.Addresses {
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(fmt.Sprintf("addresses[%d]", i), "%q is not an http(s) URL", secret.RedactURL(a))
		}
	}
	if c.APIKey != "" && (c.Username != "" || c.Password != "") {
		bad("api_key", "set either api_key or username and password, not both")
	}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			bad("ca_file", "%v", err)
		}
	}
	if c.AWSRegion != "" {
		if c.Engine != EngineOpenSearch {
			bad("aws_region", "SigV4 signing needs engine opensearch")
		}
		if c.Username != "" || c.APIKey != "" {
			bad("aws_region", "SigV4 signing excludes username and api_key")
		}
		if c.AWSService != "es" && c.AWSService != "aoss" {
			bad("aws_service", "%q, want es or aoss", c.AWSService)
		}
	}
	switch c.Layout {
	case LayoutDataStream:
		if !validNamePart(c.Namespace) {
			bad("namespace", "%q: want lowercase letters, digits, '_' or '.'", c.Namespace)
		}
	case LayoutDaily:
		if !validNamePart(c.IndexPrefix) {
			bad("index_prefix", "%q: want lowercase letters, digits, '_' or '.'", c.IndexPrefix)
		}
	default:
		bad("layout", "%q, want data_stream or daily", c.Layout)
	}
	if c.BulkMaxBytes < 1024 {
		bad("bulk_max_bytes", "%s, want at least 1KiB", c.BulkMaxBytes)
	}
	if c.BulkMaxDocs < 1 {
		bad("bulk_max_docs", "%d, want at least 1", c.BulkMaxDocs)
	}
	if c.Workers < 1 {
		bad("workers", "%d, want at least 1", c.Workers)
	}
	if c.FlushInterval < 0 {
		bad("flush_interval", "%s, want 0 or more", c.FlushInterval)
	}
	if c.RequestTimeout <= 0 {
		bad("request_timeout", "%s, want more than 0", c.RequestTimeout)
	}
	if c.RetryBase <= 0 || c.RetryMax < c.RetryBase {
		bad("retry_base", "%s with retry_max %s: want 0 < retry_base <= retry_max", c.RetryBase, c.RetryMax)
	}
	errs = append(errs, c.Lifecycle.validate("lifecycle.")...)
	return errors.Join(errs...)
}

// validNamePart reports whether s can be part of an index or data stream name without
// '-' (which separates the parts).
func validNamePart(s string) bool {
	if s == "" || len(s) > 100 || strings.HasPrefix(s, "_") || strings.HasPrefix(s, ".") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Secret is a credential that never prints (see internal/secret).
type Secret = secret.Secret
