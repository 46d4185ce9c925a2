package grpcrecv_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/gateway/grpcrecv"
	"github.com/sluice-siem/sluice/internal/bytesize"
	sluicev1 "github.com/sluice-siem/sluice/proto/sluice/v1"
)

// serveTCP serves the harness's service on a real TCP listener on loopback, with the
// service's server options, and returns its address; it stops when the test ends.
func serveTCP(t *testing.T, h *harness) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(h.svc.ServerOptions()...)
	h.svc.Register(srv)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func dialGRPC(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// rawCodec sends and receives messages as the bytes they are, to put bytes on the wire
// that are not valid protobuf.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

// notProtobuf declares a 5-byte field that holds one byte.
var notProtobuf = []byte{0x0a, 0x05, 'a'}

// A request that is not valid protobuf is the client's mistake: INVALID_ARGUMENT, for
// unary calls and for each message of a stream, naming the message type.
func TestInvalidProtobufIsInvalidArgument(t *testing.T) {
	h := newHarness(t, setup{})
	raw := grpc.ForceCodecV2(rawCodec{})

	t.Run("unary", func(t *testing.T) {
		req, reply := notProtobuf, []byte(nil)
		err := h.conn.Invoke(ctxT(t), "/sluice.v1.IngestService/Push", &req, &reply, raw)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "sluice.v1.PushRequest") {
			t.Fatalf("Push of bytes that are not protobuf = %v, want InvalidArgument naming sluice.v1.PushRequest", err)
		}
		// The connection serves on.
		if resp, err := h.client.Push(ctxT(t), &sluicev1.PushRequest{Events: []*sluicev1.Event{event("firewall", "after")}}); err != nil || resp.GetAccepted() != 1 {
			t.Fatalf("Push after a bad request = %v, %v", resp, err)
		}
	})

	t.Run("stream", func(t *testing.T) {
		desc := &grpc.StreamDesc{StreamName: "PushStream", ClientStreams: true, ServerStreams: true}
		cs, err := h.conn.NewStream(ctxT(t), desc, "/sluice.v1.IngestService/PushStream", raw)
		if err != nil {
			t.Fatal(err)
		}
		// A good batch first: acknowledged before the bad one ends the stream.
		good, err := proto.Marshal(&sluicev1.PushStreamRequest{Id: "good", Events: []*sluicev1.Event{event("firewall", "in stream")}})
		if err != nil {
			t.Fatal(err)
		}
		if err := cs.SendMsg(&good); err != nil {
			t.Fatal(err)
		}
		var ackRaw []byte
		if err := cs.RecvMsg(&ackRaw); err != nil {
			t.Fatal(err)
		}
		bad := notProtobuf
		if err := cs.SendMsg(&bad); err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		var more []byte
		err = cs.RecvMsg(&more)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "sluice.v1.PushStreamRequest") {
			t.Fatalf("stream message that is not protobuf = %v, want InvalidArgument naming sluice.v1.PushStreamRequest", err)
		}
		if got := messages(h.settle(), "sluice-firewall"); len(got) != 2 {
			t.Errorf("stream holds %q, want the good events of both subtests", got)
		}
	})
}

// A message larger than limits.max_body_bytes is refused even when it would fit
// limits.max_decoded_bytes: grpc-go holds a message's declared length of what the
// client sends before any handler runs (see ServerOptions).
func TestMessageLargerThanMaxBodyBytes(t *testing.T) {
	h := newHarness(t, setup{config: func(c *gateway.Config) {
		c.Limits.MaxBodyBytes, c.Limits.MaxDecodedBytes = 4*bytesize.KiB, 64*bytesize.KiB
	}})
	_, err := h.client.Push(ctxT(t), &sluicev1.PushRequest{Events: []*sluicev1.Event{event("firewall", strings.Repeat("x", 8<<10))}})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("Push of an 8 KiB message with max_body_bytes 4 KiB = %v, want ResourceExhausted", err)
	}
}

// A connection that says nothing is closed after the handshake timeout.
func TestSilentConnectionClosed(t *testing.T) {
	h := newHarness(t, setup{cfg: grpcrecv.Config{ReadTimeout: 100 * time.Millisecond}})
	c, err := net.Dial("tcp", serveTCP(t, h))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	// The server sends its SETTINGS first, then closes the connection.
	_, err = io.Copy(io.Discard, c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("silent connection: read = %v, want it closed by the server", err)
	}
}

