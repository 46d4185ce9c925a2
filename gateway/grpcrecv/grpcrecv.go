// Package grpcrecv is the gRPC receiver of the gateway (step receive of the data path):
// sluice.v1.IngestService over gRPC, and its REST mapping through grpc-gateway. It turns
// protobuf events into event documents, calls gateway.Ingest, and maps error kinds to
// gRPC codes in one table (codeOf).
package grpcrecv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/internal/jsonx"
	"github.com/sluice-siem/sluice/internal/tracing"
	sluicev1 "github.com/sluice-siem/sluice/proto/sluice/v1"
)

// Ingester is what the receiver needs from the gateway core.
type Ingester interface {
	Ingest(ctx context.Context, b gateway.Batch) (gateway.Result, error)
	Authenticate(authorization string) (*gateway.Principal, error)
	Limits() gateway.Limits
}

// Options tune the receiver.
type Options struct {
	// StreamConcurrency is how many batches of one PushStream are ingested at once;
	// more batches wait unread, so HTTP/2 flow control pushes back on the client.
	// Default 4.
	StreamConcurrency int
	// Logger; nil discards.
	Logger *slog.Logger
}

// Service implements sluicev1.IngestServiceServer.
type Service struct {
	sluicev1.UnimplementedIngestServiceServer
	ing  Ingester
	cfg  Config
	opts Options
	// maxMsg is the largest message a call may send (limits.max_body_bytes).
	maxMsg int64
}

// New returns the service with the connection bounds of cfg, which ServerOptions
// applies: a zero field leaves grpc-go's default (MaxConcurrentStreams: no bound;
// ReadTimeout, the handshake: 120 s; IdleTimeout: never; keepalive: 2 h and 20 s;
// KeepaliveMinTime: 5 min). Addr, TLS and MaxConnections are the listener's, which the
// caller opens.
func New(ing Ingester, cfg Config, opts Options) *Service {
	if opts.StreamConcurrency <= 0 {
		opts.StreamConcurrency = 4
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{ing: ing, cfg: cfg, opts: opts, maxMsg: int64(ing.Limits().MaxBodyBytes)}
}

// Register adds the service to a gRPC server made with ServerOptions, whose codec its
// handlers need (codec.go).
func (s *Service) Register(srv *grpc.Server) { srv.RegisterService(s.serviceDesc(), s) }

// ServerOptions are the gRPC server options the service relies on: API key
// authentication on every call, requests that do not decode answered INVALID_ARGUMENT
// (codec.go), a message size limit from the gateway's limits, and the connection
// bounds of the Config.
//
// The message size limit is limits.max_body_bytes, the bound of a request on the wire,
// for compressed and decompressed messages alike (grpc-go has one limit for both). It
// bounds memory the gateway's own limits do not see: grpc-go v1.85 allocates no buffer
// of the length a message's 5-byte prefix declares, but on reading that prefix it
// opens the stream's flow-control window to the whole length (transport.Stream.read,
// requestRead), then holds what the client sends until the message is complete. So a
// connection may hold up to MaxConcurrentStreams messages of this limit at once; the
// shared budget of HTTP bodies (limits.max_buffered_bytes) does not cover them, since
// a stream waiting for its next message cannot be told from one receiving it.
func (s *Service) ServerOptions() []grpc.ServerOption {
	o := s.cfg
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(int(s.maxMsg)),
		grpc.ForceServerCodecV2(newServerCodec()),
		grpc.ChainUnaryInterceptor(s.unaryAuth),
		grpc.ChainStreamInterceptor(s.streamAuth),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: o.IdleTimeout,
			Time:              o.KeepaliveTime,
			Timeout:           o.KeepaliveTimeout,
		}),
	}
	if o.MaxConcurrentStreams > 0 {
		opts = append(opts, grpc.MaxConcurrentStreams(o.MaxConcurrentStreams))
	}
	if o.ReadTimeout > 0 {
		opts = append(opts, grpc.ConnectionTimeout(o.ReadTimeout))
	}
	if o.KeepaliveMinTime > 0 {
		opts = append(opts, grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: o.KeepaliveMinTime}))
	}
	return opts
}

