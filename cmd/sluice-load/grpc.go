package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sluice-siem/sluice/gateway/grpcrecv"
	"github.com/sluice-siem/sluice/internal/jsonx"
	sluicev1 "github.com/sluice-siem/sluice/proto/sluice/v1"
)

// grpcTransport sends batches on sluice.v1.IngestService/PushStream: one gRPC
// connection and one stream per connection, a few batches in flight on each, every
// batch acknowledged by its id.
type grpcTransport struct {
	addr   string
	apiKey string
	wire   *atomic.Int64
	events []*sluicev1.Event
}

// newGRPCTransport builds the pool's protobuf events: the type, the raw line as the
// message, the time, and host.name (plus the padding) in fields. Sizes are those of the
// documents the receiver builds from them.
func newGRPCTransport(addr, apiKey string, size int, evs []event, wire *atomic.Int64) (*grpcTransport, []int, error) {
	t := &grpcTransport{addr: addr, apiKey: apiKey, wire: wire, events: make([]*sluicev1.Event, len(evs))}
	sizes := make([]int, len(evs))
	for i, e := range evs {
		ev := &sluicev1.Event{Type: e.typ, Message: e.line, Time: timestamppb.New(e.time)}
		fields := map[string]any{"host": map[string]any{"name": e.host}}
		doc, err := grpcEventDoc(ev, fields)
		if err != nil {
			return nil, nil, err
		}
		const padField = `,"pad":""`
		if n := size - len(doc) - len(padField); n >= 0 {
			fields["pad"] = strings.Repeat("x", n)
			if doc, err = grpcEventDoc(ev, fields); err != nil {
				return nil, nil, err
			}
		}
		t.events[i], sizes[i] = ev, len(doc)
	}
	return t, sizes, nil
}

// grpcEventDoc sets ev's fields and returns the document the receiver makes of it.
func grpcEventDoc(ev *sluicev1.Event, fields map[string]any) ([]byte, error) {
	s, err := structpb.NewStruct(fields)
	if err != nil {
		return nil, fmt.Errorf("build event fields: %w", err)
	}
	ev.Fields = s
	doc, err := grpcrecv.Document(ev, jsonx.DefaultMaxDepth)
	if err != nil {
		return nil, fmt.Errorf("build event document: %w", err)
	}
	return doc, nil
}

func (t *grpcTransport) dial(ctx context.Context) (conn, error) {
	cc, sctx, cancel, err := dialGRPC(ctx, t.addr, t.wire, t.apiKey)
	if err != nil {
		return nil, err
	}
	stream, err := sluicev1.NewIngestServiceClient(cc).PushStream(sctx)
	if err != nil {
		cancel()
		_ = cc.Close()
		return nil, fmt.Errorf("open PushStream: %w", err)
	}
	c := &grpcConn{t: t, cc: cc, cancel: cancel, stream: stream, pending: map[string]pendingBatch{}, recvDone: make(chan struct{})}
	go c.recv()
	return c, nil
}

func (t *grpcTransport) close() {}

type pendingBatch struct {
	done func(outcome)
}

// grpcConn is one connection with one PushStream.
type grpcConn struct {
	t        *grpcTransport
	cc       *grpc.ClientConn
	cancel   context.CancelFunc
	stream   sluicev1.IngestService_PushStreamClient
	recvDone chan struct{}

	mu      sync.Mutex
	pending map[string]pendingBatch // by batch id; whoever removes an entry calls its done
	err     error                   // set when the stream failed
}

// take removes and returns the pending batch id.
func (c *grpcConn) take(id string) (pendingBatch, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.pending[id]
	delete(c.pending, id)
	return p, ok
}

func (c *grpcConn) send(_ context.Context, b batch, done func(outcome)) error {
	id := strconv.FormatUint(b.seq, 10)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		done(outcome{kind: "grpc_stream_closed", err: err})
		return err
	}
	c.pending[id] = pendingBatch{done: done}
	c.mu.Unlock()
	err := c.stream.Send(&sluicev1.PushStreamRequest{Id: id, Events: c.t.events[b.first : b.first+b.n]})
	if err != nil {
		if p, ok := c.take(id); ok {
			p.done(outcome{kind: grpcKind("grpc_send", err), err: err})
		}
		return fmt.Errorf("send on PushStream: %w", err)
	}
	return nil
}

// recv reads acknowledgements until the stream ends, then fails what is still pending.
func (c *grpcConn) recv() {
	defer close(c.recvDone)
	for {
		ack, err := c.stream.Recv()
		if err != nil {
			c.mu.Lock()
			c.err = fmt.Errorf("PushStream ended: %w", err)
			pending := c.pending
			c.pending = map[string]pendingBatch{}
			c.mu.Unlock()
			for _, p := range pending {
				p.done(outcome{kind: grpcKind("grpc_stream", err), err: err})
			}
			return
		}
		p, ok := c.take(ack.GetId())
		if !ok {
			continue // an id this connection did not send (or answered twice): ignored
		}
		if ack.GetCode() == 0 {
			p.done(outcome{acked: int(ack.GetAccepted())})
			continue
		}
		// Rejected events are listed; the rest of a batch not acknowledged as a whole
		// (RESOURCE_EXHAUSTED, UNAVAILABLE) failed.
		p.done(outcome{acked: int(ack.GetAccepted()), rejected: len(ack.GetRejections()),
			kind: "grpc_" + codes.Code(ack.GetCode()).String(), err: errors.New(ack.GetMessage())})
	}
}

// close half-closes the stream, so that the subject answers what it has and ends it,
// then cancels it; whatever is still pending fails.
func (c *grpcConn) close() {
	_ = c.stream.CloseSend()
	select {
	case <-c.recvDone:
	case <-time.After(time.Second):
	}
	c.cancel()
	<-c.recvDone
	_ = c.cc.Close()
}

// grpcKind names a gRPC error by its status code, or by its network class.
func grpcKind(prefix string, err error) string {
	if errors.Is(err, io.EOF) {
		return prefix + "_eof"
	}
	if st, ok := status.FromError(err); ok {
		return prefix + "_" + st.Code().String()
	}
	return errKind(prefix, err)
}

// dialGRPC opens a plaintext gRPC connection to addr that counts its bytes in wire, and
// a context for its calls, cancelled by cancel, carrying the API key when there is one.
func dialGRPC(ctx context.Context, addr string, wire *atomic.Int64, apiKey string) (*grpc.ClientConn, context.Context, context.CancelFunc, error) {
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return dialCounting(ctx, addr, wire)
		}))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("grpc client: %w", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	if apiKey != "" {
		cctx = metadata.AppendToOutgoingContext(cctx, "authorization", "Bearer "+apiKey)
	}
	return cc, cctx, cancel, nil
}
