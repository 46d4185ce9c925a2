package grpcrecv

import (
	"context"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	protocodec "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sluice-siem/sluice/internal/chunks"
	sluicev1 "github.com/sluice-siem/sluice/proto/sluice/v1"
)

// A request that is not valid protobuf is the client's mistake: INVALID_ARGUMENT. But
// grpc-go (v1.85, rpc_util.go recv) turns any error of the codec's Unmarshal into
// INTERNAL, and its RecvMsg writes that status to the client at once, before a handler
// or interceptor could map it. So the service's handlers (serviceDesc) hand the codec a
// *decodeInto instead of the request, the server's codec (serverCodec) decodes into its
// message and keeps the error there instead of returning it, and the handler answers
// INVALID_ARGUMENT with it. Everything else decodes as with grpc-go's own proto codec.

// decodeInto is a request message for serverCodec to decode, and the error of
// decoding it.
type decodeInto struct {
	msg proto.Message
	err error
}

// serverCodec is grpc-go's proto codec, except that decoding into a *decodeInto never
// fails: the error is kept in it.
type serverCodec struct{ encoding.CodecV2 }

func newServerCodec() serverCodec { return serverCodec{encoding.GetCodecV2(protocodec.Name)} }

// RawMessage is a request a service's handler decodes itself: the codec hands over
// the message's bytes (the OTLP logs service, gateway/otlprecv, reads them with its
// own wire decoder), in a buffer from internal/chunks that the handler gives back with
// Release once it no longer needs them.
type RawMessage struct {
	Data   []byte
	pooled bool
}

// Release gives Data's buffer back for reuse; neither Data nor anything that points
// into it may be used after it. It is a no-op on a message without a buffer.
func (r *RawMessage) Release() {
	if r.pooled {
		chunks.Put(r.Data)
	}
	r.Data, r.pooled = nil, false
}

// Unmarshal decodes data into v; for a *decodeInto, into its message, keeping the error;
// for a *RawMessage, its bytes, copied into a pooled buffer (grpc frees data when
// Unmarshal returns).
func (c serverCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*RawMessage); ok {
		b := chunks.Get(data.Len())
		for _, piece := range data {
			b = append(b, piece.ReadOnlyData()...)
		}
		r.Data, r.pooled = b, true
		return nil
	}
	if d, ok := v.(*decodeInto); ok {
		d.err = c.CodecV2.Unmarshal(data, d.msg)
		return nil
	}
	return c.CodecV2.Unmarshal(data, v)
}

// serviceDesc is IngestService's description with handlers that receive requests
// through s.decode; it needs serverCodec on the server (ServerOptions sets it).
func (s *Service) serviceDesc() *grpc.ServiceDesc {
	desc := sluicev1.IngestService_ServiceDesc
	desc.Methods = slices.Clone(desc.Methods)
	for i := range desc.Methods {
		h := desc.Methods[i].Handler
		desc.Methods[i].Handler = func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
			return h(srv, ctx, func(m any) error { return s.decode(dec, m) }, icpt)
		}
	}
	desc.Streams = slices.Clone(desc.Streams)
	for i := range desc.Streams {
		h := desc.Streams[i].Handler
		desc.Streams[i].Handler = func(srv any, ss grpc.ServerStream) error {
			return h(srv, decodingStream{ss, s})
		}
	}
	return &desc
}

// decode receives a request into m with recv, answering INVALID_ARGUMENT when it does
// not decode.
func (s *Service) decode(recv func(any) error, m any) error {
	msg, ok := m.(proto.Message)
	if !ok {
		return recv(m)
	}
	d := &decodeInto{msg: msg}
	if err := recv(d); err != nil {
		return err
	}
	if d.err != nil {
		return status.Errorf(codes.InvalidArgument, "request is not a valid %s: %v", msg.ProtoReflect().Descriptor().FullName(), d.err)
	}
	return nil
}

// decodingStream receives a stream's requests through decode.
type decodingStream struct {
	grpc.ServerStream
	s *Service
}

func (d decodingStream) RecvMsg(m any) error {
	return d.s.decode(d.ServerStream.RecvMsg, m)
}
