// Package kinesistest runs tests against a real Kinesis-compatible server: kinesalite,
// which scripts/kinesis.sh installs and starts on 127.0.0.1 and scripts/test.sh exports
// as SLUICE_TEST_KINESIS_ENDPOINT. It finds the endpoint, makes uniquely named streams
// for each test and reads every shard back. It is for tests only.
package kinesistest

import (
	"context"
	"crypto/md5"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/klauspost/compress/zstd"

	"github.com/sluice-siem/sluice/stream/kinesis/kpl"
)

// unzstd decompresses the zstd records ReadAll meets.
var unzstd, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0))

// EndpointEnv names the variable that holds the test server's endpoint.
const EndpointEnv = "SLUICE_TEST_KINESIS_ENDPOINT"

// Static settings of the test server: any credentials will do, and one region.
const (
	Region          = "us-east-1"
	AccessKeyID     = "sluice-test"
	SecretAccessKey = "sluice-test-secret"
)

// patience bounds the waits for a stream to become active.
const patience = 20 * time.Second

// Endpoint returns the test server's endpoint. When EndpointEnv is unset it skips the
// test, except under CI=true, where it fails it: CI must never skip these tests
// silently.
func Endpoint(t testing.TB) string {
	t.Helper()
	ep := os.Getenv(EndpointEnv)
	if ep != "" {
		return ep
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set and CI=true: run the tests with scripts/test.sh, which starts kinesalite", EndpointEnv)
	}
	t.Skipf("%s is not set: run scripts/test.sh (or `scripts/kinesis.sh start` and export %s=<endpoint>) to run this test against kinesalite",
		EndpointEnv, EndpointEnv)
	return ""
}

// Client returns a Kinesis client of the endpoint for administering test streams. Its
// idle connections are closed when the test ends.
func Client(t testing.TB, endpoint string) *awskinesis.Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return awskinesis.New(awskinesis.Options{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		HTTPClient:   &http.Client{Transport: tr},
	})
}

var streamSeq atomic.Int64

// StreamName returns a stream name unique to this test and run.
func StreamName(t testing.TB) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '_':
			return r
		}
		return '-'
	}, t.Name())
	if len(name) > 80 {
		name = name[:80]
	}
	return fmt.Sprintf("%s-%d-%d", name, time.Now().UnixNano()%1e9, streamSeq.Add(1))
}

// CreateStream creates a uniquely named stream of n shards, waits until it is active
// and returns its name. The stream is deleted when the test ends.
func CreateStream(t testing.TB, c *awskinesis.Client, shards int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	name := StreamName(t)
	if _, err := c.CreateStream(ctx, &awskinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(int32(shards))}); err != nil {
		t.Fatalf("create stream %s: %v", name, err)
	}
	WaitActive(t, c, name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		_, _ = c.DeleteStream(ctx, &awskinesis.DeleteStreamInput{StreamName: aws.String(name)})
	})
	return name
}

