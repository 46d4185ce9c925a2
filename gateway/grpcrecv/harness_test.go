package grpcrecv_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/gateway/grpcrecv"
	sluicev1 "github.com/sluice-siem/sluice/proto/sluice/v1"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/embedded"
)

// setup describes one harness: the real gateway core over the real embedded stream,
// served by a real gRPC server over bufconn.
type setup struct {
	// config changes gateway.DefaultConfig().
	config func(*gateway.Config)
	// stream is the embedded stream's config; Streams defaults to every stream the
	// gateway routes to.
	stream embedded.Config
	// noConsumer leaves the stream without a consumer, so that it fills up.
	noConsumer bool
	// handler replaces the recording consumer (benchmarks).
	handler embedded.Handler
	// health registers the standard health service, as cmd/sluice does.
	health bool
	svc    grpcrecv.Options
	// cfg is the receiver's connection bounds (zero: grpc-go's defaults).
	cfg   grpcrecv.Config
	meter metric.Meter
}

// harness is a running receiver and what it needs.
type harness struct {
	tb     testing.TB
	g      *gateway.Gateway
	ms     *embedded.Stream
	svc    *grpcrecv.Service
	conn   *grpc.ClientConn
	client sluicev1.IngestServiceClient
	rec    *recorder
	setup  setup
}

func newHarness(tb testing.TB, s setup) *harness {
	tb.Helper()
	cfg := gateway.DefaultConfig()
	if s.config != nil {
		s.config(&cfg)
	}
	msCfg := s.stream
	if msCfg.Streams == nil {
		msCfg.Streams = cfg.StreamNames()
	}
	ms, err := embedded.New(msCfg)
	if err != nil {
		tb.Fatal(err)
	}
	g, err := gateway.New(cfg, ms, gateway.Options{Meter: s.meter})
	if err != nil {
		tb.Fatal(err)
	}
	h := &harness{tb: tb, g: g, ms: ms, rec: &recorder{}, setup: s}
	if !s.noConsumer {
		h.consume()
	}
	h.svc = grpcrecv.New(g, s.cfg, s.svc)
	h.conn = serveGRPC(tb, h.svc, func(srv *grpc.Server) {
		if s.health {
			hs := health.NewServer()
			hs.SetServingStatus(sluicev1.IngestService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
			healthpb.RegisterHealthServer(srv, hs)
		}
	})
	h.client = sluicev1.NewIngestServiceClient(h.conn)
	return h
}

// consume starts the consumer; it stops when the test ends.
func (h *harness) consume() {
	handler := h.setup.handler
	if handler == nil {
		handler = h.rec.handle
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.ms.Consume(ctx, handler) }()
	h.tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			h.tb.Errorf("consume: %v", err)
		}
	})
}

// serveGRPC serves svc over bufconn on a real grpc.Server with the service's options
// and returns a client connection; both stop when the test ends.
func serveGRPC(tb testing.TB, svc *grpcrecv.Service, register func(*grpc.Server)) *grpc.ClientConn {
	tb.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(svc.ServerOptions()...)
	svc.Register(srv)
	if register != nil {
		register(srv)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(256<<20)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
		if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			tb.Errorf("serve: %v", err)
		}
	})
	return conn
}

// rest serves the REST mapping through httptest, optionally behind a middleware, and
// returns the server's URL.
func (h *harness) rest(wrap func(http.Handler) http.Handler) string {
	h.tb.Helper()
	handler, err := h.svc.RESTHandler(context.Background())
	if err != nil {
		h.tb.Fatal(err)
	}
	if wrap != nil {
		handler = wrap(handler)
	}
	srv := httptest.NewServer(handler)
	h.tb.Cleanup(srv.Close)
	return srv.URL
}

// settle waits until the consumer has acknowledged everything put so far and returns
// every record it has seen.
func (h *harness) settle() []got {
	h.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.ms.WaitEmpty(ctx); err != nil {
		h.tb.Fatal(err)
	}
	return h.rec.snapshot(h.tb)
}

// got is one record as the consumer received it.
type got struct {
	Stream, Shard, Seq, Key string
	Type                    string
	ID                      string // the envelope's id: the event's identity, or ""
	Received                time.Time
	Event                   json.RawMessage
	Doc                     map[string]any
}

// recorder is a consumer handler that keeps every record it is given.
type recorder struct {
	mu   sync.Mutex
	recs []got
	errs []error
}

func (r *recorder) handle(_ context.Context, b stream.Batch) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range b.Records {
		env, err := stream.ParseEnvelope(d.Data)
		if err != nil {
			r.errs = append(r.errs, err)
			continue
		}
		var doc map[string]any
		if err := json.Unmarshal(env.Event, &doc); err != nil {
			r.errs = append(r.errs, err)
		}
		r.recs = append(r.recs, got{
			Stream: d.Stream, Shard: d.Shard, Seq: d.Sequence, Key: d.PartitionKey,
			Type: env.Type, ID: env.ID, Received: env.Received, Event: slices.Clone(env.Event), Doc: doc,
		})
	}
	return nil
}

func (r *recorder) snapshot(tb testing.TB) []got {
	tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, err := range r.errs {
		tb.Errorf("consumer could not decode a record: %v", err)
	}
	return slices.Clone(r.recs)
}

// messages returns the "message" of each record of a stream, in delivery order.
func messages(recs []got, streamName string) []string {
	var out []string
	for _, r := range recs {
		if r.Stream == streamName {
			m, _ := r.Doc["message"].(string)
			out = append(out, m)
		}
	}
	return out
}

// sorted returns a sorted copy.
func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// event builds a protobuf event.
func event(typ, message string) *sluicev1.Event {
	return &sluicev1.Event{Type: typ, Message: message}
}

// withFields sets an event's fields.
func withFields(tb testing.TB, e *sluicev1.Event, fields map[string]any) *sluicev1.Event {
	tb.Helper()
	s, err := structpb.NewStruct(fields)
	if err != nil {
		tb.Fatal(err)
	}
	e.Fields = s
	return e
}

// withBearer returns ctx carrying an API key in the gRPC metadata.
func withBearer(ctx context.Context, key string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
}

// details returns the details of a status error the service attaches.
func details(err error) (resp *sluicev1.PushResponse, br *errdetails.BadRequest, ri *errdetails.RetryInfo) {
	for _, d := range status.Convert(err).Details() {
		switch d := d.(type) {
		case *sluicev1.PushResponse:
			resp = d
		case *errdetails.BadRequest:
			br = d
		case *errdetails.RetryInfo:
			ri = d
		}
	}
	return resp, br, ri
}

// ctxT returns a context that ends with the test or after 10 s.
func ctxT(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// httpReply is an answer of the REST mapping.
type httpReply struct {
	status int
	header http.Header
	body   []byte
}

func postJSON(tb testing.TB, url, body string, header ...string) httpReply {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/v1/push", strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return httpReply{status: resp.StatusCode, header: resp.Header, body: raw}
}