// Push ingests one batch. A batch without events is accepted with nothing to ingest
// over gRPC, and refused as invalid through the REST mapping (see RESTHandler).
func (s *Service) Push(ctx context.Context, req *sluicev1.PushRequest) (*sluicev1.PushResponse, error) {
	receiver := "grpc"
	if _, ok := runtime.HTTPPathPattern(ctx); ok {
		receiver = "rest"
		// The REST body is required: an empty one, {} or no events is a mistake. Over
		// gRPC an empty batch stays a valid call answering OK with nothing accepted,
		// which clients use to check their API key and connection.
		if len(req.GetEvents()) == 0 {
			return nil, s.statusOf(gateway.Errorf(gateway.KindInvalid,
				`no events: send a JSON object with at least one event, such as {"events":[{"type":"...","message":"..."}]}`))
		}
	}
	res, err := s.ing.Ingest(ctx, toBatch(receiver, req.GetEvents(), s.ing.Limits().Depth()))
	if err != nil {
		return nil, s.statusOf(err)
	}
	resp := &sluicev1.PushResponse{Accepted: int32(res.Accepted), Rejections: rejections(res)}
	if len(res.Rejections) == 0 {
		return resp, nil
	}
	// Some events were rejected: answer with the code of the rejections and carry the
	// full result in the status details, so REST and gRPC clients both learn which
	// events to fix and that the others are durable.
	st := status.New(rejectionCode(res), rejectionMessage(res))
	br := &errdetails.BadRequest{}
	for _, rj := range res.Rejections {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
			Field: fmt.Sprintf("events[%d]", rj.Index), Description: rj.Reason,
		})
	}
	if withDetails, err := st.WithDetails(resp, br); err == nil {
		st = withDetails
	}
	return nil, st.Err()
}

// PushStream ingests batches as they arrive and acknowledges each one by its id.
func (s *Service) PushStream(srv sluicev1.IngestService_PushStreamServer) error {
	ctx := srv.Context()
	var (
		sendMu  sync.Mutex
		wg      sync.WaitGroup
		sem     = make(chan struct{}, s.opts.StreamConcurrency)
		sendErr error
	)
	send := func(ack *sluicev1.PushStreamResponse) {
		sendMu.Lock()
		defer sendMu.Unlock()
		if sendErr == nil {
			sendErr = srv.Send(ack)
		}
	}
	defer wg.Wait()
	for {
		req, err := srv.Recv()
		if errors.Is(err, io.EOF) {
			return nil // deferred Wait sends the outstanding acknowledgements first
		}
		if err != nil {
			if ctx.Err() != nil {
				return status.FromContextError(ctx.Err()).Err()
			}
			return err
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			send(s.ack(ctx, req))
		}()
		sendMu.Lock()
		err = sendErr
		sendMu.Unlock()
		if err != nil {
			return fmt.Errorf("send acknowledgement: %w", err)
		}
	}
}

// ack ingests one stream batch and builds its acknowledgement.
func (s *Service) ack(ctx context.Context, req *sluicev1.PushStreamRequest) *sluicev1.PushStreamResponse {
	ack := &sluicev1.PushStreamResponse{Id: req.GetId()}
	res, err := s.ing.Ingest(ctx, toBatch("grpc", req.GetEvents(), s.ing.Limits().Depth()))
	if err != nil {
		st := s.statusOf(err)
		ack.Code, ack.Message = int32(status.Code(st)), status.Convert(st).Message()
		return ack
	}
	ack.Accepted, ack.Rejections = int32(res.Accepted), rejections(res)
	if len(res.Rejections) > 0 {
		ack.Code, ack.Message = int32(rejectionCode(res)), rejectionMessage(res)
	}
	return ack
}

