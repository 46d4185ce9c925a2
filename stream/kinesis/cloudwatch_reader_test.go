package kinesis_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis"
	"github.com/sluice-siem/sluice/stream/kinesis/kinesistest"
	"github.com/sluice-siem/sluice/transform/consume"
	"github.com/sluice-siem/sluice/transform/consume/consumetest"
)

// cloudWatchRecord is a record as a CloudWatch Logs subscription filter writes it: the
// gzip-compressed JSON of a DATA_MESSAGE of the log events named id-0, id-1, ... (or
// of a CONTROL_MESSAGE, without events).
func cloudWatchRecord(t testing.TB, control bool, ids ...string) []byte {
	t.Helper()
	var events []string
	for i, id := range ids {
		events = append(events, fmt.Sprintf(`{"id":%q,"timestamp":%d,"message":"2 123456789012 eni-0a1b2c3d4e5f60718 203.0.113.15 10.0.1.25 5123%d 22 6 18 4312 1795676400 1795676460 ACCEPT OK"}`,
			id, int64(1795676400000)+int64(i), i))
	}
	typ := "DATA_MESSAGE"
	if control {
		typ = "CONTROL_MESSAGE"
	}
	return gzipBytes(t, []byte(`{"messageType":"`+typ+`","owner":"123456789012","logGroup":"/vpc/flow-logs","logStream":"eni-0a1b2c3d4e5f60718-all",`+
		`"subscriptionFilters":["to-kinesis"],"logEvents":[`+strings.Join(events, ",")+`]}`))
}

