package deadletter_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/sluice-siem/sluice/sink"
	"github.com/sluice-siem/sluice/sink/deadletter"
	"github.com/sluice-siem/sluice/sink/search"
	"github.com/sluice-siem/sluice/sink/search/searchtest"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis"
	"github.com/sluice-siem/sluice/stream/kinesis/kinesistest"
	"github.com/sluice-siem/sluice/transform"
)

// producerConfig is a producer of the test Kinesis server at endpoint, quick to give
// up.
func producerConfig(endpoint string) kinesis.Config {
	cfg := kinesis.DefaultConfig()
	cfg.Endpoint, cfg.Region = endpoint, kinesistest.Region
	cfg.Credentials.AccessKeyID, cfg.Credentials.SecretAccessKey = kinesistest.AccessKeyID, kinesistest.SecretAccessKey
	cfg.Linger = 5 * time.Millisecond
	cfg.RequestTimeout = 2 * time.Second
	cfg.Retry = kinesis.Retry{MaxAttempts: 3, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond, Timeout: 2 * time.Second}
	return cfg
}

func newWriter(t *testing.T, cfg kinesis.Config, name string) *deadletter.Kinesis {
	t.Helper()
	p, err := kinesis.New(context.Background(), cfg, kinesis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	k, err := deadletter.NewKinesis(p, name, deadletter.KinesisOptions{MaxRecordBytes: int(cfg.MaxRecordBytes)})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func letterDocs(prefix string, n int, at time.Time) []sink.Document {
	docs := make([]sink.Document, n)
	for i := range docs {
		id := fmt.Sprintf("src/shardId-00000000000%d/%d", i%3, 1000+i)
		b, _ := json.Marshal(deadletter.Body{Timestamp: at.Format(time.RFC3339Nano), LogType: "fw", Index: "logs-fw-default", ID: id,
			Status: 400, Error: deadletter.Error{Type: "mapper_parsing_exception", Reason: prefix},
			Event: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)), Position: deadletter.ParsePosition(id)})
		docs[i] = sink.Document{Type: deadletter.Type, Time: at, ID: id, Body: b}
	}
	return docs
}

