// Package config is sluice's configuration: one YAML file (`-c`), every field overridable
// by an environment variable (SLUICE_ and the field's path in upper case, such as
// SLUICE_HTTP_ADDR or SLUICE_GATEWAY_LIMITS_MAX_BODY_BYTES), then by command-line flags.
// The defaults live in Default, and `sluice defaults` prints them with each field's
// meaning and variable. Validate reports every problem at once, each with its path.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/gateway/grpcrecv"
	"github.com/sluice-siem/sluice/gateway/httprecv"
	"github.com/sluice-siem/sluice/gateway/lumberjack"
	"github.com/sluice-siem/sluice/gateway/otlprecv"
	"github.com/sluice-siem/sluice/gateway/relp"
	"github.com/sluice-siem/sluice/gateway/syslog"
	"github.com/sluice-siem/sluice/internal/console"
	"github.com/sluice-siem/sluice/internal/jsonx"
	"github.com/sluice-siem/sluice/internal/servertls"
	"github.com/sluice-siem/sluice/internal/tracing"
	"github.com/sluice-siem/sluice/sink/archive"
	"github.com/sluice-siem/sluice/sink/deadletter"
	"github.com/sluice-siem/sluice/sink/file"
	"github.com/sluice-siem/sluice/sink/search"
	"github.com/sluice-siem/sluice/stream/embedded/durable"
	"github.com/sluice-siem/sluice/stream/kinesis"
	"github.com/sluice-siem/sluice/stream/kinesis/leases"
	"github.com/sluice-siem/sluice/transform/consume"
	"github.com/sluice-siem/sluice/transform/enrich"
	"github.com/sluice-siem/sluice/transform/pipeline"
)

// Role is how the process runs.
type Role string

// The roles of the one binary.
const (
	// RoleDev runs both tiers in one process on the embedded stream and the file sink.
	RoleDev Role = "dev"
	// RoleGateway runs the front tier.
	RoleGateway Role = "gateway"
	// RoleTransform runs the back tier.
	RoleTransform Role = "transform"
)

