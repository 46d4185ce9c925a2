package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/klauspost/compress/zstd"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis/kinesistest"
	"github.com/sluice-siem/sluice/stream/kinesis/kpl"
)

// otlpRequest is an OTLP logs request as the Collector's awskinesis exporter puts it,
// made with the generated types: resources with scopes of the given numbers of log
// records, with attributes and a deprecated-field-free shape.
func otlpRequest(t testing.TB, scopes ...[]int) []byte {
	t.Helper()
	req := &collogspb.ExportLogsServiceRequest{}
	for i, resource := range scopes {
		rl := &logspb.ResourceLogs{Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
			{Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: fmt.Sprint("svc", i)}}}}}}
		for _, n := range resource {
			sl := &logspb.ScopeLogs{Scope: &commonpb.InstrumentationScope{Name: "s"}}
			for j := range n {
				sl.LogRecords = append(sl.LogRecords, &logspb.LogRecord{TimeUnixNano: uint64(j),
					Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "line"}}})
			}
			rl.ScopeLogs = append(rl.ScopeLogs, sl)
		}
		req.ResourceLogs = append(req.ResourceLogs, rl)
	}
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOTLPLogRecords(t *testing.T) {
	for _, c := range []struct {
		scopes [][]int
		want   int64
	}{
		{nil, 0},
		{[][]int{{1}}, 1},
		{[][]int{{2, 3}, {0}, {4}}, 9},
	} {
		b := otlpRequest(t, c.scopes...)
		if got, err := otlpLogRecords(b); err != nil || got != c.want {
			t.Errorf("%v: %d, %v; want %d", c.scopes, got, err, c.want)
		}
		if len(b) > 1 {
			if n, err := otlpLogRecords(b[:len(b)-1]); err == nil {
				t.Errorf("%v cut short by a byte: %d records, no error", c.scopes, n)
			}
		}
	}
}

// TestCountStreams puts records of both formats into kinesalite with the SDK (a plain
// envelope, an aggregate, a compressed aggregate; OTLP requests) and counts them back.
func TestCountStreams(t *testing.T) {
	endpoint := kinesistest.Endpoint(t)
	admin := kinesistest.Client(t, endpoint)
	sluiceStream := kinesistest.CreateStream(t, admin, 2)
	otlpStream := kinesistest.CreateStream(t, admin, 1)
	ctx := context.Background()
	envelope := func(i int) []byte {
		return stream.AppendEnvelope(nil, "firewall", "", time.Unix(int64(i), 0), []byte(fmt.Sprintf(`{"message":"line %d"}`, i)))
	}
	aggregate := func(n int) []byte {
		var a kpl.Aggregator
		for i := range n {
			a.Add("k", "", envelope(i))
		}
		return a.AppendTo(nil)
	}
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	put := func(streamName string, data ...[]byte) int64 {
		var bytes int64
		for i, d := range data {
			if _, err := admin.PutRecord(ctx, &awskinesis.PutRecordInput{StreamName: aws.String(streamName),
				PartitionKey: aws.String(fmt.Sprint("k", i)), Data: d}); err != nil {
				t.Fatal(err)
			}
			bytes += int64(len(d))
		}
		return bytes
	}
	sluiceBytes := put(sluiceStream, envelope(0), aggregate(3), enc.EncodeAll(aggregate(5), nil))
	otlpBytes := put(otlpStream, otlpRequest(t, []int{2, 3}), otlpRequest(t, []int{4}, []int{1}))

	got, err := countStreams(ctx, endpoint, []string{sluiceStream}, kinesisSluice, false)
	if want := (streamCount{Records: 3, Bytes: sluiceBytes, Events: 9}); err != nil || got != want {
		t.Errorf("sluice stream: %+v, %v; want %+v", got, err, want)
	}
	got, err = countStreams(ctx, endpoint, []string{otlpStream}, kinesisOTLP, false)
	if want := (streamCount{Records: 2, Bytes: otlpBytes, Events: 10}); err != nil || got != want {
		t.Errorf("otlp stream: %+v, %v; want %+v", got, err, want)
	}
	// The wrong --kinesis-format undercounts (an OTLP request is not an aggregate, so
	// it reads as one event): the run then fails rather than passing by chance.
	got, err = countStreams(ctx, endpoint, []string{otlpStream}, kinesisSluice, false)
	if want := (streamCount{Records: 2, Bytes: otlpBytes, Events: 2}); err != nil || got != want {
		t.Errorf("otlp stream read as sluice's: %+v, %v; want %+v", got, err, want)
	}
	if _, err := countStreams(ctx, endpoint, []string{"no-such-stream"}, kinesisSluice, false); err == nil || !strings.Contains(err.Error(), "no-such-stream") {
		t.Errorf("a missing stream: %v", err)
	}
}

func TestRunRefusesBadKinesisFlags(t *testing.T) {
	for msg, args := range map[string][]string{
		"--kinesis-endpoint and --kinesis-streams go together": {"--kinesis-endpoint", "http://127.0.0.1:4567"},
		"--kinesis-format must be sluice or otlp":              {"--kinesis-endpoint", "http://127.0.0.1:4567", "--kinesis-streams", "a", "--kinesis-format", "kpl"},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), append([]string{"run", "--addr", "127.0.0.1:9", "--duration", "1s"}, args...), &out, &errOut)
		if code != 2 || !strings.Contains(errOut.String(), msg) {
			t.Errorf("%q: exit %d, stderr %q: want 2 and %q", args, code, errOut.String(), msg)
		}
	}
}

func TestTableStreams(t *testing.T) {
	rows := []*scenarioRow{{label: "otlp -> kinesis",
		subject: &summary{OK: true, Role: "subject", Events: counts{Acked: 2000},
			Stream: &streamFigures{Events: 2000, Records: 2, Bytes: 116000, BytesPerEvent: 58}},
		baseline: &summary{OK: true, Role: "baseline", Events: counts{Acked: 1500},
			Stream: &streamFigures{Events: 1500, Records: 3, Bytes: 496500, BytesPerEvent: 331}}}}
	var out bytes.Buffer
	writeTable(&out, rows)
	want := "- otlp -> kinesis: subject 2,000 events (2,000 acknowledged) in 2 records, 58.0 bytes per event; baseline 1,500 events (1,500 acknowledged) in 3 records, 331.0 bytes per event."
	if !strings.Contains(out.String(), want) {
		t.Errorf("table lacks %q:\n%s", want, out.String())
	}
	if strings.Contains(out.String(), "Received, by") {
		t.Errorf("a note of received counts without any:\n%s", out.String())
	}
}

// FuzzOTLPLogRecords holds the counter to the generated types: where they decode a
// request, the counter counts its log records; on anything it returns, never panics.
func FuzzOTLPLogRecords(f *testing.F) {
	f.Add(otlpRequest(f, []int{2, 3}, []int{1}))
	f.Add([]byte{0x0a, 0x02, 0x12, 0x00})
	f.Add([]byte{0x0a, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := otlpLogRecords(b)
		var req collogspb.ExportLogsServiceRequest
		if proto.Unmarshal(b, &req) != nil {
			return
		}
		var want int64
		for _, rl := range req.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				want += int64(len(sl.LogRecords))
			}
		}
		if err != nil || n != want {
			t.Errorf("%x: counted %d, %v; the generated types decode %d log records", b, n, err, want)
		}
	})
}
