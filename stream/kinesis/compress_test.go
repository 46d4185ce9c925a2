package kinesis_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/klauspost/compress/zstd"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis"
	"github.com/sluice-siem/sluice/stream/kinesis/kinesistest"
)

// TestCompressedRecords writes one stream with compression off, then on (a rolling
// upgrade of the gateways), into kinesalite: the records written with it on are zstd
// frames holding the KPL aggregate, smaller than the uncompressed ones, and the reader
// delivers every event of both kinds once.
func TestCompressedRecords(t *testing.T) {
	endpoint := kinesistest.Endpoint(t)
	admin := kinesistest.Client(t, endpoint)
	name := kinesistest.CreateStream(t, admin, 2)
	var sent []stream.Record
	bytesOf := map[string]int{}
	for _, compression := range []string{kinesis.CompressionNone, kinesis.CompressionZstd} {
		cfg := testConfig(endpoint)
		cfg.Compression = compression
		p := newProducer(t, cfg)
		evs := compressibleEvents(compression, 2000)
		if err := p.Put(context.Background(), name, evs); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, evs...)
		seen := map[string]bool{}
		for _, r := range kinesistest.ReadAll(t, admin, name) {
			seen[r.Sequence] = true
			if bytesOf[r.Sequence] == 0 {
				bytesOf[r.Sequence] = len(r.Data)
				if kinesis.IsCompressed(r.Data) != (compression == kinesis.CompressionZstd) {
					t.Errorf("compression %s: record %s compressed=%v", compression, r.Sequence, kinesis.IsCompressed(r.Data))
				}
				bytesOf[compression] += len(r.Data)
			}
		}
	}
	if bytesOf[kinesis.CompressionZstd]*3 > bytesOf[kinesis.CompressionNone] {
		t.Errorf("compressed records hold %d bytes, uncompressed %d for as many events: want at least three times less", bytesOf[kinesis.CompressionZstd], bytesOf[kinesis.CompressionNone])
	}
	t.Logf("2000 events: %d bytes uncompressed, %d compressed", bytesOf[kinesis.CompressionNone], bytesOf[kinesis.CompressionZstd])

	for _, compression := range []string{kinesis.CompressionNone, kinesis.CompressionZstd} {
		cfg := testConfig(endpoint)
		cfg.Compression = compression // the reader's setting does not matter
		got := readAll(t, newReader(t, cfg), name)
		if !slices.Equal(deliveredSet(got), dataSet(sent)) {
			t.Fatalf("reader (compression %s): %d events read, %d sent", compression, len(got), len(sent))
		}
	}
}

// compressibleEvents are n envelopes of firewall-like events: compressible as real
// logs are.
func compressibleEvents(tag string, n int) []stream.Record {
	r := rand.New(rand.NewPCG(3, 4))
	out := make([]stream.Record, n)
	for i := range out {
		ev := fmt.Sprintf(`{"message":"<4>Dec  6 23:50:%02d fw01 kernel: FW-DROP: IN=eth0 OUT= SRC=203.0.113.%d DST=10.1.2.%d LEN=60 TOS=0x00 PROTO=TCP SPT=%d DPT=22 WINDOW=29200 SYN","tag":%q,"i":%d}`,
			i%60, r.IntN(256), r.IntN(256), 1024+r.IntN(60000), tag, i)
		out[i] = stream.Record{PartitionKey: fmt.Sprint("host-", i%10), Data: stream.AppendEnvelope(nil, "firewall", "", at, []byte(ev))}
	}
	return out
}

// TestCompressionBomb puts a zstd record that decompresses past max_decompressed_bytes
// and one that is no zstd frame at all behind the magic: the reader delivers each as it
// is (the transformer makes a dead letter of it, saying why) and goes on to the next
// record.
func TestCompressionBomb(t *testing.T) {
	endpoint := kinesistest.Endpoint(t)
	admin := kinesistest.Client(t, endpoint)
	name := kinesistest.CreateStream(t, admin, 1)
	enc, _ := zstd.NewWriter(nil)
	bomb := enc.EncodeAll(make([]byte, 2<<20), nil) // 2 MiB of zeros in a few hundred bytes
	broken := []byte("\x28\xb5\x2f\xfdnot a frame")
	good := stream.AppendEnvelope(nil, "firewall", "", at, []byte(`{"message":"after"}`))
	for _, data := range [][]byte{bomb, broken, good} {
		if _, err := admin.PutRecord(context.Background(), &awskinesis.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String("k"), Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := testConfig(endpoint)
	cfg.MaxDecompressedBytes = 1 << 20
	got := readAll(t, newReader(t, cfg), name)
	if len(got) != 3 || string(got[0].Data) != string(bomb) || string(got[1].Data) != string(broken) || string(got[2].Data) != string(good) {
		t.Fatalf("read %d records, want the bomb and the broken frame as they are, then the event", len(got))
	}
}

// at is when the test events were received.
var at = time.Date(2026, 12, 6, 23, 50, 0, 0, time.UTC)

// TestForeignStream reads a stream that other producers write (declared in
// stream.kinesis.sources with the format auto): a JSON event naming its log type, a
// JSON event without, a raw line and one of sluice's compressed aggregates each come
// out as envelopes of the right log type.
func TestForeignStream(t *testing.T) {
	endpoint := kinesistest.Endpoint(t)
	admin := kinesistest.Client(t, endpoint)
	name := kinesistest.CreateStream(t, admin, 1)
	for _, data := range []string{`{"event":{"dataset":"waf"},"message":"a"}`, `{"message":"b"}`, "c plain line\n"} {
		if _, err := admin.PutRecord(context.Background(), &awskinesis.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String("k"), Data: []byte(data)}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := testConfig(endpoint)
	if err := newProducer(t, cfg).Put(context.Background(), name, compressibleEvents("sluice", 50)); err != nil {
		t.Fatal(err)
	}
	cfg.Sources = map[string]kinesis.Source{name: {Format: kinesis.FormatAuto, Type: "app", TypeField: "event.dataset"}}
	types := map[string]int{}
	var messages []string
	for _, r := range readAll(t, newReader(t, cfg), name) {
		env, err := stream.ParseEnvelope(r.Data)
		if err != nil {
			t.Fatalf("record %s: %v", r.Sequence, err)
		}
		types[env.Type]++
		if env.Type != "firewall" {
			messages = append(messages, env.Type+":"+string(env.Event))
		}
	}
	want := []string{`waf:{"event":{"dataset":"waf"},"message":"a"}`, `app:{"message":"b"}`, `app:{"message":"c plain line"}`}
	if types["firewall"] != 50 || !slices.Equal(messages, want) {
		t.Fatalf("types %v, foreign events %q; want 50 firewall and %q", types, messages, want)
	}
}
