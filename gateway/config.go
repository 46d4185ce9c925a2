package gateway

import (
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/sluice-siem/sluice/internal/bytesize"
	"github.com/sluice-siem/sluice/internal/jsonx"
	"github.com/sluice-siem/sluice/stream"
)

// Config is the gateway core's configuration: routing, limits and API keys. It is plain
// data; Validate reports every problem at once and DefaultConfig holds the defaults.
type Config struct {
	Routing Routing `yaml:"routing"`
	Limits  Limits  `yaml:"limits"`
	Auth    Auth    `yaml:"auth"`
}

// Routing says which stream each log type goes to and how records are partitioned.
type Routing struct {
	// Streams maps a log type to the name of its stream.
	Streams map[string]string `yaml:"streams" doc:"log type -> stream name"`
	// DefaultStream receives log types not in Streams when UnknownTypes is "default".
	DefaultStream string `yaml:"default_stream" doc:"stream for log types not listed in streams"`
	// UnknownTypes is "default" (send to DefaultStream) or "reject".
	UnknownTypes string `yaml:"unknown_types" doc:"default | reject: what to do with a log type not listed in streams"`
	// TypeFields are the event fields, tried in order, that name the log type when the
	// request does not (dotted paths into the event object).
	TypeFields []string `yaml:"type_fields" doc:"event fields, tried in order, that name an event's log type"`
	// DefaultType is the log type of an event that names none; empty rejects such events.
	DefaultType string `yaml:"default_type" doc:"log type of events that name none; empty rejects them"`
	// PartitionKeyField is the event field whose value is the partition key; empty, or
	// absent from an event, means a random key (even spread, no per-source order).
	PartitionKeyField string `yaml:"partition_key_field" doc:"event field used as the partition key; empty: random"`
	// MaxTypes bounds the distinct log types one gateway process accepts, the types of
	// Streams and DefaultType included, since every type becomes a pipeline lookup, a
	// directory of the file sink and an index downstream. The set only grows while the
	// process runs.
	MaxTypes int `yaml:"max_types" doc:"most distinct log types a gateway process accepts (those in streams and default_type count); see over_max_types"`
	// OverMaxTypes is what happens to an event of a new type once MaxTypes are known:
	// "reject" refuses it, "default_type" sends it as DefaultType.
	OverMaxTypes string `yaml:"over_max_types" doc:"reject | default_type: an event of a new log type beyond max_types is refused, or sent as default_type"`
	// ID says where an event's identity comes from (see IDAuto and the others), for
	// log types not in IDs; the identity makes a resent event one document.
	ID string `yaml:"id" doc:"auto | stream_position | content | field:<path>: where an event's identity comes from, so that a resent event is indexed once (auto: the source's id, else the stream position)"`
	// IDs overrides ID per log type.
	IDs map[string]string `yaml:"ids" doc:"log type -> id mode, overriding id"`
}

// Limits bound what one request may cost. Every limit is enforced before the work it
// protects, with an error that names it.
type Limits struct {
	// MaxBodyBytes bounds a request body as sent (compressed or not).
	MaxBodyBytes bytesize.Size `yaml:"max_body_bytes" doc:"largest request body on the wire"`
	// MaxDecodedBytes bounds a request body after decompression (gzip bombs stop here).
	MaxDecodedBytes bytesize.Size `yaml:"max_decoded_bytes" doc:"largest request body after decompression"`
	// MaxEventBytes bounds one event document; larger events are rejected one by one.
	MaxEventBytes bytesize.Size `yaml:"max_event_bytes" doc:"largest single event"`
	// MaxBatchEvents bounds the events of one request.
	MaxBatchEvents int `yaml:"max_batch_events" doc:"most events in one request"`
	// MaxInflightBytes bounds the event bytes that all requests together may have on the
	// way to the stream; a request that does not fit waits up to BackpressureWait.
	MaxInflightBytes bytesize.Size `yaml:"max_inflight_bytes" doc:"event bytes in flight to the stream, all requests together"`
	// BackpressureWait is how long a request waits for room (in flight, or in the
	// stream) before it is answered 429 / RESOURCE_EXHAUSTED.
	BackpressureWait time.Duration `yaml:"backpressure_wait" doc:"how long a request waits for room before 429"`
	// RetryAfter is the delay suggested to clients turned away by backpressure.
	RetryAfter time.Duration `yaml:"retry_after" doc:"Retry-After suggested under backpressure"`
	// MaxBufferedBytes bounds the request body bytes that all HTTP requests together may
	// hold while they are received and decompressed; a request that cannot get room
	// within BackpressureWait is answered 429. It is what makes N concurrent
	// decompression bombs cost at most this much, not N times max_decoded_bytes. A body
	// counts every buffer it grew through, about twice its size, so this must be at
	// least twice MaxDecodedBytes. (gRPC messages are bounded per connection instead, by
	// grpc.max_concurrent_streams times max_body_bytes.)
	MaxBufferedBytes bytesize.Size `yaml:"max_buffered_bytes" doc:"request body bytes all HTTP requests together may hold while being received and decompressed; more waits, then 429"`
	// MaxDepth bounds how deeply an event's objects and arrays may nest. It is not
	// set here but from the top-level limits.max_depth, which the transform tier
	// shares; 0 means jsonx.DefaultMaxDepth.
	MaxDepth int `yaml:"-"`
}

