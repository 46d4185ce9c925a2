package archive

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sluice-siem/sluice/internal/awsclient"
	"github.com/sluice-siem/sluice/internal/bytesize"
	"github.com/sluice-siem/sluice/stream"
)

// What an archived line holds (Config.Content).
const (
	// ContentRaw is the event as the gateway received it: the envelope's event, as
	// shipped, one JSON object per line.
	ContentRaw = "raw"
	// ContentDocument is the transformed document, as the search sink indexes it.
	ContentDocument = "document"
	// ContentBoth is one object per event: {"position","id","raw","document"}.
	ContentBoth = "both"
)

// Formats of the objects (Config.Format).
const (
	// FormatNDJSON is one JSON line per event, compressed as Config.Compression says.
	FormatNDJSON = "ndjson"
	// FormatParquet is the documents in Parquet columns: the shared ECS fields, the
	// log type's own, and the whole document as JSON (content document only).
	FormatParquet = "parquet"
)

// Compressions of the objects (Config.Compression).
const (
	CompressionZstd = "zstd"
	CompressionGzip = "gzip"
)

// minPartSize is S3's smallest multipart part (but the last).
const minPartSize = 5 * bytesize.MiB

// Config configures an Archive; it is the sink.archive section of the configuration.
// The archive is on when Bucket is set.
type Config struct {
	Bucket string `yaml:"bucket" doc:"S3 bucket of the archive; empty: no archive"`
	// Prefix starts every key; empty: keys start with type=.
	Prefix string `yaml:"prefix" doc:"first part of every object key (no leading or trailing /)"`
	Region string `yaml:"region" doc:"AWS region of the bucket; empty: from the AWS default chain"`
	// Endpoint overrides the S3 endpoint URL (S3-compatible servers, VPC endpoints).
	Endpoint string `yaml:"endpoint" doc:"S3 endpoint URL (compatible servers, VPC endpoints); empty: AWS"`
	// PathStyle addresses the bucket in the path (endpoint/bucket/key) instead of the
	// host name, as most S3-compatible servers need.
	PathStyle   bool                  `yaml:"path_style" doc:"path-style addressing (endpoint/bucket/key), for S3-compatible servers"`
	Credentials awsclient.Credentials `yaml:"credentials" doc:"static credentials; empty: the AWS default chain (task role, environment, ...)"`

	Content     string   `yaml:"content" doc:"raw (the event as shipped) | document (as indexed) | both"`
	Format      string   `yaml:"format" doc:"ndjson | parquet (documents in columns, for Athena; needs content: document)"`
	Compression string   `yaml:"compression" doc:"zstd | gzip: of NDJSON objects, or of Parquet's column chunks"`
	Types       []string `yaml:"types" doc:"log types to archive; empty: every type (dead letters never)"`

	Parquet ParquetConfig `yaml:"parquet" doc:"the columns of Parquet objects"`

	MaxObjectBytes bytesize.Size `yaml:"max_object_bytes" doc:"an object ends once it holds this many uncompressed bytes"`
	// MaxObjectRecords ends an object once the batches it holds count this many
	// records: the consumer reads no further than stream.consumer.max_unacked_records
	// records a shard has not acknowledged, and an object's batches are acknowledged
	// only when it is uploaded, so it must end before that bound.
	MaxObjectRecords int `yaml:"max_object_records" doc:"an object ends once its batches hold this many records; 0: half of stream.consumer.max_unacked_records"`
	// MaxObjectRecordBytes ends an object once the stream records its batches were
	// made from hold this many bytes, for the same reason against the consumer's
	// stream.consumer.max_unacked_bytes.
	MaxObjectRecordBytes bytesize.Size `yaml:"max_object_record_bytes" doc:"an object ends once its batches' stream records hold this many bytes; 0: half of stream.consumer.max_unacked_bytes"`
	MaxAge               time.Duration `yaml:"max_age" doc:"an object ends this long after its first event (and at the shard's end, an hour's end, a hand-off)"`
	// PartSize is the multipart part size; objects smaller than it are put at once.
	PartSize bytesize.Size `yaml:"part_size" doc:"multipart part size (at least 5MiB); smaller objects are put in one request"`
	// MaxBufferedBytes bounds the compressed bytes held for every shard together,
	// open and awaiting upload; beyond it writes wait (backpressure) and open objects
	// end early.
	MaxBufferedBytes bytesize.Size `yaml:"max_buffered_bytes" doc:"most compressed bytes held in memory for all shards; beyond it writes wait"`
	UploadTimeout    time.Duration `yaml:"upload_timeout" doc:"longest wait for one S3 request before it is retried"`
	RetryBase        time.Duration `yaml:"retry_base" doc:"first wait before an upload is retried (jitter added)"`
	RetryMax         time.Duration `yaml:"retry_max" doc:"cap of the retry wait; uploads are retried until they succeed or the shard stops"`
}