// Config is the whole configuration of a sluice process.
type Config struct {
	HTTP       httprecv.Config   `yaml:"http" doc:"HTTP receiver: /v1/events, /v1/push, /openapi.json, /healthz, /readyz, /metrics"`
	GRPC       grpcrecv.Config   `yaml:"grpc" doc:"gRPC receiver: sluice.v1.IngestService, health, reflection"`
	OTLP       otlprecv.Config   `yaml:"otlp" doc:"OTLP logs intake (LogsService/Export on the gRPC port, POST /v1/logs on the HTTP port): how a record's log type is found"`
	Lumberjack lumberjack.Config `yaml:"lumberjack" doc:"Beats/lumberjack v2 receiver (Filebeat output.logstash); authenticated by mutual TLS, not API keys"`
	Syslog     syslog.Config     `yaml:"syslog" doc:"syslog receivers (off unless an address is set): TCP and TLS (RFC 6587, 5425), UDP (RFC 5426); plain syslog has no acknowledgement"`
	RELP       relp.Config       `yaml:"relp" doc:"RELP receiver (rsyslog omrelp; off unless addr is set): each message is answered once durable in the stream"`
	Limits     Limits            `yaml:"limits" doc:"bounds both tiers apply to every event"`
	Gateway    gateway.Config    `yaml:"gateway" doc:"routing, limits and API keys of the front tier"`
	Bulk       httprecv.Bulk     `yaml:"bulk" doc:"Elasticsearch-compatible _bulk API on the HTTP port, for shippers with an Elasticsearch output"`
	Stream     Stream            `yaml:"stream" doc:"the stream between the tiers"`
	Sink       Sink              `yaml:"sink" doc:"where the back tier writes events"`
	Shutdown   Shutdown          `yaml:"shutdown" doc:"graceful shutdown on SIGTERM or SIGINT"`
	Log        Log               `yaml:"log" doc:"logging"`
	Tracing    tracing.Config    `yaml:"tracing" doc:"OpenTelemetry traces of batches across both tiers, exported over OTLP (OTEL_EXPORTER_OTLP_* variables)"`
	UI         console.Config    `yaml:"ui" doc:"the console at /ui on the HTTP port: flow, failures, tap, pipeline playground (sluice top and sluice tap read it too)"`

	// The transform pipelines, by log type: the samples (if SamplePipelines), then the
	// files of PipelinesDir, then Pipelines, each replacing the ones before it for the
	// log types it has. A log type without a pipeline passes through as shipped.
	Pipelines       map[string]pipeline.Config `yaml:"pipelines" doc:"log type -> its transform pipeline: description, keep_original, processors, on_failure (see sluice test)"`
	PipelinesDir    string                     `yaml:"pipelines_dir" doc:"directory of pipeline files: NAME.yaml is the pipeline of log type NAME, NAME.test.yaml its test cases"`
	SamplePipelines bool                       `yaml:"sample_pipelines" doc:"load the shipped sample pipelines firewall, ids and waf (pipelines_dir and pipelines replace them by log type); the firewall sample is the enriched one when its lookups city, asn, zones and feeds exist (see sample_lookups), the plain one otherwise"`
	// SampleLookups gives the sample pipelines the sample lookup data built into the
	// binary. It is for trying sluice (the dev default), never for real traffic: the
	// sample zones table names private networks such as 10.1.0.0/16, so it would label
	// real addresses.
	SampleLookups bool `yaml:"sample_lookups" doc:"with sample_pipelines, add the shipped sample lookups city, asn, zones and feeds (GeoIP of made-up data for documentation networks, a zones table of private networks, a threat-intel list) where lookups lacks them; for trying sluice only (the dev default)"`
	// Lookups are the enrichment resources pipelines use: MaxMind databases, CIDR
	// tables, threat-intel sets, and Redis and PostgreSQL lookup sources.
	Lookups enrich.ResourcesConfig `yaml:"lookups" doc:"enrichment resources: mmdb files, CIDR tables, threat-intel sets, Redis and PostgreSQL sources, cache"`
}

// Limits are the bounds both tiers apply to every event, so that an event the gateway
// accepts is one the transform tier can read. They stay in config, not in a component,
// because no one component owns them: cmd/sluice hands MaxDepth to the gateway
// (gateway.Limits.MaxDepth) and to the transform tier's decoders and json processor
// (pipeline.Deps.MaxDepth), which must agree on it.
type Limits struct {
	// MaxDepth bounds how deeply an event's objects and arrays nest: the gateway
	// refuses deeper events, and the transform tier reads no deeper (its decoders and
	// the json processor recurse at most this far).
	MaxDepth int `yaml:"max_depth" doc:"deepest nesting of objects and arrays in an event (the event object is level 1); the gateway refuses deeper events"`
}

// Validate reports the problem of the limits, with its path in the section.
func (l Limits) Validate() error {
	if l.MaxDepth < 1 || l.MaxDepth > jsonx.MaxDepth {
		return fmt.Errorf("max_depth: must be 1 to %d, not %d", jsonx.MaxDepth, l.MaxDepth)
	}
	return nil
}

// TLS is a listener's TLS setup.
type TLS = servertls.Config

// Stream selects and sizes the stream.
type Stream struct {
	// Kind is embedded (in-process, for `sluice dev`) or kinesis; discard (gateway
	// only) drops every record and is a benchmark tool (stream/discard).
	Kind     string                 `yaml:"kind" doc:"embedded | kinesis | discard (benchmarks only: drops every event)"`
	Embedded durable.EmbeddedConfig `yaml:"embedded" doc:"the embedded stream of sluice dev: durable on local disk by default"`
	// Kinesis is the producer's configuration for Kinesis Data Streams.
	Kinesis kinesis.Config `yaml:"kinesis" doc:"Kinesis Data Streams: endpoint, batching, aggregation, retries, shard limits"`
	// Consumer is how `sluice transform` reads Kinesis: worker id, streams, periods and
	// bounds of leasing and reading (transform/consume).
	Consumer consume.Config `yaml:"consumer" doc:"how sluice transform reads Kinesis: worker id, streams, lease periods, read limits"`
	// Leases is where the consumer's shard leases and checkpoints live.
	Leases leases.StoreConfig `yaml:"leases" doc:"the lease table the transform workers share"`
}

