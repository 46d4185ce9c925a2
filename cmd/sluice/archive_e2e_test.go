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
	endpoint := os.Getenv("SLUICE_TEST_S3_ENDPOINT")
	if endpoint == "" {
		t.Skip("SLUICE_TEST_S3_ENDPOINT is not set: start the S3 test server with eval \"$(scripts/s3.sh env)\" (scripts/test.sh does)")
	}
	ctx := context.Background()
	bucket := fmt.Sprintf("sluice-dev-%d", time.Now().UnixNano())
	client := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}

	cfg := devConfig(t)
	cfg.Sink.Archive.Bucket = bucket
	cfg.Sink.Archive.Prefix = "lake"
	cfg.Sink.Archive.Region = "us-east-1"
	cfg.Sink.Archive.Endpoint = endpoint
	cfg.Sink.Archive.PathStyle = true
	cfg.Sink.Archive.Credentials = awsclient.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}
	a, stop := startDev(t, cfg)
	want := send(t, a.httpLn.Addr().String(), a.grpcLn.Addr().String())
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	checkSink(t, cfg.Sink.File.Dir, want)

	key := regexp.MustCompile(`^lake/type=([a-z_]+)/dt=\d{4}-\d{2}-\d{2}/hour=\d{2}/[^/]+-[^/]+-[0-9_]+-[0-9_]+\.ndjson\.zst$`)
	got := sent{}
	list, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Contents) == 0 {
		t.Fatal("the bucket holds no object")
	}
	for _, obj := range list.Contents {
		m := key.FindStringSubmatch(aws.ToString(obj.Key))
		if m == nil {
			t.Fatalf("object key %q is not <prefix>/type=<type>/dt=<day>/hour=<hour>/<stream>-<shard>-<first>-<last>.ndjson.zst", aws.ToString(obj.Key))
		}
		out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: obj.Key})
		if err != nil {
			t.Fatal(err)
		}
		dec, err := zstd.NewReader(out.Body)
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
				t.Fatalf("%s: %v: %q", aws.ToString(obj.Key), err, sc.Text())
			}
			got.add(m[1], raw.Message)
		}
		if err := sc.Err(); err != nil {
			t.Fatalf("%s: %v", aws.ToString(obj.Key), err)
		}
		dec.Close()
		out.Body.Close()
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
