package kinesis

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"time"

	"github.com/sluice-siem/sluice/internal/awsclient"
	"github.com/sluice-siem/sluice/internal/bytesize"

	"github.com/sluice-siem/sluice/internal/secret"
	"github.com/sluice-siem/sluice/stream"
)

// Service limits of Kinesis Data Streams that bound Config.
const (
	// MaxBatchRecords is the most entries one PutRecords request may carry.
	MaxBatchRecords = 500
	// MaxRequestBytesLimit is the largest PutRecords request Config.MaxRequestBytes may
	// allow (data and partition keys of all entries).
	MaxRequestBytesLimit = 10 * bytesize.MiB
	// MaxPartitionKeyChars is the longest partition key, in Unicode characters.
	MaxPartitionKeyChars = 256
)

// Config is the plain-data configuration of the Kinesis producer: where the streams are,
// how records are packed and batched, how failures are retried and how fast each shard
// is written. DefaultConfig holds the defaults; Validate reports every problem at once.
// The same settings apply to every stream; Streams overrides where a stream lives.
type Config struct {
	// Region is the AWS region of the streams; empty takes it from the AWS default
	// chain (AWS_REGION, the shared config file).
	Region string `yaml:"region" doc:"AWS region of the streams; empty: from the AWS default chain"`
	// Endpoint overrides the Kinesis endpoint URL, for Kinesis-compatible servers and
	// VPC endpoints; empty uses the region's AWS endpoint.
	Endpoint string `yaml:"endpoint" doc:"Kinesis endpoint URL (compatible servers, VPC endpoints); empty: AWS"`
	// Credentials are static credentials; empty uses the AWS default chain
	// (environment, shared files, ECS task role, EC2 instance role).
	Credentials Credentials `yaml:"credentials" doc:"static credentials; empty: the AWS default chain (task role, environment, ...)"`
	// Streams overrides Region, Endpoint and Credentials for the named streams.
	Streams map[string]StreamLocation `yaml:"streams" doc:"stream name -> region, endpoint, credentials overriding the ones above"`
	// Sources names the streams that producers other than sluice's gateway write (a
	// CloudWatch Logs subscription filter, say) and how the reader turns their records
	// into events; the records of other streams carry sluice's envelope.
	Sources map[string]Source `yaml:"sources" doc:"stream name -> format and log type of a stream other producers write (cloudwatch_logs)"`

	// Aggregation packs the events of one shard into KPL aggregated records (many events
	// per record); off, every event is a record of its own.
	Aggregation bool `yaml:"aggregation" doc:"pack many events into one record in the KPL aggregated format"`
	// Compression compresses each aggregated record of two events or more into one zstd
	// frame before it is put; Kinesis then counts and bills the compressed bytes. A
	// record of one event is not compressed (too little gain for the CPU). The reader
	// decompresses such records whatever this says (docs/stream-format.md).
	Compression string `yaml:"compression" doc:"zstd | none: compress aggregated records (readers take both kinds)"`
	// MaxDecompressedBytes bounds one zstd record once decompressed; a larger one (a
	// decompression bomb) is delivered as it is and becomes a dead letter. Zero means
	// DefaultMaxDecompressedBytes.
	MaxDecompressedBytes bytesize.Size `yaml:"max_decompressed_bytes" doc:"largest zstd record once decompressed; larger ones become dead letters (0: 10MiB)"`
	// Linger is the longest an event waits for others to share its record and request.
	Linger time.Duration `yaml:"linger" doc:"longest wait for more events to share a record and a request"`
	// BatchRecords is the most records per PutRecords request (at most 500).
	BatchRecords int `yaml:"batch_records" doc:"most records per PutRecords request (at most 500)"`
	// MaxRequestBytes bounds a PutRecords request: data plus partition keys of its
	// records (5 MiB default, at most 10 MiB).
	MaxRequestBytes bytesize.Size `yaml:"max_request_bytes" doc:"largest PutRecords request, data plus keys (at most 10MiB)"`
	// MaxRecordBytes bounds one record, data plus partition key (1 MiB default): an
	// aggregated record is closed before it would grow past it, and a single event
	// larger than it is refused.
	MaxRecordBytes bytesize.Size `yaml:"max_record_bytes" doc:"largest record, data plus key; larger events are refused"`
	// MaxInflightBytes bounds, per stream, the event bytes accepted by Put and not yet
	// durable; Put waits for room (backpressure). One Put larger than this is refused
	// (stream.ErrTooLarge), so keep it above the records one gateway request can make
	// (gateway.limits.max_decoded_bytes plus the envelopes); the gateway's own
	// max_inflight_bytes bounds all streams together.
	MaxInflightBytes bytesize.Size `yaml:"max_inflight_bytes" doc:"event bytes per stream accepted and not yet durable; Put waits for room"`
	// MaxInflightRequests bounds the PutRecords requests in flight per stream.
	MaxInflightRequests int `yaml:"max_inflight_requests" doc:"concurrent PutRecords requests per stream"`
	// RequestTimeout bounds one PutRecords or ListShards call.
	RequestTimeout time.Duration `yaml:"request_timeout" doc:"bound on one PutRecords or ListShards call"`
	// Retry says how failed entries and requests are retried.
	Retry Retry `yaml:"retry" doc:"retries of failed entries and requests"`
	// Shard holds the per-shard write limits the producer keeps each shard under.
	Shard ShardLimits `yaml:"shard" doc:"per-shard write limits the producer stays under"`
	// ShardRefresh is how often the shard map is reloaded; it is also reloaded as soon
	// as a put lands on a shard it did not predict (resharding).
	ShardRefresh time.Duration `yaml:"shard_refresh" doc:"how often the shard map is reloaded (also on resharding)"`
}

