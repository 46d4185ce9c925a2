package hostile

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/structpb"

	sluicev1 "github.com/sluice-siem/sluice/proto/sluice/v1"
)

// grpcConn is a client connection to the process's gRPC listener.
func grpcConn(t *testing.T, p *proc) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+p.listener("grpc"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// requireGRPCServing requires the gRPC health service to answer SERVING.
func requireGRPCServing(t *testing.T, p *proc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(grpcConn(t, p)).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("gRPC health check: %v %v", resp, err)
	}
}

// requirePushOK requires a unary Push of one event to succeed.
func requirePushOK(t *testing.T, p *proc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := sluicev1.NewIngestServiceClient(grpcConn(t, p)).Push(ctx, &sluicev1.PushRequest{
		Events: []*sluicev1.Event{{Type: "legit", Message: "legitimate grpc event"}},
	})
	if err != nil || resp.GetAccepted() != 1 {
		t.Errorf("gRPC Push: %v %v", resp, err)
	}
}

// rawCodec sends and receives message bytes as they are, so that a test can send what
// no protobuf library would encode.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*(v.(*[]byte)) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

// deepPushRequest encodes a PushRequest (events is field 1) or PushStreamRequest (field
// 2) of one event whose fields hold {"a": v}, v a google.protobuf.Value of levels nested
// list_values: well-formed protobuf, deeper than any decoder should follow. Lengths are
// computed inside out, bytes written outside in.
func deepPushRequest(levels int, events protowire.Number) []byte {
	// value[i] is the size of a Value nesting i lists; list[i] of its ListValue.
	value := make([]int, levels+1)
	list := make([]int, levels+1)
	for i := 1; i <= levels; i++ {
		list[i] = 1 + protowire.SizeVarint(uint64(value[i-1])) + value[i-1]
		value[i] = 1 + protowire.SizeVarint(uint64(list[i])) + list[i]
	}
	// Struct{fields: {"a": value}}: a map entry {key=1: "a", value=2: Value}.
	entry := 1 + 1 + 1 + 1 + protowire.SizeVarint(uint64(value[levels])) + value[levels]
	strct := 1 + protowire.SizeVarint(uint64(entry)) + entry
	event := 1 + protowire.SizeVarint(uint64(strct)) + strct
	b := make([]byte, 0, 1+protowire.SizeVarint(uint64(event))+event)
	b = protowire.AppendTag(b, events, protowire.BytesType) // Push(Stream)Request.events
	b = protowire.AppendVarint(b, uint64(event))
	b = protowire.AppendTag(b, 3, protowire.BytesType) // Event.fields
	b = protowire.AppendVarint(b, uint64(strct))
	b = protowire.AppendTag(b, 1, protowire.BytesType) // Struct.fields entry
	b = protowire.AppendVarint(b, uint64(entry))
	b = protowire.AppendTag(b, 1, protowire.BytesType) // key
	b = protowire.AppendString(b, "a")
	b = protowire.AppendTag(b, 2, protowire.BytesType) // value
	b = protowire.AppendVarint(b, uint64(value[levels]))
	for i := levels; i >= 1; i-- {
		b = protowire.AppendTag(b, 6, protowire.BytesType) // Value.list_value
		b = protowire.AppendVarint(b, uint64(list[i]))
		b = protowire.AppendTag(b, 1, protowire.BytesType) // ListValue.values
		b = protowire.AppendVarint(b, uint64(value[i-1]))
	}
	return b
}

// deepStruct is {"a": [[[...]]]} with levels nested lists, as structpb.
func deepStruct(levels int) *structpb.Struct {
	v := structpb.NewListValue(&structpb.ListValue{})
	for range levels - 1 {
		v = structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{v}})
	}
	return &structpb.Struct{Fields: map[string]*structpb.Value{"a": v}}
}