// Code is the gRPC code of an error kind (codeOf).
func Code(k gateway.Kind) codes.Code { return codeOf(k) }

// codeOf is the one table from error kinds to gRPC codes.
func codeOf(k gateway.Kind) codes.Code {
	switch k {
	case gateway.KindInvalid, gateway.KindUnsupportedMedia:
		return codes.InvalidArgument
	case gateway.KindTooLarge:
		return codes.InvalidArgument
	case gateway.KindUnauthenticated:
		return codes.Unauthenticated
	case gateway.KindForbidden:
		return codes.PermissionDenied
	case gateway.KindOverloaded:
		return codes.ResourceExhausted
	case gateway.KindUnavailable:
		return codes.Unavailable
	default:
		return codes.Internal
	}
}

// statusOf turns an Ingest error into a gRPC status error (StatusError).
func (s *Service) statusOf(err error) error {
	return StatusError(err, time.Duration(s.ing.Limits().RetryAfterSeconds())*time.Second, s.opts.Logger)
}

// StatusError turns a gateway error into a gRPC status error, by the one table of
// codes (codeOf); backpressure statuses carry a RetryInfo detail with retryAfter. An
// internal error is logged and answered without its details. The OTLP logs service
// (gateway/otlprecv) answers with it too.
func StatusError(err error, retryAfter time.Duration, log *slog.Logger) error {
	kind := gateway.KindOf(err)
	msg := err.Error()
	if kind == gateway.KindInternal {
		log.Error("grpc ingest", "err", err)
		msg = "internal error"
	}
	st := status.New(codeOf(kind), msg)
	if kind.Retryable() && kind != gateway.KindInternal {
		if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(retryAfter)}); err == nil {
			st = d
		}
	}
	return st.Err()
}

// rejectionCode is the code for a batch with rejections: the rejections' own code when
// they share one kind, otherwise INVALID_ARGUMENT.
func rejectionCode(res gateway.Result) codes.Code {
	code := codeOf(res.Rejections[0].Kind)
	for _, rj := range res.Rejections[1:] {
		if codeOf(rj.Kind) != code {
			return codes.InvalidArgument
		}
	}
	return code
}

func rejectionMessage(res gateway.Result) string {
	first := res.Rejections[0]
	return fmt.Sprintf("%d of %d events rejected (%d accepted); first: events[%d]: %s",
		len(res.Rejections), len(res.Rejections)+res.Accepted, res.Accepted, first.Index, first.Reason)
}

func rejections(res gateway.Result) []*sluicev1.Rejection {
	out := make([]*sluicev1.Rejection, 0, len(res.Rejections))
	for _, rj := range res.Rejections {
		out = append(out, &sluicev1.Rejection{Index: int32(rj.Index), Reason: rj.Reason})
	}
	return out
}

// toBatch turns protobuf events into event documents. An event whose id CheckID
// refuses is rejected on its own. The ids share one buffer, one allocation per batch
// rather than per event (Ingest keeps neither).
func toBatch(receiver string, events []*sluicev1.Event, maxDepth int) gateway.Batch {
	b := gateway.Batch{Receiver: receiver, TypeHint: "the event's type field", Events: make([]gateway.Event, len(events))}
	n := 0
	for _, e := range events {
		n += len(e.GetId())
	}
	var ids []byte
	if n > 0 {
		ids = make([]byte, 0, n)
	}
	for i, e := range events {
		doc, err := Document(e, maxDepth)
		var id []byte
		if s := e.GetId(); s != "" && err == nil {
			ids = append(ids, s...)
			id = ids[len(ids)-len(s) : len(ids) : len(ids)]
			if err = gateway.CheckID(id); err != nil {
				id = nil
			}
		}
		b.Events[i] = gateway.Event{Type: e.GetType(), PartitionKey: e.GetPartitionKey(), Doc: doc, ID: id, Err: err}
	}
	return b
}