// A connection without calls is closed (GOAWAY) after the idle timeout; the client
// sees its connection go idle.
func TestIdleConnectionClosed(t *testing.T) {
	h := newHarness(t, setup{cfg: grpcrecv.Config{IdleTimeout: 100 * time.Millisecond}})
	conn := dialGRPC(t, serveTCP(t, h))
	client := sluicev1.NewIngestServiceClient(conn)
	if _, err := client.Push(ctxT(t), &sluicev1.PushRequest{}); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	for state := conn.GetState(); state == connectivity.Ready; state = conn.GetState() {
		if !conn.WaitForStateChange(ctx, state) {
			t.Fatal("the idle connection was not closed within 10s")
		}
	}
}

// h2 is a raw HTTP/2 client connection, to do what well-behaved clients do not.
type h2 struct {
	t   *testing.T
	c   net.Conn
	fr  *http2.Framer
	enc *hpack.Encoder
	hb  bytes.Buffer
}

func dialH2(t *testing.T, addr string) *h2 {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	x := &h2{t: t, c: c, fr: http2.NewFramer(c, c)}
	x.enc = hpack.NewEncoder(&x.hb)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := x.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return x
}

// open starts a PushStream call on stream id, leaving it open.
func (x *h2) open(id uint32) {
	x.t.Helper()
	x.hb.Reset()
	for _, f := range [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":path", "/sluice.v1.IngestService/PushStream"},
		{":authority", "sluice"}, {"content-type", "application/grpc"}, {"te", "trailers"},
	} {
		_ = x.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := x.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: x.hb.Bytes(), EndHeaders: true}); err != nil {
		x.t.Fatal(err)
	}
}

// until reads frames until match returns true for one, and returns it.
func (x *h2) until(what string, match func(http2.Frame) bool) http2.Frame {
	x.t.Helper()
	for {
		f, err := x.fr.ReadFrame()
		if err != nil {
			x.t.Fatalf("waiting for %s: %v", what, err)
		}
		if match(f) {
			return f
		}
	}
}

// A client that opens more calls on one connection than the server allows has the
// extra ones refused (REFUSED_STREAM), after the server announced its bound.
func TestMaxConcurrentStreams(t *testing.T) {
	h := newHarness(t, setup{cfg: grpcrecv.Config{MaxConcurrentStreams: 2}})
	x := dialH2(t, serveTCP(t, h))
	s := x.until("the server's SETTINGS", func(f http2.Frame) bool {
		sf, ok := f.(*http2.SettingsFrame)
		return ok && !sf.IsAck()
	}).(*http2.SettingsFrame)
	if v, ok := s.Value(http2.SettingMaxConcurrentStreams); !ok || v != 2 {
		t.Errorf("server announces max concurrent streams %d (%v), want 2", v, ok)
	}
	x.open(1)
	x.open(3)
	x.open(5)
	rst := x.until("RST_STREAM", func(f http2.Frame) bool { _, ok := f.(*http2.RSTStreamFrame); return ok }).(*http2.RSTStreamFrame)
	if rst.StreamID != 5 || rst.ErrCode != http2.ErrCodeRefusedStream {
		t.Fatalf("RST_STREAM of stream %d with %v, want stream 5 refused", rst.StreamID, rst.ErrCode)
	}
}

// A client that pings more often than keepalive_min_time is disconnected.
func TestKeepalivePingFlood(t *testing.T) {
	h := newHarness(t, setup{cfg: grpcrecv.Config{KeepaliveMinTime: time.Hour}})
	x := dialH2(t, serveTCP(t, h))
	x.open(1) // pings with a call open are judged by keepalive_min_time
	for i := range 4 {
		if err := x.fr.WritePing(false, [8]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	ga := x.until("GOAWAY", func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok }).(*http2.GoAwayFrame)
	if ga.ErrCode != http2.ErrCodeEnhanceYourCalm || string(ga.DebugData()) != "too_many_pings" {
		t.Fatalf("GOAWAY %v %q, want ENHANCE_YOUR_CALM too_many_pings", ga.ErrCode, ga.DebugData())
	}
}

// A malformed Content-Type on the REST mapping is refused before grpc-gateway, which
// would log it at ERROR level and decode the body anyway.
func TestRESTMalformedContentType(t *testing.T) {
	h := newHarness(t, setup{})
	url := h.rest(nil)
	r := postJSON(t, url, `{"events":[{"type":"waf","message":"m"}]}`, "Content-Type", "application/json; =bad")
	if r.status != http.StatusUnsupportedMediaType || !strings.Contains(string(r.body), "malformed Content-Type") {
		t.Fatalf("POST with a malformed Content-Type = %d %s, want 415 naming it", r.status, r.body)
	}
	if recs := h.settle(); len(recs) != 0 {
		t.Errorf("stream holds %d records", len(recs))
	}
}