// TestGRPCStreamFlood opens 40,000 PushStream streams on one HTTP/2 connection, more
// than any client that honours SETTINGS_MAX_CONCURRENT_STREAMS would (40,000 streams
// took 931 MiB). The server must announce grpc.max_concurrent_streams (default 64) and
// refuse the streams beyond it; peak RSS must stay under the budget, and the process
// must keep serving.
func TestGRPCStreamFlood(t *testing.T) {
	const streams = 40_000
	p := start(t, spec{role: "gateway"})
	addr := p.listener("grpc")
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	bw := bufio.NewWriterSize(c, 64<<10)
	var wmu sync.Mutex // the writing framer and bw
	wfr := http2.NewFramer(bw, nil)
	rfr := http2.NewFramer(nil, c)
	if _, err := bw.WriteString(http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := wfr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	_ = bw.Flush()

	var (
		mu         sync.Mutex
		maxStreams = -1 // SETTINGS_MAX_CONCURRENT_STREAMS announced; -1: none
		refused    int  // RST_STREAM REFUSED_STREAM
		resets     int  // other RST_STREAM
		goAway     *http2.GoAwayFrame
		pong       = make(chan struct{})
		readDone   = make(chan error, 1)
	)
	go func() {
		for {
			f, err := rfr.ReadFrame()
			if err != nil {
				readDone <- err
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if f.IsAck() {
					continue
				}
				mu.Lock()
				if v, ok := f.Value(http2.SettingMaxConcurrentStreams); ok {
					maxStreams = int(v)
				}
				mu.Unlock()
				wmu.Lock()
				_ = wfr.WriteSettingsAck()
				_ = bw.Flush()
				wmu.Unlock()
			case *http2.RSTStreamFrame:
				mu.Lock()
				if f.ErrCode == http2.ErrCodeRefusedStream {
					refused++
				} else {
					resets++
				}
				mu.Unlock()
			case *http2.GoAwayFrame:
				mu.Lock()
				goAway = f
				mu.Unlock()
			case *http2.PingFrame:
				if f.IsAck() {
					close(pong)
				} else {
					wmu.Lock()
					_ = wfr.WritePing(true, f.Data)
					_ = bw.Flush()
					wmu.Unlock()
				}
			}
		}
	}()

	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	wmu.Lock()
	var werr error
	for i := range streams {
		hbuf.Reset()
		for _, hf := range []hpack.HeaderField{
			{Name: ":method", Value: "POST"},
			{Name: ":scheme", Value: "http"},
			{Name: ":path", Value: "/sluice.v1.IngestService/PushStream"},
			{Name: ":authority", Value: addr},
			{Name: "content-type", Value: "application/grpc"},
			{Name: "te", Value: "trailers"},
		} {
			_ = enc.WriteField(hf)
		}
		werr = wfr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: hbuf.Bytes(), EndHeaders: true})
		if werr != nil {
			break
		}
	}
	if werr == nil {
		// The server answers a PING after it has read every frame before it.
		werr = wfr.WritePing(false, [8]byte{'b', 'a', 'r', 'r', 'i', 'e', 'r'})
	}
	if werr == nil {
		werr = bw.Flush()
	}
	wmu.Unlock()
	var rerr error
	select {
	case <-pong:
	case rerr = <-readDone:
	case <-time.After(60 * time.Second):
		t.Error("no PING answer within 60s of the streams")
	}
	time.Sleep(time.Second) // the handlers of the accepted streams start
	mu.Lock()
	t.Logf("streams opened: %d; write error: %v; announced max concurrent streams: %d; refused: %d, other resets: %d; goaway: %v; read: %v",
		streams, werr, maxStreams, refused, resets, goAway, rerr)
	if maxStreams < 0 || maxStreams > 64 {
		t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS %d (-1: not announced), want at most 64 (grpc.max_concurrent_streams)", maxStreams)
	} else if closed := goAway != nil || rerr != nil; refused < streams-maxStreams && !closed {
		// A client cannot wait for the streams it opens regardless: the server must
		// refuse them (REFUSED_STREAM) or end the connection.
		t.Errorf("%d of the %d streams beyond the announced %d refused, and the connection is still open", refused, streams-maxStreams, maxStreams)
	}
	mu.Unlock()
	p.requireUp(t)
	p.requirePeakRSS(t, rssBudget, "40,000 streams on one connection")
	_ = c.Close()

	requireGRPCServing(t, p)
	requirePushOK(t, p)
	requireHealthy(t, p)
	p.requireUp(t)
	p.stop(t)
}