// Document builds the JSON event document of a protobuf event: its fields at the top
// level (in key order, so equal events give equal bytes), "message" and "@timestamp"
// from the event's own message and time, which win over fields of the same name.
// Values nested deeper than maxDepth levels (the event object being the first) are
// refused before they are walked, as the other receivers refuse such JSON.
func Document(e *sluicev1.Event, maxDepth int) ([]byte, error) {
	buf := make([]byte, 0, 64+len(e.GetMessage()))
	buf = append(buf, '{')
	sep := func() {
		if len(buf) > 1 {
			buf = append(buf, ',')
		}
	}
	hasTime, hasMsg := e.GetTime() != nil, e.GetMessage() != ""
	if hasTime {
		if err := e.GetTime().CheckValid(); err != nil {
			return nil, gateway.Errorf(gateway.KindInvalid, "invalid time: %w", err)
		}
		buf = append(buf, `"@timestamp":"`...)
		buf = e.GetTime().AsTime().UTC().AppendFormat(buf, time.RFC3339Nano)
		buf = append(buf, '"')
	}
	if hasMsg {
		sep()
		buf = append(buf, `"message":`...)
		buf = jsonx.AppendString(buf, e.GetMessage())
	}
	fields := e.GetFields().GetFields()
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		if (hasTime && k == "@timestamp") || (hasMsg && k == "message") {
			continue
		}
		sep()
		buf = jsonx.AppendString(buf, k)
		buf = append(buf, ':')
		var err error
		if buf, err = appendValue(buf, fields[k], maxDepth-1); err != nil {
			return nil, gateway.Errorf(gateway.KindInvalid, "field %q: %w", k, err)
		}
	}
	return append(buf, '}'), nil
}

// appendValue appends a protobuf Value as JSON (objects with sorted keys), refusing
// numbers JSON cannot hold and objects or lists more than depth levels deep.
func appendValue(buf []byte, v *structpb.Value, depth int) ([]byte, error) {
	switch v.GetKind().(type) {
	case *structpb.Value_StructValue, *structpb.Value_ListValue:
		if depth <= 0 {
			return nil, errors.New("nested deeper than limits.max_depth")
		}
	}
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		return jsonx.AppendString(buf, k.StringValue), nil
	case *structpb.Value_NumberValue:
		f := k.NumberValue
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, errors.New("number is not finite")
		}
		return jsonx.AppendFloat(buf, f)
	case *structpb.Value_BoolValue:
		return strconv.AppendBool(buf, k.BoolValue), nil
	case *structpb.Value_StructValue:
		buf = append(buf, '{')
		fields := k.StructValue.GetFields()
		for i, key := range slices.Sorted(maps.Keys(fields)) {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = jsonx.AppendString(buf, key)
			buf = append(buf, ':')
			var err error
			if buf, err = appendValue(buf, fields[key], depth-1); err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
		}
		return append(buf, '}'), nil
	case *structpb.Value_ListValue:
		buf = append(buf, '[')
		for i, item := range k.ListValue.GetValues() {
			if i > 0 {
				buf = append(buf, ',')
			}
			var err error
			if buf, err = appendValue(buf, item, depth-1); err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return append(buf, ']'), nil
	default: // null, or no kind set
		return append(buf, "null"...), nil
	}
}

// authorization returns the "authorization" metadata value.
func authorization(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("authorization"); len(v) > 0 {
		return v[0]
	}
	return ""
}

// mdCarrier reads W3C trace context from incoming gRPC metadata.
type mdCarrier metadata.MD

func (c mdCarrier) Get(key string) string {
	if v := metadata.MD(c).Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}
func (c mdCarrier) Set(key, value string) { metadata.MD(c).Set(key, value) }
func (c mdCarrier) Keys() []string        { return slices.Collect(maps.Keys(c)) }

// withTraceContext continues the client's trace context (traceparent metadata).
func withTraceContext(ctx context.Context) context.Context {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok || len(md.Get("traceparent")) == 0 {
		return ctx
	}
	return tracing.Propagator.Extract(ctx, mdCarrier(md))
}