// WaitActive waits until the stream is ACTIVE (after creation or resharding).
func WaitActive(t testing.TB, c *awskinesis.Client, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	for {
		out, err := c.DescribeStreamSummary(ctx, &awskinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("stream %s not active within %v (last error: %v)", name, patience, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Shard is a shard and its hash key range.
type Shard struct {
	ID         string
	Start, End *big.Int
	Open       bool
	Parent     string
}

// Owns reports whether the shard's range holds the hash key of a partition key.
func (s Shard) Owns(partitionKey string) bool {
	h := HashKey(partitionKey)
	return s.Start.Cmp(h) <= 0 && h.Cmp(s.End) <= 0
}

// HashKey is the 128-bit hash key Kinesis maps a partition key to.
func HashKey(partitionKey string) *big.Int {
	sum := md5.Sum([]byte(partitionKey))
	return new(big.Int).SetBytes(sum[:])
}

// Shards lists every shard of a stream, open and closed.
func Shards(t testing.TB, c *awskinesis.Client, name string) []Shard {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	var out []Shard
	in := &awskinesis.ListShardsInput{StreamName: aws.String(name)}
	for {
		page, err := c.ListShards(ctx, in)
		if err != nil {
			t.Fatalf("list shards of %s: %v", name, err)
		}
		for _, s := range page.Shards {
			start, _ := new(big.Int).SetString(aws.ToString(s.HashKeyRange.StartingHashKey), 10)
			end, _ := new(big.Int).SetString(aws.ToString(s.HashKeyRange.EndingHashKey), 10)
			out = append(out, Shard{
				ID: aws.ToString(s.ShardId), Start: start, End: end,
				Open:   s.SequenceNumberRange.EndingSequenceNumber == nil,
				Parent: aws.ToString(s.ParentShardId),
			})
		}
		if page.NextToken == nil {
			return out
		}
		in = &awskinesis.ListShardsInput{NextToken: page.NextToken}
	}
}

// Record is a Kinesis record read back, with the user records it holds.
type Record struct {
	Shard        string
	Sequence     string
	PartitionKey string
	Data         []byte
	Users        []kpl.UserRecord
}

// ReadAll reads every shard of the stream from TRIM_HORIZON to its end and
// de-aggregates each record. Records come shard by shard, in sequence order.
func ReadAll(t testing.TB, c *awskinesis.Client, name string) []Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	var out []Record
	for _, sh := range Shards(t, c, name) {
		it, err := c.GetShardIterator(ctx, &awskinesis.GetShardIteratorInput{
			StreamName: aws.String(name), ShardId: aws.String(sh.ID), ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			t.Fatalf("get shard iterator of %s/%s: %v", name, sh.ID, err)
		}
		iter := it.ShardIterator
		for iter != nil {
			page, err := c.GetRecords(ctx, &awskinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
			if err != nil {
				t.Fatalf("get records of %s/%s: %v", name, sh.ID, err)
			}
			for _, r := range page.Records {
				data := r.Data
				if len(data) >= 4 && string(data[:4]) == "\x28\xb5\x2f\xfd" { // a zstd record (docs/stream-format.md)
					if data, err = unzstd.DecodeAll(data, nil); err != nil {
						t.Fatalf("decompress record %s of %s/%s: %v", aws.ToString(r.SequenceNumber), name, sh.ID, err)
					}
				}
				users, err := kpl.Deaggregate(aws.ToString(r.PartitionKey), data)
				if err != nil {
					t.Fatalf("de-aggregate record %s of %s/%s: %v", aws.ToString(r.SequenceNumber), name, sh.ID, err)
				}
				out = append(out, Record{Shard: sh.ID, Sequence: aws.ToString(r.SequenceNumber),
					PartitionKey: aws.ToString(r.PartitionKey), Data: r.Data, Users: users})
			}
			if len(page.Records) == 0 {
				break // caught up (an open shard), or a closed shard's end
			}
			iter = page.NextShardIterator
		}
	}
	return out
}

// SplitShard splits an open shard at the middle of its hash key range, waits until the
// stream is active again and returns the children's ids.
func SplitShard(t testing.TB, c *awskinesis.Client, name, shard string) []string {
	t.Helper()
	var parent *Shard
	for _, s := range Shards(t, c, name) {
		if s.ID == shard {
			parent = &s
		}
	}
	if parent == nil {
		t.Fatalf("split shard: %s has no shard %s", name, shard)
	}
	mid := new(big.Int).Add(parent.Start, parent.End)
	mid.Rsh(mid, 1)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if _, err := c.SplitShard(ctx, &awskinesis.SplitShardInput{
		StreamName: aws.String(name), ShardToSplit: aws.String(shard), NewStartingHashKey: aws.String(mid.String()),
	}); err != nil {
		t.Fatalf("split shard %s/%s: %v", name, shard, err)
	}
	WaitActive(t, c, name)
	return children(t, c, name, shard)
}

// MergeShards merges two open shards with adjacent hash key ranges, waits until the
// stream is active again and returns the child's id.
func MergeShards(t testing.TB, c *awskinesis.Client, name, shard, adjacent string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if _, err := c.MergeShards(ctx, &awskinesis.MergeShardsInput{
		StreamName: aws.String(name), ShardToMerge: aws.String(shard), AdjacentShardToMerge: aws.String(adjacent),
	}); err != nil {
		t.Fatalf("merge shards %s/%s and %s: %v", name, shard, adjacent, err)
	}
	WaitActive(t, c, name)
	ids := children(t, c, name, shard)
	if len(ids) != 1 {
		t.Fatalf("merge of %s and %s made children %v", shard, adjacent, ids)
	}
	return ids[0]
}

// children returns the shards whose parent is shard.
func children(t testing.TB, c *awskinesis.Client, name, shard string) []string {
	var out []string
	for _, s := range Shards(t, c, name) {
		if s.Parent == shard {
			out = append(out, s.ID)
		}
	}
	return out
}
