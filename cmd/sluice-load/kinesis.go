package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sluice-siem/sluice/internal/retry"
	"github.com/sluice-siem/sluice/stream/kinesis"
	"github.com/sluice-siem/sluice/stream/kinesis/kpl"
)

// createStreams makes the named streams with shards shards each on a Kinesis-compatible
// server at endpoint (kinesalite in scripts/bench.sh) and waits until they are active.
// A stream that already exists is left as it is.
func createStreams(ctx context.Context, endpoint, region string, shards int, names []string, allowRemote bool) error {
	if shards < 1 || shards > 1024 {
		return fmt.Errorf("--shards must be 1 to 1024, not %d", shards)
	}
	kc, done, err := kinesisClient(ctx, endpoint, region, allowRemote)
	if err != nil {
		return err
	}
	defer done()
	for _, name := range names {
		_, err := kc.CreateStream(ctx, &awskinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(int32(shards))})
		var inUse *types.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) {
			return fmt.Errorf("create stream %s: %w", name, err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, name := range names {
		for {
			out, err := kc.DescribeStreamSummary(wctx, &awskinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
			if err != nil {
				return fmt.Errorf("wait for stream %s: %w", name, err)
			}
			if out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
				break
			}
			if !retry.Sleep(wctx, 20*time.Millisecond) {
				return fmt.Errorf("wait for stream %s to become active: %w", name, wctx.Err())
			}
		}
	}
	return nil
}

// kinesisClient returns a client of the Kinesis-compatible server at endpoint (a
// loopback address unless allowRemote), and a function that closes its connections.
func kinesisClient(ctx context.Context, endpoint, region string, allowRemote bool) (*awskinesis.Client, func(), error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, nil, fmt.Errorf("endpoint %q: want http://host:port", endpoint)
	}
	hostport := u.Host
	if u.Port() == "" {
		hostport = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	if err := checkLoopback(ctx, hostport, allowRemote); err != nil {
		return nil, nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	kc := awskinesis.New(awskinesis.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		// A compatible server checks that requests are signed, not by whom.
		Credentials: credentials.NewStaticCredentialsProvider("sluice-bench", "sluice-bench", ""),
		HTTPClient:  &http.Client{Transport: tr},
	})
	return kc, tr.CloseIdleConnections, nil
}

// Formats of the records --kinesis-streams holds.
const (
	// kinesisSluice: sluice's (docs/stream-format.md): zstd frames and KPL aggregates
	// of envelopes, or one envelope a record.
	kinesisSluice = "sluice"
	// kinesisOTLP: each record an OTLP ExportLogsServiceRequest, as the OpenTelemetry
	// Collector's awskinesis exporter writes with encoding otlp_proto.
	kinesisOTLP = "otlp"
)

// streamCount is what streams hold: records, the bytes of their data, and the events
// those carry.
type streamCount struct {
	Records, Bytes, Events int64
}

// maxDecompressed bounds one record once decompressed, as the transformer's reader
// does by default.
const maxDecompressed = 10 << 20

// countStreams reads every shard of the named streams from its start to its end and
// counts what they hold, events as format says.
func countStreams(ctx context.Context, endpoint string, names []string, format string, allowRemote bool) (streamCount, error) {
	var n streamCount
	kc, done, err := kinesisClient(ctx, endpoint, "us-east-1", allowRemote)
	if err != nil {
		return n, err
	}
	defer done()
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxDecompressed))
	if err != nil {
		return n, fmt.Errorf("zstd reader: %w", err)
	}
	defer dec.Close()
	count := func(data []byte) (int64, error) {
		if format == kinesisOTLP {
			return otlpLogRecords(data)
		}
		return sluiceEvents(dec, data)
	}
	for _, name := range names {
		shards, err := kc.ListShards(ctx, &awskinesis.ListShardsInput{StreamName: aws.String(name)})
		if err != nil {
			return n, fmt.Errorf("list shards of %s: %w", name, err)
		}
		for _, sh := range shards.Shards {
			it, err := kc.GetShardIterator(ctx, &awskinesis.GetShardIteratorInput{StreamName: aws.String(name),
				ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
			if err != nil {
				return n, fmt.Errorf("read shard %s of %s: %w", aws.ToString(sh.ShardId), name, err)
			}
			for iter := it.ShardIterator; iter != nil; {
				out, err := kc.GetRecords(ctx, &awskinesis.GetRecordsInput{ShardIterator: iter})
				if err != nil {
					return n, fmt.Errorf("read shard %s of %s: %w", aws.ToString(sh.ShardId), name, err)
				}
				for _, r := range out.Records {
					events, err := count(r.Data)
					if err != nil {
						return n, fmt.Errorf("record %s of shard %s of %s: %w", aws.ToString(r.SequenceNumber), aws.ToString(sh.ShardId), name, err)
					}
					n.Records++
					n.Bytes += int64(len(r.Data))
					n.Events += events
				}
				if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
					break
				}
				iter = out.NextShardIterator
			}
		}
	}
	return n, nil
}

// sluiceEvents counts the events of one of sluice's records: a zstd frame is
// decompressed first, an aggregate holds one event a user record, anything else is
// one envelope.
func sluiceEvents(dec *zstd.Decoder, data []byte) (int64, error) {
	if kinesis.IsCompressed(data) {
		var err error
		if data, err = dec.DecodeAll(data, nil); err != nil {
			return 0, fmt.Errorf("decompress: %w", err)
		}
	}
	if !kpl.IsAggregated(data) {
		return 1, nil
	}
	users, err := kpl.Deaggregate("", data)
	if err != nil {
		return 0, fmt.Errorf("de-aggregate: %w", err)
	}
	return int64(len(users)), nil
}

// otlpLogRecords counts the log records of an OTLP ExportLogsServiceRequest: field 1
// (resource_logs) holds ResourceLogs, their field 2 (scope_logs) ScopeLogs, and theirs
// field 2 (log_records) one LogRecord each (opentelemetry/proto/logs/v1/logs.proto).
func otlpLogRecords(data []byte) (int64, error) {
	var n int64
	err := protoMessages(data, 1, func(resource []byte) error {
		return protoMessages(resource, 2, func(scope []byte) error {
			return protoMessages(scope, 2, func([]byte) error { n++; return nil })
		})
	})
	return n, err
}

// protoMessages calls fn with each length-delimited value of field num in the
// protobuf message b, skipping the other fields.
func protoMessages(b []byte, num protowire.Number, fn func([]byte) error) error {
	for len(b) > 0 {
		field, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("protobuf: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if field == num && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return fmt.Errorf("protobuf field %d: %w", num, protowire.ParseError(n))
			}
			if err := fn(v); err != nil {
				return err
			}
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(field, typ, b)
		if n < 0 {
			return fmt.Errorf("protobuf field %d: %w", field, protowire.ParseError(n))
		}
		b = b[n:]
	}
	return nil
}