// EmbeddedDir is the directory of the durable embedded stream: stream.embedded.dir,
// or _stream under sink.file.dir.
func (c Config) EmbeddedDir() string {
	if c.Stream.Embedded.Dir != "" {
		return c.Stream.Embedded.Dir
	}
	return filepath.Join(c.Sink.File.Dir, "_stream")
}

// MaxRecordBytes is the largest record the gateway puts into the stream: its largest
// event (gateway.limits.max_event_bytes) in its envelope.
func (c Config) MaxRecordBytes() int {
	return int(c.Gateway.Limits.MaxEventBytes) + 4096
}

// Sink selects where events go.
type Sink struct {
	// Kind is file or search; empty picks search when sink.search.addresses is set.
	// Otherwise empty means file for `sluice dev` and is refused by `sluice transform`,
	// which writes to local disk only when told to with kind file.
	Kind   string        `yaml:"kind" doc:"file or search; empty: search when sink.search.addresses is set, else file (sluice dev) or an error (sluice transform: set file explicitly to write to local disk)"`
	File   file.Config   `yaml:"file" doc:"NDJSON files, one directory per log type, one file per UTC day"`
	Search search.Config `yaml:"search" doc:"Elasticsearch or OpenSearch: addresses, credentials, index layout, bulk sizes, retries"`
	// Archive writes the original events to S3 beside the sink, when its bucket is set.
	Archive archive.Config `yaml:"archive" doc:"S3 data lake beside the sink: raw events in NDJSON+zstd objects per shard, keyed by stream position (on when bucket is set)"`
	// DeadLetters is where the search sink writes the documents the engine refuses
	// for good, and where `sluice replay` reads them from.
	DeadLetters deadletter.Config `yaml:"dead_letters" doc:"where documents the search engine refuses go, for sluice replay"`
}

// EffectiveKind is the sink the back tier writes to: Kind, or its default.
func (s Sink) EffectiveKind() string {
	if s.Kind != "" {
		return s.Kind
	}
	if len(s.Search.Addresses) > 0 {
		return "search"
	}
	return "file"
}

// UsesFiles reports whether the back tier writes to sink.file.dir: the file sink, or
// the search sink's dead letters in files.
func (s Sink) UsesFiles() bool {
	return s.EffectiveKind() == "file" || s.DeadLetters.Kind == "file"
}

// Shutdown bounds graceful shutdown.
type Shutdown struct {
	// Timeout bounds the whole shutdown: stop accepting, drain, flush.
	Timeout time.Duration `yaml:"timeout" doc:"deadline for stop accepting, drain and flush"`
	// DrainDelay keeps serving (with /readyz failing) this long before closing the
	// listeners, so a load balancer can stop sending first.
	DrainDelay time.Duration `yaml:"drain_delay" doc:"time between /readyz failing and the listeners closing"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level" doc:"debug | info | warn | error"`
	Format string `yaml:"format" doc:"json | text"`
}