// StreamLocation says where one stream lives when that differs from Config's
// defaults. Empty fields take Config's.
type StreamLocation struct {
	Region      string      `yaml:"region" doc:"AWS region of the stream"`
	Endpoint    string      `yaml:"endpoint" doc:"Kinesis endpoint URL of the stream"`
	Credentials Credentials `yaml:"credentials" doc:"static credentials for the stream"`
}

// Credentials are static AWS credentials. Both keys empty means the AWS default chain.
type Credentials = awsclient.Credentials

// Secret is a credential that never prints (see internal/secret).
type Secret = secret.Secret

// Retry bounds the retries of failed entries and requests. An entry's retry budget is
// spent when it has been tried MaxAttempts times or Timeout has passed since its first
// try; Put then fails. Waits are capped exponential backoff with full jitter: a random
// duration up to min(MaxDelay, BaseDelay * 2^(attempt-1)).
type Retry struct {
	MaxAttempts int           `yaml:"max_attempts" doc:"most tries of one entry, the first included"`
	BaseDelay   time.Duration `yaml:"base_delay" doc:"backoff cap of the first retry; doubles per retry"`
	MaxDelay    time.Duration `yaml:"max_delay" doc:"largest backoff cap"`
	Timeout     time.Duration `yaml:"timeout" doc:"longest an entry is retried after its first try"`
}

// ShardLimits are the write limits of one shard. The producer keeps every shard under
// them with a token bucket that holds Burst worth of the limits and refills at the rest
// (limit * (1s - Burst) / 1s), so that no one-second window carries more than the
// limits: throttling is avoided rather than retried. A shard uses at most 1s - Burst of
// its limits (95% with the default 50ms).
//
// A shard has one PutRecords in flight at a time (to keep its records in order), so
// Burst should exceed the PutRecords latency: a bucket that fills while its shard waits
// for an answer stops refilling. Several producers writing one stream share its shards:
// divide the limits among them.
type ShardLimits struct {
	BytesPerSecond   bytesize.Size `yaml:"bytes_per_second" doc:"bytes per second written to one shard (Kinesis: 1MiB)"`
	RecordsPerSecond int           `yaml:"records_per_second" doc:"records per second written to one shard (Kinesis: 1000)"`
	Burst            time.Duration `yaml:"burst" doc:"share of each second that may be sent at once; the rest is paced"`
}

// DefaultConfig returns the producer defaults: aggregation on, the Kinesis service
// limits, and AWS's region, endpoint and credentials from the default chain.
func DefaultConfig() Config {
	return Config{
		Streams:             map[string]StreamLocation{},
		Sources:             map[string]Source{},
		Aggregation:         true,
		Compression:         CompressionZstd,
		Linger:              50 * time.Millisecond,
		BatchRecords:        MaxBatchRecords,
		MaxRequestBytes:     5 * bytesize.MiB,
		MaxRecordBytes:      1 * bytesize.MiB,
		MaxInflightBytes:    256 * bytesize.MiB,
		MaxInflightRequests: 8,
		RequestTimeout:      15 * time.Second,
		Retry: Retry{
			MaxAttempts: 10,
			BaseDelay:   100 * time.Millisecond,
			MaxDelay:    2 * time.Second,
			Timeout:     30 * time.Second,
		},
		Shard: ShardLimits{
			BytesPerSecond:   1 * bytesize.MiB,
			RecordsPerSecond: 1000,
			Burst:            50 * time.Millisecond,
		},
		ShardRefresh: time.Minute,
	}
}

