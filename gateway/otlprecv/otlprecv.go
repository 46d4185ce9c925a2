// Package otlprecv is the OpenTelemetry logs receiver of the gateway (step receive of
// the data path): OTLP/gRPC (opentelemetry.proto.collector.logs.v1.LogsService/Export)
// on the gRPC port and OTLP/HTTP (POST /v1/logs, protobuf or JSON) on the HTTP port.
// It turns each log record into an event document, calls gateway.Ingest, and answers
// as the OTLP specification says: success once every accepted record is durable in
// the stream, a partial success naming how many records were rejected and why, or an
// error the client retries (throttling, unavailable) or not (a bad request).
//
// A log record's document:
//
//	{"@timestamp": <time, else observed time, else now>, "message": <body, a string>,
//	 "body": <body of another kind>, "log": {"level": <severity text>},
//	 "event": {"severity": <severity number>, "created": <observed time>},
//	 "trace": {"id": <hex>}, "span": {"id": <hex>},
//	 "service": {"name": <resource service.name>}, "host": {"name": <resource host.name>},
//	 "attributes": {<the record's attributes>},
//	 "resource": {"attributes": {<the resource's>}},
//	 "scope": {"name", "version"}}
//
// members left out when the record has none. Attribute values keep their kinds (lists
// and maps as JSON arrays and objects, bytes as base64), nested no deeper than the
// gateway's limits.max_depth.
package otlprecv

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/gateway/grpcrecv"
	"github.com/sluice-siem/sluice/gateway/httprecv"
	"github.com/sluice-siem/sluice/stream"
)

// Ingester is what the receiver needs from the gateway core.
type Ingester interface {
	Ingest(ctx context.Context, b gateway.Batch) (gateway.Result, error)
	Limits() gateway.Limits
}

// Config is the otlp section: how a log record's log type is found.
type Config struct {
	// TypeAttribute names the attribute whose value is a record's log type: the
	// record's own attributes first, then its resource's.
	TypeAttribute string `yaml:"type_attribute" doc:"attribute naming a log record's log type (the record's, else its resource's), such as event.dataset or service.name"`
	// DefaultType is the log type of records whose attribute is missing or not a
	// valid log type.
	DefaultType string `yaml:"default_type" doc:"log type of records without a valid type attribute"`
}

// DefaultConfig returns the defaults: event.dataset, else the log type "otel".
func DefaultConfig() Config { return Config{TypeAttribute: "event.dataset", DefaultType: "otel"} }

// Validate reports the problems of c.
func (c Config) Validate() error {
	var errs []error
	if c.TypeAttribute == "" {
		errs = append(errs, errors.New("type_attribute: must not be empty"))
	}
	if !stream.ValidType(c.DefaultType) {
		errs = append(errs, fmt.Errorf("default_type: %q is not a log type", c.DefaultType))
	}
	return errors.Join(errs...)
}

// Receiver serves OTLP logs over gRPC (Service) and HTTP (HTTPHandler).
type Receiver struct {
	collogspb.UnimplementedLogsServiceServer
	ing Ingester
	cfg Config
	log *slog.Logger
	now func() time.Time
	// typeHint is the batches' gateway.Batch.TypeHint.
	typeHint string
	// states are the decoding states of requests (wireState), reused.
	states sync.Pool
}

// New returns a receiver handing batches to ing; log (nil discards) receives
// internal errors.
func New(ing Ingester, cfg Config, log *slog.Logger) *Receiver {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Receiver{ing: ing, cfg: cfg, log: log, now: time.Now, typeHint: "the attribute " + cfg.TypeAttribute}
}

// ingestBatch ingests the batch of a request and answers as OTLP says.
func (r *Receiver) ingestBatch(ctx context.Context, b gateway.Batch) (*collogspb.ExportLogsServiceResponse, error) {
	if len(b.Events) == 0 {
		return &collogspb.ExportLogsServiceResponse{}, nil
	}
	res, err := r.ing.Ingest(ctx, b)
	if err != nil {
		return nil, err
	}
	resp := &collogspb.ExportLogsServiceResponse{}
	if n := len(res.Rejections); n > 0 {
		msg := fmt.Sprintf("log record %d: %s", res.Rejections[0].Index, res.Rejections[0].Reason)
		if n > 1 {
			msg += fmt.Sprintf(" (and %d more rejected)", n-1)
		}
		resp.PartialSuccess = &collogspb.ExportLogsPartialSuccess{RejectedLogRecords: int64(n), ErrorMessage: validText(msg)}
	}
	return resp, nil
}