// Default returns the defaults of a role. Every role listens on 127.0.0.1 only: a
// listener reachable from other hosts is a choice made where sluice is deployed (the
// files in deploy/ set 0.0.0.0).
func Default(role Role) Config {
	const host = "127.0.0.1"
	c := Config{
		HTTP:       httprecv.DefaultConfig(host),
		GRPC:       grpcrecv.DefaultConfig(host),
		OTLP:       otlprecv.DefaultConfig(),
		Tracing:    tracing.DefaultConfig(),
		Lumberjack: lumberjack.DefaultConfig(host),
		Syslog:     syslog.DefaultConfig(host),
		RELP:       relp.DefaultConfig(host),
		Limits:     Limits{MaxDepth: jsonx.DefaultMaxDepth},
		Gateway:    gateway.DefaultConfig(),
		Bulk:       httprecv.DefaultBulk(),
		Stream: Stream{
			Kind:     "kinesis",
			Embedded: durable.DefaultEmbeddedConfig(),
			Kinesis:  kinesis.DefaultConfig(),
			Consumer: consume.DefaultConfig(),
			Leases:   leases.DefaultStoreConfig(),
		},
		Sink:     Sink{File: file.DefaultConfig(), Search: search.DefaultConfig(), Archive: archive.DefaultConfig(), DeadLetters: deadletter.DefaultConfig()},
		Shutdown: Shutdown{Timeout: 30 * time.Second, DrainDelay: 0},
		Log:      Log{Level: "info", Format: "json"},
		UI:       console.DefaultConfig(),
	}
	// The syslog and RELP receivers are off until asked for (addresses in the file, or
	// --syslog-tcp, --syslog-udp, --syslog-tls, --relp): a UDP port or a second TCP port
	// listening by default would surprise.
	c.Syslog.TCP.Addr, c.Syslog.TLS.Addr, c.Syslog.UDP.Addr, c.RELP.Addr = "", "", "", ""
	c.Pipelines = map[string]pipeline.Config{}
	c.Lookups = enrich.DefaultResourcesConfig()
	if role == RoleDev {
		c.Stream.Kind = "embedded"
		c.Sink.DeadLetters.Kind = "file"
		c.Log.Format = "text"
		c.SamplePipelines = true
		c.SampleLookups = true
		c.UI.Enabled = true
	} else {
		c.Shutdown.DrainDelay = 5 * time.Second
	}
	return c
}

// Load builds the configuration of a role: its defaults, overlaid by the file at path
// (if any), overlaid by environment variables from env (os.LookupEnv when nil). It
// does not validate; call Validate. Every problem found while loading is reported.
func Load(role Role, path string, env func(string) (string, bool)) (Config, error) {
	c := Default(role)
	var errs []error
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("read config: %w", err)
		}
		if err := decodeYAML(data, &c); err != nil {
			// One problem per type error or unknown field, like Validate's.
			var te *yaml.TypeError
			if errors.As(err, &te) {
				for _, e := range te.Errors {
					errs = append(errs, fmt.Errorf("%s: %s", path, hintTypeError(e)))
				}
			} else {
				errs = append(errs, fmt.Errorf("%s: %w", path, err))
			}
		}
	}
	if env == nil {
		env = os.LookupEnv
	}
	errs = append(errs, applyEnv(&c, env)...)
	return c, errors.Join(errs...)
}

// hintTypeError adds how to write the value to a yaml.v3 type error where the fix is
// not obvious from it: a duration given as a bare number ("linger: 0" is
// "cannot unmarshal !!int `0` into time.Duration") needs a unit.
func hintTypeError(e string) string {
	if strings.Contains(e, "into time.Duration") {
		return e + " (a duration needs a unit: 0s, 250ms, 5s, 1m, 1h30m)"
	}
	return e
}