// DefaultConfig returns the defaults: raw events, zstd, objects of 64 MiB uncompressed
// or 5 minutes, 8 MiB parts, 256 MiB held in memory.
func DefaultConfig() Config {
	return Config{
		Prefix:           "sluice",
		Content:          ContentRaw,
		Format:           FormatNDJSON,
		Compression:      CompressionZstd,
		Parquet:          ParquetConfig{Columns: map[string][]string{}, RowGroupBytes: 8 * bytesize.MiB},
		Types:            []string{},
		MaxObjectBytes:   64 * bytesize.MiB,
		MaxAge:           5 * time.Minute,
		PartSize:         8 * bytesize.MiB,
		MaxBufferedBytes: 256 * bytesize.MiB,
		UploadTimeout:    2 * time.Minute,
		RetryBase:        500 * time.Millisecond,
		RetryMax:         30 * time.Second,
	}
}

// Enabled reports whether the archive is on: a bucket is set.
func (c Config) Enabled() bool { return c.Bucket != "" }

// Validate reports every problem of the configuration at once. An archive without a
// bucket is off, and its other settings are not checked.
func (c Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if strings.ContainsAny(c.Bucket, "/ ") {
		bad("bucket: %q is not a bucket name", c.Bucket)
	}
	if strings.HasPrefix(c.Prefix, "/") || strings.HasSuffix(c.Prefix, "/") {
		bad("prefix: %q must not begin or end with /", c.Prefix)
	}
	if c.Endpoint != "" {
		if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("endpoint: %q is not an http(s) URL", c.Endpoint)
		}
	}
	switch c.Content {
	case ContentRaw, ContentDocument, ContentBoth:
	default:
		bad("content: must be raw, document or both, not %q", c.Content)
	}
	switch c.Compression {
	case CompressionZstd, CompressionGzip:
	default:
		bad("compression: must be zstd or gzip, not %q", c.Compression)
	}
	switch c.Format {
	case FormatNDJSON:
	case FormatParquet:
		if c.Content != ContentDocument {
			bad("format: parquet holds documents in columns: set content: document (not %s); raw events need ndjson", c.Content)
		}
		if err := c.Parquet.validate(); err != nil {
			errs = append(errs, err)
		}
	default:
		bad("format: must be ndjson or parquet, not %q", c.Format)
	}
	for i, t := range c.Types {
		if !stream.ValidType(t) {
			bad("types[%d]: %q is not a log type", i, t)
		} else if slices.Contains(c.Types[:i], t) {
			bad("types[%d]: %q is listed twice", i, t)
		}
	}
	if c.MaxObjectBytes < bytesize.KiB {
		bad("max_object_bytes: %s, want at least 1KiB", c.MaxObjectBytes)
	}
	if c.MaxObjectRecords < 0 {
		bad("max_object_records: %d, want 0 (half the consumer's bound) or more", c.MaxObjectRecords)
	}
	if c.MaxObjectRecordBytes < 0 {
		bad("max_object_record_bytes: %s, want 0 (half the consumer's bound) or more", c.MaxObjectRecordBytes)
	}
	if c.MaxAge < time.Second || c.MaxAge > time.Hour {
		// At most an hour: a failover looks for the object a shard's next event may
		// be in under the partitions of that event's hour and the one before.
		bad("max_age: %s, want 1s to 1h", c.MaxAge)
	}
	if c.PartSize < minPartSize {
		bad("part_size: %s, want at least %s (S3's smallest part)", c.PartSize, minPartSize)
	}
	if c.MaxBufferedBytes < c.PartSize {
		bad("max_buffered_bytes: %s, want at least part_size %s", c.MaxBufferedBytes, c.PartSize)
	}
	if c.UploadTimeout <= 0 {
		bad("upload_timeout: must be positive")
	}
	if c.RetryBase <= 0 || c.RetryMax < c.RetryBase {
		bad("retry_base, retry_max: want 0 < retry_base <= retry_max, not %s and %s", c.RetryBase, c.RetryMax)
	}
	return errors.Join(errs...)
}

// archives reports whether documents of log type typ go to the archive.
func (c Config) archives(typ string) bool {
	if strings.HasPrefix(typ, "_") { // dead letters: the dead-letter destination has them
		return false
	}
	return len(c.Types) == 0 || slices.Contains(c.Types, typ)
}