// readIDs reads the dead letters of a stream and returns their ids by reason, sorted.
func readIDs(t *testing.T, r deadletter.StreamReader, name string, opts deadletter.ReadOptions) map[string][]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := map[string][]string{}
	err := deadletter.ReadStream(ctx, r, name, opts, func(l deadletter.Letter, err error) error {
		if err != nil {
			t.Errorf("%s: %v", l.Source, err)
			return nil
		}
		out[l.Reason] = append(out[l.Reason], l.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, ids := range out {
		slices.Sort(ids)
	}
	return out
}

// TestKinesisRoundTrip writes dead letters through the real producer to a stream of
// three shards on kinesalite and reads them back: all shards, each letter once, and a
// reading ends at the data present when it began (Until), or starts at Since.
func TestKinesisRoundTrip(t *testing.T) {
	endpoint := kinesistest.Endpoint(t)
	kc := kinesistest.Client(t, endpoint)
	name := kinesistest.CreateStream(t, kc, 3)
	cfg := producerConfig(endpoint)
	w := newWriter(t, cfg, name)
	ctx := context.Background()

	first := letterDocs("first", 60, time.Now())
	if err := w.Write(ctx, first); err != nil {
		t.Fatal(err)
	}
	var wantFirst []string
	for _, d := range first {
		wantFirst = append(wantFirst, d.ID)
	}
	slices.Sort(wantFirst)

	r, err := kinesis.NewReader(ctx, cfg, kinesis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	shardsUsed := map[string]bool{}
	for _, rec := range kinesistest.ReadAll(t, kc, name) {
		shardsUsed[rec.Shard] = true
	}
	if len(shardsUsed) != 3 {
		t.Errorf("dead letters on %d shards, want all 3 (partition key: the document id)", len(shardsUsed))
	}

	time.Sleep(20 * time.Millisecond)
	cut := time.Now()
	time.Sleep(20 * time.Millisecond)
	if err := w.Write(ctx, letterDocs("second", 10, time.Now())); err != nil {
		t.Fatal(err)
	}

	got := readIDs(t, r, name, deadletter.ReadOptions{Until: cut})
	if !slices.Equal(got["first"], wantFirst) || len(got["second"]) != 0 {
		t.Errorf("until the cut: %d first (want 60), %d second (want 0)", len(got["first"]), len(got["second"]))
	}
	got = readIDs(t, r, name, deadletter.ReadOptions{Since: cut})
	if len(got["first"]) != 0 || len(got["second"]) != 10 {
		t.Errorf("since the cut: %d first (want 0), %d second (want 10)", len(got["first"]), len(got["second"]))
	}
	got = readIDs(t, r, name, deadletter.ReadOptions{})
	if len(got["first"]) != 60 || len(got["second"]) != 10 {
		t.Errorf("everything: %d first, %d second, want 60 and 10", len(got["first"]), len(got["second"]))
	}
}

// pipelineOf runs the transformer into a search sink whose dead letters go to dl.
func pipelineOf(t *testing.T, url, ns string, dl search.DeadLetters) *transform.Transformer {
	t.Helper()
	cfg := search.DefaultConfig()
	cfg.Addresses = []string{url}
	cfg.Namespace = ns
	cfg.RetryBase, cfg.RetryMax = 10*time.Millisecond, 100*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := search.New(ctx, cfg, search.Options{DeadLetters: dl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	tr, err := transform.New(s, transform.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// conflictBatch is a batch of a good event and one the template's mapping refuses.
func conflictBatch(typ string) stream.Batch {
	now := time.Now()
	rec := func(seq, event string) stream.Delivered {
		return stream.Delivered{Record: stream.Record{PartitionKey: "k", Data: stream.AppendEnvelope(nil, typ, "", now, []byte(event))},
			Stream: "src", Shard: "shardId-000000000000", Sequence: seq}
	}
	return stream.Batch{Stream: "src", Shard: "shardId-000000000000", Records: []stream.Delivered{
		rec("100", `{"message":"good","source":{"port":443}}`),
		rec("101", `{"message":"bad","source":{"port":"https"}}`),
	}}
}

// TestDeadLetterWriteFailureHoldsTheBatch: while the dead-letter stream is missing or
// its endpoint is down, the transformer's batch is not acknowledged (Handle fails), so
// the consumer delivers it again; once the stream exists, the same batch is
// acknowledged, the refused document is in the stream, and the good one is indexed
// once.
func TestDeadLetterWriteFailureHoldsTheBatch(t *testing.T) {
	url := searchtest.OpenSearchURL(t)
	endpoint := kinesistest.Endpoint(t)
	kc := kinesistest.Client(t, endpoint)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ns, typ := "dlf"+hex.EncodeToString(b), "dlftype"
	name := kinesistest.StreamName(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The endpoint is down: nothing listens on the port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close()
	tr := pipelineOf(t, url, ns, newWriter(t, producerConfig(down), name))
	if err := tr.Handle(ctx, conflictBatch(typ)); err == nil || !strings.Contains(err.Error(), "dead letters") {
		t.Errorf("Handle with the dead-letter endpoint down = %v, want a dead-letter error", err)
	}

	// The stream is missing.
	tr = pipelineOf(t, url, ns, newWriter(t, producerConfig(endpoint), name))
	err = tr.Handle(ctx, conflictBatch(typ))
	if err == nil || !strings.Contains(err.Error(), name) {
		t.Fatalf("Handle with the dead-letter stream missing = %v, want an error naming it", err)
	}
	t.Logf("missing stream: %v", err)

	// The stream exists now: the redelivered batch is acknowledged.
	if _, err := kc.CreateStream(ctx, &awskinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = kc.DeleteStream(context.Background(), &awskinesis.DeleteStreamInput{StreamName: aws.String(name)})
	})
	kinesistest.WaitActive(t, kc, name)
	tr = pipelineOf(t, url, ns, newWriter(t, producerConfig(endpoint), name))
	if err := tr.Handle(ctx, conflictBatch(typ)); err != nil {
		t.Fatalf("Handle once the stream exists: %v", err)
	}
	var letters []deadletter.Letter
	for _, rec := range kinesistest.ReadAll(t, kc, name) {
		for _, u := range rec.Users {
			l, err := deadletter.Parse(u.Data)
			if err != nil {
				t.Fatal(err)
			}
			letters = append(letters, l)
		}
	}
	if len(letters) != 1 || letters[0].ID != "src/shardId-000000000000/101" || letters[0].ErrorType != "mapper_parsing_exception" ||
		!strings.Contains(string(letters[0].Original), `"port":"https"`) {
		t.Errorf("dead letters = %+v", letters)
	}
	index := "logs-" + typ + "-" + ns
	if n := searchtest.Count(t, url, index); n != 1 {
		t.Errorf("%s holds %d documents, want the good one once", index, n)
	}
}