// Validate reports every problem of the configuration for the role, each with its path.
// Every section whose type has a Validate method checks itself (validateSections);
// this adds the checks that span sections or depend on the role.
func (c Config) Validate(role Role) error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	errs = append(errs, validateSections(reflect.ValueOf(c), "", c.unused(role))...)
	if c.HTTP.Addr == "" && c.GRPC.Addr == "" && c.Lumberjack.Addr == "" && !c.Syslog.Enabled() && c.RELP.Addr == "" && role != RoleTransform {
		bad("http.addr", "http, grpc, lumberjack, syslog and relp are all disabled: the gateway would receive nothing")
	}
	if c.RELP.Addr != "" && c.RELP.Window > c.Gateway.Limits.MaxBatchEvents {
		bad("relp.window", "%d is more than gateway.limits.max_batch_events %d: a window of messages must fit one batch", c.RELP.Window, c.Gateway.Limits.MaxBatchEvents)
	}
	if c.RELP.Addr != "" {
		if err := c.validateRELPTypes(); err != nil {
			errs = append(errs, err)
		}
	}
	if role == RoleTransform && c.UI.Enabled && c.UI.AdminKeySHA256 == "" {
		bad("ui.admin_key_sha256", "required with ui.enabled in sluice transform, which has no API keys to open the console with (sluice hash-key makes one)")
	}
	if role == RoleGateway && !c.Gateway.Auth.Disabled && len(c.Gateway.Auth.Keys) == 0 {
		bad("gateway.auth.keys", "required in gateway mode: add keys (see `sluice hash-key`) or set gateway.auth.disabled: true")
	}
	switch c.Stream.Kind {
	case "embedded":
		if role != RoleDev {
			bad("stream.kind", "embedded lives in one process: use it with `sluice dev` only")
		}
	case "kinesis":
		if role == RoleDev {
			bad("stream.kind", "sluice dev runs on the embedded stream")
		}
		if c.Stream.Kinesis.MaxInflightBytes < c.Gateway.Limits.MaxDecodedBytes+c.Gateway.Limits.MaxDecodedBytes/4 {
			bad("stream.kinesis.max_inflight_bytes", "%s is too small for one full request of gateway.limits.max_decoded_bytes %s and its envelopes", c.Stream.Kinesis.MaxInflightBytes, c.Gateway.Limits.MaxDecodedBytes)
		}
		if role == RoleTransform {
			errs = append(errs, c.validateConsumer()...)
		}
	case "discard":
		// A benchmark tool: the receivers alone, every record dropped (stream/discard).
		if role != RoleGateway {
			bad("stream.kind", "discard (a benchmark tool that drops every event) is for `sluice gateway` only")
		}
	default:
		bad("stream.kind", "must be embedded, kinesis or discard, not %q", c.Stream.Kind)
	}
	if e := c.Stream.Embedded; e.MaxBytes > 0 && e.MaxBytes < c.Gateway.Limits.MaxDecodedBytes {
		bad("stream.embedded.max_bytes", "%s is less than gateway.limits.max_decoded_bytes %s: a full request could never fit", e.MaxBytes, c.Gateway.Limits.MaxDecodedBytes)
	} else if e.MaxBytes > 0 && c.Stream.Kind == "embedded" && int64(e.MaxBytes) < int64(c.MaxRecordBytes()) {
		bad("stream.embedded.max_bytes", "%s is less than the largest record, gateway.limits.max_event_bytes %s in its envelope", e.MaxBytes, c.Gateway.Limits.MaxEventBytes)
	}
	if role == RoleTransform && c.Sink.Kind == "" && len(c.Sink.Search.Addresses) == 0 {
		// An unconfigured transform tier would write NDJSON to the task's ephemeral
		// disk and lose it with the task: refuse it unless file is asked for by name.
		bad("sink.kind", "no sink configured: set sink.search.addresses (%s) and sink.search.engine to index into Elasticsearch or OpenSearch, or sink.kind: file (%s=file) to write NDJSON files to local disk on purpose", EnvName("sink.search.addresses"), EnvName("sink.kind"))
	} else if role != RoleGateway {
		switch c.Sink.EffectiveKind() {
		case "file", "search": // search's dead letters: sink.dead_letters, checked by validateSections
		default:
			bad("sink.kind", "must be file or search, not %q", c.Sink.Kind)
		}
	}
	if c.PipelinesDir != "" {
		if st, err := os.Stat(c.PipelinesDir); err != nil {
			bad("pipelines_dir", "%v", err)
		} else if !st.IsDir() {
			bad("pipelines_dir", "%s is not a directory", c.PipelinesDir)
		}
	}
	if c.Shutdown.Timeout <= 0 {
		bad("shutdown.timeout", "must be positive")
	}
	if c.Shutdown.DrainDelay < 0 || c.Shutdown.DrainDelay >= c.Shutdown.Timeout {
		bad("shutdown.drain_delay", "must be at least 0 and less than shutdown.timeout")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		bad("log.format", "must be json or text, not %q", c.Log.Format)
	}
	return errors.Join(errs...)
}