// Depth returns the nesting limit of events: MaxDepth, or jsonx.DefaultMaxDepth.
func (l Limits) Depth() int {
	if l.MaxDepth <= 0 {
		return jsonx.DefaultMaxDepth
	}
	return l.MaxDepth
}

// RetryAfterSeconds is the Retry-After value, in whole seconds, suggested to clients
// turned away by backpressure.
func (l Limits) RetryAfterSeconds() int { return int(math.Ceil(l.RetryAfter.Seconds())) }

// Auth configures API keys.
type Auth struct {
	// Disabled turns authentication off. `sluice gateway` refuses to start without keys
	// unless this is set; `sluice dev` runs without keys (and says so) when none are set.
	Disabled bool `yaml:"disabled" doc:"accept requests without an API key"`
	// Keys are the accepted API keys.
	Keys []APIKey `yaml:"keys" doc:"accepted API keys"`
}

// APIKey is one accepted key, stored as the SHA-256 of the key so that the config file
// holds no secret. Make one with `sluice hash-key`.
type APIKey struct {
	// Name identifies the key in logs and metrics.
	Name string `yaml:"name"`
	// SHA256 is the hex SHA-256 of the key.
	SHA256 string `yaml:"sha256"`
	// Types are the log types the key may send; "*" allows all.
	Types []string `yaml:"types"`
}

// DefaultConfig returns the gateway defaults: the log types of the sample pipelines
// routed to their own streams, everything else to sluice-default.
func DefaultConfig() Config {
	return Config{
		Routing: Routing{
			Streams: map[string]string{
				"firewall": "sluice-firewall",
				"ids":      "sluice-ids",
				"waf":      "sluice-waf",
			},
			DefaultStream: "sluice-default",
			UnknownTypes:  "default",
			// input.type comes last: Beats set it on every event ("filestream",
			// "syslog", ...), so lumberjack events without a log type still get one.
			TypeFields:   []string{"fields.log_type", "event.dataset", "input.type"},
			MaxTypes:     1000,
			OverMaxTypes: "reject",
			ID:           IDAuto,
			IDs:          map[string]string{},
		},
		Limits: Limits{
			MaxBodyBytes:     10 * bytesize.MiB,
			MaxDecodedBytes:  64 * bytesize.MiB,
			MaxEventBytes:    1000 * 1000,
			MaxBatchEvents:   10000,
			MaxInflightBytes: 256 * bytesize.MiB,
			BackpressureWait: 2 * time.Second,
			RetryAfter:       time.Second,
			MaxBufferedBytes: 128 * bytesize.MiB,
		},
	}
}

