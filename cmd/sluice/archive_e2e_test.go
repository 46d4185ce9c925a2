package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/zstd"

	"github.com/sluice-siem/sluice/internal/awsclient"
)

// TestDevArchivesToS3 runs sluice dev (the durable embedded stream, the file sink) with
// sink.archive on a real S3-compatible server (scripts/s3.sh): after a graceful stop,
// the bucket holds every event sent, once, in zstd NDJSON objects under the keys the
// README documents, and the file sink holds them too.
func TestDevArchivesToS3(t *testing.T) {
	b := newS3Bucket(t, "sluice-dev")
	cfg := devConfig(t)
	cfg.Sink.Archive.Bucket = b.name
	cfg.Sink.Archive.Prefix = "lake"
	cfg.Sink.Archive.Region = "us-east-1"
	cfg.Sink.Archive.Endpoint = b.endpoint
	cfg.Sink.Archive.PathStyle = true
	cfg.Sink.Archive.Credentials = awsclient.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}
	a, stop := startDev(t, cfg)
	want := send(t, a.httpLn.Addr().String(), a.grpcLn.Addr().String())
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	checkSink(t, cfg.Sink.File.Dir, want)

	objs := b.archived(t)
	if len(objs) == 0 {
		t.Fatal("the bucket holds no object")
	}
	got := sent{}
	for _, o := range objs {
		for _, m := range o.messages {
			got.add(o.typ, m)
		}
	}
	for typ := range want {
		slices.Sort(want[typ])
		slices.Sort(got[typ])
		if !slices.Equal(got[typ], want[typ]) {
			t.Errorf("type %s: the archive holds %d events, sent %d\narchive: %v\nsent: %v", typ, len(got[typ]), len(want[typ]), got[typ], want[typ])
		}
	}
	for typ := range got {
		if _, ok := want[typ]; !ok {
			t.Errorf("unexpected type %s in the archive", typ)
		}
	}
}

// s3Bucket is a fresh bucket on the S3 test server (scripts/s3.sh).
type s3Bucket struct {
	client         *s3.Client
	endpoint, name string
}

// newS3Bucket creates a bucket named prefix-<nanoseconds>; without the S3 test server
// the test is skipped.
func newS3Bucket(t *testing.T, prefix string) *s3Bucket {
	t.Helper()
	endpoint := os.Getenv("SLUICE_TEST_S3_ENDPOINT")
	if endpoint == "" {
		t.Skip("SLUICE_TEST_S3_ENDPOINT is not set: start the S3 test server with eval \"$(scripts/s3.sh env)\" (scripts/test.sh does)")
	}
	b := &s3Bucket{
		endpoint: endpoint,
		name:     fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()),
		client: s3.New(s3.Options{
			Region:       "us-east-1",
			BaseEndpoint: aws.String(endpoint),
			UsePathStyle: true,
			Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		}),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b.name)}); err != nil {
		t.Fatal(err)
	}
	return b
}

// archivedObject is one object of the archive: its key's parts and the messages of
// the raw events it holds, in order.
type archivedObject struct {
	key, typ, shard string
	first, last     string // stream positions: sequence[_sub]
	messages        []string
}

// archiveKey is the archive's key layout (README, sink/archive).
var archiveKey = regexp.MustCompile(`^lake/type=([a-z_]+)/dt=\d{4}-\d{2}-\d{2}/hour=\d{2}/(.+)-(shardId-[0-9]+)-([0-9_]+)-([0-9_]+)\.ndjson\.zst$`)

// archived reads every object of the bucket, failing on a key that is not the
// archive's layout or a line that is not JSON.
func (b *s3Bucket) archived(t *testing.T) []archivedObject {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []archivedObject
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: aws.String(b.name)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, obj := range page.Contents {
			key := aws.ToString(obj.Key)
			m := archiveKey.FindStringSubmatch(key)
			if m == nil {
				t.Fatalf("object key %q is not <prefix>/type=<type>/dt=<day>/hour=<hour>/<stream>-<shard>-<first>-<last>.ndjson.zst", key)
			}
			o := archivedObject{key: key, typ: m[1], shard: m[3], first: m[4], last: m[5]}
			res, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.name), Key: obj.Key})
			if err != nil {
				t.Fatal(err)
			}
			dec, err := zstd.NewReader(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(dec)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var raw struct {
					Message string `json:"message"`
				}
				if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
					t.Fatalf("%s: %v: %q", key, err, sc.Text())
				}
				o.messages = append(o.messages, raw.Message)
			}
			if err := sc.Err(); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			dec.Close()
			res.Body.Close()
			out = append(out, o)
		}
	}
	return out
}