// Validate reports every problem of c at once, each with its path in
// the section (such as "max_bytes: ..."); the configuration adds the section's path.
func (c Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	checkLocation := func(path, endpoint string, creds Credentials) {
		if endpoint != "" {
			u, err := url.Parse(endpoint)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad(path+"endpoint", "want an http:// or https:// URL, not %q", secret.RedactURL(endpoint))
			}
		}
		if (creds.AccessKeyID == "") != (creds.SecretAccessKey == "") {
			bad(path+"credentials", "access_key_id and secret_access_key must be set together")
		}
		if creds.SessionToken != "" && creds.AccessKeyID == "" {
			bad(path+"credentials.session_token", "needs access_key_id and secret_access_key")
		}
	}
	checkLocation("", c.Endpoint, c.Credentials)
	for _, name := range slices.Sorted(maps.Keys(c.Streams)) {
		if !stream.ValidName(name) {
			bad("streams."+name, "invalid stream name: use 1-128 of A-Z a-z 0-9 _ - .")
		}
		loc := c.Streams[name]
		checkLocation("streams."+name+".", loc.Endpoint, loc.Credentials)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Sources)) {
		if !stream.ValidName(name) {
			bad("sources."+name, "invalid stream name: use 1-128 of A-Z a-z 0-9 _ - .")
		}
		c.Sources[name].validate("sources."+name+".", bad)
	}

	if c.Compression != CompressionZstd && c.Compression != CompressionNone {
		bad("compression", "want zstd or none, not %q", c.Compression)
	}
	if c.MaxDecompressedBytes < 0 {
		bad("max_decompressed_bytes", "must not be negative, not %s", c.MaxDecompressedBytes)
	}
	if c.Linger < 0 {
		bad("linger", "must not be negative")
	}
	if c.BatchRecords < 1 || c.BatchRecords > MaxBatchRecords {
		bad("batch_records", "must be 1 to %d, not %d", MaxBatchRecords, c.BatchRecords)
	}
	if c.MaxRequestBytes < 1 || c.MaxRequestBytes > MaxRequestBytesLimit {
		bad("max_request_bytes", "must be 1B to %s, not %s", MaxRequestBytesLimit, c.MaxRequestBytes)
	}
	if c.MaxRecordBytes < 1 {
		bad("max_record_bytes", "must be positive, not %s", c.MaxRecordBytes)
	} else if c.MaxRecordBytes > c.MaxRequestBytes {
		bad("max_record_bytes", "%s is more than max_request_bytes %s", c.MaxRecordBytes, c.MaxRequestBytes)
	}
	if c.MaxInflightBytes < c.MaxRecordBytes {
		bad("max_inflight_bytes", "%s is less than max_record_bytes %s: a record could never be in flight", c.MaxInflightBytes, c.MaxRecordBytes)
	}
	if c.MaxInflightRequests < 1 {
		bad("max_inflight_requests", "must be positive, not %d", c.MaxInflightRequests)
	}
	if c.RequestTimeout <= 0 {
		bad("request_timeout", "must be positive")
	}
	r := c.Retry
	if r.MaxAttempts < 1 {
		bad("retry.max_attempts", "must be at least 1 (the first try), not %d", r.MaxAttempts)
	}
	if r.BaseDelay <= 0 {
		bad("retry.base_delay", "must be positive")
	}
	if r.MaxDelay < r.BaseDelay {
		bad("retry.max_delay", "%s is less than base_delay %s", r.MaxDelay, r.BaseDelay)
	}
	if r.Timeout <= 0 {
		bad("retry.timeout", "must be positive")
	}
	s := c.Shard
	if s.BytesPerSecond < 1 {
		bad("shard.bytes_per_second", "must be positive, not %s", s.BytesPerSecond)
	}
	if s.RecordsPerSecond < 1 {
		bad("shard.records_per_second", "must be positive, not %d", s.RecordsPerSecond)
	}
	if s.Burst <= 0 || s.Burst > 500*time.Millisecond {
		bad("shard.burst", "must be more than 0 and at most 500ms, not %s", s.Burst)
	}
	if c.ShardRefresh < time.Second {
		bad("shard_refresh", "must be at least 1s, not %s", c.ShardRefresh)
	}
	return errors.Join(errs...)
}

// location returns where a stream lives.
func (c Config) location(streamName string) StreamLocation {
	loc := StreamLocation{Region: c.Region, Endpoint: c.Endpoint, Credentials: c.Credentials}
	if o, ok := c.Streams[streamName]; ok {
		if o.Region != "" {
			loc.Region = o.Region
		}
		if o.Endpoint != "" {
			loc.Endpoint = o.Endpoint
		}
		if !o.Credentials.IsZero() {
			loc.Credentials = o.Credentials
		}
	}
	return loc
}

// ValidStreamName reports whether s follows Kinesis's stream name rule: 1 to 128 of
// A-Z a-z 0-9 _ - and '.'.
func ValidStreamName(s string) bool { return stream.ValidName(s) }