// unused names the sections the role does not use with this configuration, which
// validateSections leaves alone: the defaults of a section nobody reads need not be
// complete (the search sink has no addresses until it is chosen).
func (c Config) unused(role Role) map[string]bool {
	searchSink := role != RoleGateway && c.Sink.EffectiveKind() == "search"
	kinesisConsumer := role == RoleTransform && c.Stream.Kind == "kinesis"
	return map[string]bool{
		"stream.kinesis":    c.Stream.Kind != "kinesis" && !(searchSink && c.Sink.DeadLetters.Kind == "kinesis"),
		"stream.consumer":   !kinesisConsumer,
		"stream.leases":     !kinesisConsumer,
		"sink.file":         role == RoleGateway || !c.Sink.UsesFiles(),
		"sink.search":       !searchSink,
		"sink.archive":      role == RoleGateway,
		"sink.dead_letters": !searchSink,
		"lookups":           role == RoleGateway,
		"otlp":              role == RoleTransform,
	}
}

// validateRELPTypes refuses relp.types that do not allow every log type RELP messages
// can get: those of syslog.rules and syslog.default_type (gateway.routing.default_type
// when that is empty), which RELP shares with syslog. RELP answers 200 to a message
// the gateway refuses for good and drops it (librelp drops a message answered
// otherwise, so it would not be resent either): a type relp.types does not allow
// would lose every message of it, quietly as far as the sender knows.
func (c Config) validateRELPTypes() error {
	parser, err := syslog.NewParser(c.Syslog.Rules, c.Syslog.DefaultType)
	if err != nil {
		return nil // the syslog section reports its rules' problems
	}
	types := parser.Types()
	if c.Syslog.DefaultType == "" && c.Gateway.Routing.DefaultType != "" && !slices.Contains(types, c.Gateway.Routing.DefaultType) {
		types = append(types, c.Gateway.Routing.DefaultType)
	}
	allowed := gateway.NewPrincipal("relp", c.RELP.Types)
	var refused []string
	for _, t := range types {
		if !allowed.Allows(t) {
			refused = append(refused, t)
		}
	}
	if len(refused) == 0 {
		return nil
	}
	def := "syslog.default_type"
	if c.Syslog.DefaultType == "" {
		def = "gateway.routing.default_type"
	}
	list := strings.Join(refused, ", ")
	return fmt.Errorf("relp.types: [%s] does not allow the log types %s, which syslog.rules and %s give RELP messages: "+
		"RELP answers such a message 200 and drops it, so none of them would arrive; add %s to relp.types (or allow [\"*\"]), "+
		"or change syslog.rules and %s (which the syslog listeners share) so that no RELP message gets them",
		strings.Join(c.RELP.Types, ", "), list, def, list, def)
}

// validateConsumer checks the Kinesis consumer of `sluice transform`.
func (c Config) validateConsumer() []error {
	var errs []error
	if len(c.Stream.Consumer.Streams) == 0 && len(c.Gateway.StreamNames()) == 0 {
		errs = append(errs, errors.New("stream.consumer.streams: no streams to read: name them, or route types to streams in gateway.routing"))
	}
	if h := c.Stream.Consumer.HandoffTimeout; h >= c.Shutdown.Timeout {
		errs = append(errs, fmt.Errorf("stream.consumer.handoff_timeout: %s must be less than shutdown.timeout %s, which bounds the hand-off and the rest of the shutdown", h, c.Shutdown.Timeout))
	}
	return errs
}