func (s *Service) authenticate(ctx context.Context) (context.Context, error) {
	ctx = withTraceContext(ctx)
	if gateway.PrincipalFrom(ctx) != nil {
		return ctx, nil // set by the HTTP receiver for the REST mapping
	}
	key := authorization(ctx)
	p, err := s.ing.Authenticate(key)
	if err != nil {
		if key == "" && gateway.KindOf(err) == gateway.KindUnauthenticated {
			// The core's message names the HTTP header.
			err = gateway.Errorf(gateway.KindUnauthenticated, "missing API key: send the metadata authorization: Bearer <key>")
		}
		return nil, s.statusOf(err)
	}
	if p != nil {
		ctx = gateway.WithPrincipal(ctx, p)
	}
	return ctx, nil
}

// isIngest reports whether a full method name takes events and so needs an API key:
// every service but the open ones, health and reflection.
func isIngest(method string) bool {
	return !strings.HasPrefix(method, "/grpc.health.v1.Health/") && !strings.HasPrefix(method, "/grpc.reflection.")
}

func (s *Service) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if !isIngest(info.FullMethod) {
		return h(ctx, req)
	}
	ctx, err := s.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (s *Service) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if !isIngest(info.FullMethod) {
		return h(srv, ss)
	}
	ctx, err := s.authenticate(ss.Context())
	if err != nil {
		return err
	}
	return h(srv, &authedStream{ServerStream: ss, ctx: ctx})
}

type authedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (a *authedStream) Context() context.Context { return a.ctx }

// RESTHandler serves the REST mapping of the service (POST /v1/push) in process, with
// the decoded body bounded by limits.max_decoded_bytes. The HTTP receiver authenticates the
// request before it reaches this handler. Errors answer
// with grpc-gateway's JSON status body, the HTTP status of the gRPC code, and
// Retry-After under backpressure; a malformed Content-Type answers 415. The body is
// required: an empty one, {} or {"events":[]} answers 400 (INVALID_ARGUMENT).
func (s *Service) RESTHandler(ctx context.Context) (http.Handler, error) {
	retryAfter := strconv.Itoa(s.ing.Limits().RetryAfterSeconds())
	jsonpb := &runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
	}
	mux := runtime.NewServeMux(
		runtime.WithErrorHandler(func(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
			if c := status.Code(err); c == codes.ResourceExhausted || c == codes.Unavailable {
				w.Header().Set("Retry-After", retryAfter)
			}
			runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
		}),
		runtime.WithMarshalerOption(runtime.MIMEWildcard, jsonpb),
	)
	if err := sluicev1.RegisterIngestServiceHandlerServer(ctx, mux, s); err != nil {
		return nil, fmt.Errorf("register REST mapping: %w", err)
	}
	// Bound the body here too, so that the handler is safe on its own. The HTTP
	// receiver buffers it within its limits and decodes gzip and zstd first, so what
	// arrives here is decoded: the decoded limit applies, the same as for /v1/events.
	maxBody := int64(s.ing.Limits().MaxDecodedBytes)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// grpc-gateway logs each Content-Type it cannot parse at ERROR level through
		// grpclog (runtime.MarshalerForRequest), then decodes the body as JSON anyway,
		// so any client could write to the log at will. Refuse such a request here, as
		// the HTTP receiver's /v1/events does.
		for _, ct := range r.Header.Values("Content-Type") {
			if _, _, err := mime.ParseMediaType(ct); err != nil {
				runtime.DefaultHTTPErrorHandler(r.Context(), mux, jsonpb, w, r, &runtime.HTTPStatusError{
					HTTPStatus: http.StatusUnsupportedMediaType,
					Err:        status.Errorf(codes.InvalidArgument, "malformed Content-Type %q: send application/json", ct),
				})
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		mux.ServeHTTP(w, r)
	}), nil
}