// Validate reports every problem of c at once, each with its path in
// the section (such as "max_bytes: ..."); the configuration adds the section's path.
func (c Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	r := c.Routing
	for _, typ := range slices.Sorted(maps.Keys(r.Streams)) {
		if !stream.ValidType(typ) {
			bad("routing.streams."+typ, "invalid log type name: use 1-64 of a-z 0-9 _ - . starting with a letter or digit")
		}
		if !stream.ValidName(r.Streams[typ]) {
			bad("routing.streams."+typ, "invalid stream name %q: use 1-128 of A-Z a-z 0-9 _ - .", r.Streams[typ])
		}
	}
	switch r.UnknownTypes {
	case "default":
		if !stream.ValidName(r.DefaultStream) {
			bad("routing.default_stream", "invalid stream name %q (required when unknown_types is default)", r.DefaultStream)
		}
	case "reject":
		if r.DefaultStream != "" && !stream.ValidName(r.DefaultStream) {
			bad("routing.default_stream", "invalid stream name %q", r.DefaultStream)
		}
	default:
		bad("routing.unknown_types", "must be default or reject, not %q", r.UnknownTypes)
	}
	for i, f := range r.TypeFields {
		if strings.TrimSpace(f) == "" {
			bad(fmt.Sprintf("routing.type_fields[%d]", i), "empty field path")
		}
	}
	if r.DefaultType != "" && !stream.ValidType(r.DefaultType) {
		bad("routing.default_type", "invalid log type name %q", r.DefaultType)
	}
	if known := len(r.Streams) + 1; r.MaxTypes < known {
		bad("routing.max_types", "%d is less than the %d log types of streams and default_type: want at least %d", r.MaxTypes, known-1, known)
	}
	switch r.OverMaxTypes {
	case "reject":
	case "default_type":
		if r.DefaultType == "" {
			bad("routing.over_max_types", "default_type needs routing.default_type")
		}
	default:
		bad("routing.over_max_types", "must be reject or default_type, not %q", r.OverMaxTypes)
	}
	if _, err := parseIDMode(r.ID); err != nil {
		bad("routing.id", "%v", err)
	}
	for _, typ := range slices.Sorted(maps.Keys(r.IDs)) {
		if !stream.ValidType(typ) {
			bad("routing.ids."+typ, "invalid log type name: use 1-64 of a-z 0-9 _ - . starting with a letter or digit")
		}
		if _, err := parseIDMode(r.IDs[typ]); err != nil {
			bad("routing.ids."+typ, "%v", err)
		}
	}

	l := c.Limits
	positive := func(path string, v int64) {
		if v <= 0 {
			bad(path, "must be positive, not %d", v)
		}
	}
	positive("limits.max_body_bytes", int64(l.MaxBodyBytes))
	positive("limits.max_decoded_bytes", int64(l.MaxDecodedBytes))
	positive("limits.max_event_bytes", int64(l.MaxEventBytes))
	positive("limits.max_batch_events", int64(l.MaxBatchEvents))
	positive("limits.max_inflight_bytes", int64(l.MaxInflightBytes))
	positive("limits.max_buffered_bytes", int64(l.MaxBufferedBytes))
	if l.MaxBufferedBytes > 0 && l.MaxBufferedBytes < 2*l.MaxDecodedBytes {
		bad("limits.max_buffered_bytes", "%s is less than twice max_decoded_bytes %s: a full request, read into buffers that double as it grows, could never be read", l.MaxBufferedBytes, l.MaxDecodedBytes)
	}
	if l.MaxDepth < 0 || l.MaxDepth > jsonx.MaxDepth {
		bad("limits.max_depth", "must be 1 to %d, not %d", jsonx.MaxDepth, l.MaxDepth)
	}
	if l.MaxDecodedBytes > 0 && l.MaxDecodedBytes < l.MaxBodyBytes {
		bad("limits.max_decoded_bytes", "%s is less than max_body_bytes %s", l.MaxDecodedBytes, l.MaxBodyBytes)
	}
	if l.MaxInflightBytes > 0 && l.MaxInflightBytes < l.MaxDecodedBytes {
		bad("limits.max_inflight_bytes", "%s is less than max_decoded_bytes %s: a full request could never fit", l.MaxInflightBytes, l.MaxDecodedBytes)
	}
	if l.BackpressureWait < 0 {
		bad("limits.backpressure_wait", "must not be negative")
	}
	if l.RetryAfter < time.Second {
		bad("limits.retry_after", "must be at least 1s (Retry-After counts whole seconds)")
	}

	names := map[string]bool{}
	for i, k := range c.Auth.Keys {
		path := fmt.Sprintf("auth.keys[%d]", i)
		if k.Name == "" {
			bad(path+".name", "required")
		} else if names[k.Name] {
			bad(path+".name", "duplicate key name %q", k.Name)
		}
		names[k.Name] = true
		if b, err := hex.DecodeString(k.SHA256); err != nil || len(b) != 32 {
			bad(path+".sha256", "must be 64 hex digits (the SHA-256 of the key; see `sluice hash-key`)")
		}
		if len(k.Types) == 0 {
			bad(path+".types", "required: the log types this key may send, or [\"*\"]")
		}
		for j, t := range k.Types {
			if t != "*" && !stream.ValidType(t) {
				bad(fmt.Sprintf("%s.types[%d]", path, j), "invalid log type name %q", t)
			}
		}
	}
	if c.Auth.Disabled && len(c.Auth.Keys) > 0 {
		bad("auth.disabled", "true while auth.keys are set: remove the keys or enable auth")
	}
	return errors.Join(errs...)
}

// StreamNames returns every stream the configuration can route to, sorted.
func (c Config) StreamNames() []string {
	set := map[string]bool{}
	for _, s := range c.Routing.Streams {
		set[s] = true
	}
	if c.Routing.DefaultStream != "" {
		set[c.Routing.DefaultStream] = true
	}
	return slices.Sorted(maps.Keys(set))
}