// batch makes one event per log record of a request decoded already (OTLP JSON,
// Export called with a request): its protobuf bytes through the one decoder,
// batchWire (wire.go), so that every transport makes the same documents.
func (r *Receiver) batch(receiver string, req *collogspb.ExportLogsServiceRequest, st *wireState) (gateway.Batch, error) {
	data, err := proto.Marshal(req)
	if err != nil {
		return gateway.Batch{}, fmt.Errorf("%w: %w", errWire, err)
	}
	return r.batchWire(receiver, data, st)
}

// errTooDeep is the error of a value nested deeper than the limit.
var errTooDeep = errors.New("attribute or body value nested deeper than limits.max_depth")

// GRPCService is the LogsService for the gateway's gRPC server, whose interceptors
// authenticate each call with the API keys. Its Export takes the request's bytes
// (grpcrecv.RawMessage) and reads them with the wire decoder.
func (r *Receiver) GRPCService() grpcrecv.ExtraService {
	const method = "Export"
	full := "/" + collogspb.LogsService_ServiceDesc.ServiceName + "/" + method
	desc := grpc.ServiceDesc{
		ServiceName: collogspb.LogsService_ServiceDesc.ServiceName,
		HandlerType: (*collogspb.LogsServiceServer)(nil),
		Methods: []grpc.MethodDesc{{MethodName: method, Handler: func(_ any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
			in := &grpcrecv.RawMessage{}
			defer in.Release() // the batch is ingested or refused, its documents copied
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, req any) (any, error) {
				return r.exportWire(ctx, req.(*grpcrecv.RawMessage).Data)
			}
			if icpt == nil {
				return h(ctx, in)
			}
			return icpt(ctx, in, &grpc.UnaryServerInfo{Server: r, FullMethod: full}, h)
		}}},
		Metadata: collogspb.LogsService_ServiceDesc.Metadata,
	}
	return grpcrecv.ExtraService{
		Name:     desc.ServiceName,
		Register: func(s grpc.ServiceRegistrar) { s.RegisterService(&desc, r) },
	}
}

// exportWire is Export of a request's bytes.
func (r *Receiver) exportWire(ctx context.Context, data []byte) (*collogspb.ExportLogsServiceResponse, error) {
	retry := time.Duration(r.ing.Limits().RetryAfterSeconds()) * time.Second
	st := r.newState(data)
	defer r.release(st) // the batch is ingested (or refused) when it runs
	b, err := r.batchWire("otlp-grpc", data, st)
	if err != nil {
		return nil, grpcrecv.StatusError(gateway.Errorf(gateway.KindInvalid, "%w", err), retry, r.log)
	}
	resp, err := r.ingestBatch(ctx, b)
	if err != nil {
		return nil, grpcrecv.StatusError(err, retry, r.log)
	}
	return resp, nil
}

// Export is LogsService/Export of a request decoded already (the gRPC server hands
// GRPCService's Export the bytes instead): its protobuf bytes through exportWire.
func (r *Receiver) Export(ctx context.Context, req *collogspb.ExportLogsServiceRequest) (*collogspb.ExportLogsServiceResponse, error) {
	data, err := proto.Marshal(req)
	if err != nil {
		return nil, grpcrecv.StatusError(gateway.Errorf(gateway.KindInvalid, "%w: %w", errWire, err), 0, r.log)
	}
	return r.exportWire(ctx, data)
}