func gzipBytes(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// putRaw puts records as another producer would, in order on one partition key, and
// returns their sequence numbers.
func putRaw(t testing.TB, c *awskinesis.Client, streamName string, records ...[]byte) []string {
	t.Helper()
	var seqs []string
	for _, data := range records {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		out, err := c.PutRecord(ctx, &awskinesis.PutRecordInput{StreamName: aws.String(streamName), PartitionKey: aws.String("cwl"), Data: data})
		cancel()
		if err != nil {
			t.Fatalf("PutRecord: %v", err)
		}
		seqs = append(seqs, aws.ToString(out.SequenceNumber))
	}
	return seqs
}

// logBuffer is a log the test reads.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// cloudWatchConfig is testConfig with streamName declared a CloudWatch Logs source of
// log type vpcflow.
func cloudWatchConfig(endpoint, streamName string) kinesis.Config {
	cfg := testConfig(endpoint)
	cfg.Sources = map[string]kinesis.Source{streamName: {Format: kinesis.FormatCloudWatchLogs, Type: "vpcflow"}}
	return cfg
}

// TestReaderCloudWatch reads a stream that a CloudWatch Logs subscription writes: each
// log event is a user record with its id and a sub-sequence, a control message is one
// NoEvent record (for its checkpoint), a decompression bomb is delivered as it is
// with the reason logged, and a reader opened inside a record skips the user records
// the checkpoint covers.
func TestReaderCloudWatch(t *testing.T) {
	endpoint := kinesistest.Endpoint(t)
	admin := kinesistest.Client(t, endpoint)
	name := kinesistest.CreateStream(t, admin, 1)
	bomb := gzipBytes(t, bytes.Repeat([]byte{'{'}, int(kinesis.DefaultMaxDecompressedBytes)+1))
	seqs := putRaw(t, admin, name,
		cloudWatchRecord(t, false, "a0", "a1", "a2"),
		cloudWatchRecord(t, true),
		bomb,
		cloudWatchRecord(t, false, "d0", "d1"))
	var log logBuffer
	r, err := kinesis.NewReader(context.Background(), cloudWatchConfig(endpoint, name), kinesis.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	shard := kinesistest.Shards(t, admin, name)[0].ID

	// describe names each delivered record: seq/sub/id of an event, seq/no-event of a
	// record that holds none, seq/raw of one delivered as it is.
	describe := func(recs []stream.Delivered) []string {
		var out []string
		for _, d := range recs {
			seq := "?"
			for i, s := range seqs {
				if s == d.Sequence {
					seq = fmt.Sprint("r", i)
				}
			}
			switch {
			case d.NoEvent:
				out = append(out, fmt.Sprintf("%s/no-event/aggregated=%v/data=%d", seq, d.Aggregated, len(d.Data)))
			case bytes.Equal(d.Data, bomb):
				out = append(out, fmt.Sprintf("%s/raw/aggregated=%v", seq, d.Aggregated))
			default:
				env, err := stream.ParseEnvelope(d.Data)
				if err != nil {
					t.Fatalf("%s: %v", seq, err)
				}
				if env.Type != "vpcflow" || env.Received.Year() != 2026 || d.PartitionKey != "cwl" || d.Stream != name || d.Shard != shard {
					t.Errorf("%s/%d: %s %s %q %s %s", seq, d.SubSequence, env.Type, env.Received, d.PartitionKey, d.Stream, d.Shard)
				}
				out = append(out, fmt.Sprintf("%s/%d/%s/aggregated=%v", seq, d.SubSequence, env.ID, d.Aggregated))
			}
		}
		return out
	}
	all, _ := readShard(t, r, name, shard, stream.Checkpoint{}, stream.Start{Position: stream.TrimHorizon})
	want := []string{
		"r0/0/a0/aggregated=true", "r0/1/a1/aggregated=true", "r0/2/a2/aggregated=true",
		"r1/no-event/aggregated=false/data=0",
		"r2/raw/aggregated=false",
		"r3/0/d0/aggregated=true", "r3/1/d1/aggregated=true",
	}
	if got := describe(all); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("read\n%v\nwant\n%v", got, want)
	}
	if !strings.Contains(log.String(), "decompresses to more than max_decompressed_bytes (10MiB)") || !strings.Contains(log.String(), seqs[2]) {
		t.Errorf("the bomb's warning is not in the log:\n%s", log.String())
	}

	// A restart inside the first record: its user records 0 and 1 are processed.
	rest, _ := readShard(t, r, name, shard, stream.Checkpoint{Sequence: seqs[0], Partial: true, SubSequence: 1}, stream.Start{Position: stream.TrimHorizon})
	if got := describe(rest); fmt.Sprint(got) != fmt.Sprint(want[2:]) {
		t.Errorf("after a partial checkpoint\n%v\nwant\n%v", got, want[2:])
	}
	// A restart after the control message.
	rest, _ = readShard(t, r, name, shard, stream.Checkpoint{Sequence: seqs[1]}, stream.Start{Position: stream.TrimHorizon})
	if got := describe(rest); fmt.Sprint(got) != fmt.Sprint(want[4:]) {
		t.Errorf("after the control message\n%v\nwant\n%v", got, want[4:])
	}
}

// TestConsumeCloudWatchControl: a consumer reading a CloudWatch Logs stream whose
// last record is a control message checkpoints past it, once the handler acknowledges
// the NoEvent record standing for it.
func TestConsumeCloudWatchControl(t *testing.T) {
	endpoint := kinesistest.Endpoint(t)
	admin := kinesistest.Client(t, endpoint)
	name := kinesistest.CreateStream(t, admin, 1)
	seqs := putRaw(t, admin, name, cloudWatchRecord(t, false, "e0", "e1"), cloudWatchRecord(t, true))
	r := newReader(t, cloudWatchConfig(endpoint, name))
	store := consume.NewMemoryStore()
	var mu sync.Mutex
	var handled []stream.Delivered
	ccfg := consumetest.FastConfig(consumetest.MemoryTiming, "w", name)
	consumetest.RunWorker(t, ccfg, store, r, func(_ context.Context, b stream.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		handled = append(handled, b.Records...)
		return nil
	})
	deadline := time.Now().Add(patience)
	for {
		leases, err := store.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(leases) == 1 && leases[0].Checkpoint == (stream.Checkpoint{Sequence: seqs[1]}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("leases %+v: the checkpoint did not reach the control message %s", leases, seqs[1])
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(handled) != 3 || handled[0].Sequence != seqs[0] || handled[1].SubSequence != 1 || handled[2].Sequence != seqs[1] || !handled[2].NoEvent || handled[1].NoEvent {
		t.Errorf("handled %d records: %+v", len(handled), handled)
	}
}