// HTTPHandler serves POST /v1/logs (httprecv.Options.OTLPLogs, which reads and
// bounds the body): an ExportLogsServiceRequest in protobuf or OTLP's JSON, answered
// in the same encoding.
func (r *Receiver) HTTPHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		asJSON := mediaType(req.Header.Get("Content-Type")) == "application/json"
		body, err := io.ReadAll(req.Body)
		if err != nil {
			r.httpError(w, asJSON, gateway.Errorf(gateway.KindInvalid, "read body: %w", err))
			return
		}
		if len(body) == 0 {
			// As /v1/events and /v1/push refuse a request without events: a body is
			// required (the OpenAPI document says so; schemathesis holds us to it).
			r.httpError(w, asJSON, gateway.Errorf(gateway.KindInvalid, "empty body: send an ExportLogsServiceRequest, protobuf (application/x-protobuf) or JSON (application/json)"))
			return
		}
		var b gateway.Batch
		st := r.newState(body)
		defer r.release(st) // the batch is ingested (or refused) when it runs
		if asJSON {
			msg := &collogspb.ExportLogsServiceRequest{}
			depth := r.ing.Limits().Depth() + 8 // the request's own levels around the values
			if err = unmarshalJSON(body, msg, depth); err == nil {
				b, err = r.batch("otlp-http", msg, st)
			}
		} else {
			b, err = r.batchWire("otlp-http", body, st)
		}
		if err != nil {
			r.httpError(w, asJSON, gateway.Errorf(gateway.KindInvalid, "not an OTLP ExportLogsServiceRequest: %w", err))
			return
		}
		resp, err := r.ingestBatch(req.Context(), b)
		if err != nil {
			r.httpError(w, asJSON, err)
			return
		}
		writeMessage(w, http.StatusOK, asJSON, resp)
	})
}

// httpError answers a request refused as a whole: the gateway's status for the
// kind, a google.rpc.Status body as OTLP/HTTP says, Retry-After under backpressure.
func (r *Receiver) httpError(w http.ResponseWriter, asJSON bool, err error) {
	kind := gateway.KindOf(err)
	msg := err.Error()
	if kind == gateway.KindInternal {
		r.log.Error("otlp http ingest", "err", err)
		msg = "internal error"
	}
	if kind == gateway.KindOverloaded || kind == gateway.KindUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(r.ing.Limits().RetryAfterSeconds()))
	}
	writeMessage(w, httprecv.StatusCode(kind), asJSON, &spb.Status{Code: int32(grpcrecv.Code(kind)), Message: validText(msg)})
}

// validText is msg with any bytes that are not UTF-8 replaced: a message quotes what
// the client sent, and a protobuf string (Status.message, the partial success's
// error_message) that is not valid UTF-8 does not marshal, in either encoding.
func validText(msg string) string { return strings.ToValidUTF8(msg, "\uFFFD") }

func writeMessage(w http.ResponseWriter, status int, asJSON bool, m proto.Message) {
	var body []byte
	if asJSON {
		w.Header().Set("Content-Type", "application/json")
		body, _ = protojson.MarshalOptions{UseProtoNames: false}.Marshal(m)
	} else {
		w.Header().Set("Content-Type", "application/x-protobuf")
		body, _ = proto.Marshal(m)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func mediaType(ct string) string {
	mt, _, _ := mime.ParseMediaType(ct)
	return mt
}

// unmarshalJSON reads OTLP's JSON encoding: protobuf's JSON mapping, except that
// trace and span ids are hex strings, not base64.
func unmarshalJSON(body []byte, msg *collogspb.ExportLogsServiceRequest, depth int) error {
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true, RecursionLimit: depth}).Unmarshal(body, msg); err != nil {
		return err
	}
	// protojson read each id's hex digits as base64: 32 hex digits as 24 bytes, 16 as
	// 12. Encoding those bytes as base64 again gives the digits back.
	for _, rl := range msg.GetResourceLogs() {
		for _, sl := range rl.GetScopeLogs() {
			for _, lr := range sl.GetLogRecords() {
				var err error
				if lr.TraceId, err = hexID(lr.TraceId, 16); err != nil {
					return fmt.Errorf("traceId: %w", err)
				}
				if lr.SpanId, err = hexID(lr.SpanId, 8); err != nil {
					return fmt.Errorf("spanId: %w", err)
				}
			}
		}
	}
	return nil
}

// hexID turns an id that protojson decoded from hex digits as base64 into its bytes.
func hexID(b []byte, size int) ([]byte, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) != size*3/2 {
		return nil, fmt.Errorf("want %d hex digits", size*2)
	}
	id, err := hex.DecodeString(base64.StdEncoding.EncodeToString(b))
	if err != nil {
		return nil, fmt.Errorf("want %d hex digits: %w", size*2, err)
	}
	return id, nil
}
