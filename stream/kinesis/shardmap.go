package kinesis

import (
	"cmp"
	"context"
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// hashKey is a 128-bit Kinesis hash key: the MD5 of a partition key read as a
// big-endian unsigned integer, or a shard's range bound.
type hashKey struct{ hi, lo uint64 }

// hashOf returns the hash key Kinesis maps a partition key to.
func hashOf(partitionKey string) hashKey {
	sum := md5.Sum([]byte(partitionKey))
	return hashKey{binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:])}
}

func (h hashKey) cmp(o hashKey) int {
	if c := cmp.Compare(h.hi, o.hi); c != 0 {
		return c
	}
	return cmp.Compare(h.lo, o.lo)
}

// String returns the decimal form Kinesis uses.
func (h hashKey) String() string {
	var b big.Int
	b.SetUint64(h.hi)
	b.Lsh(&b, 64)
	b.Or(&b, new(big.Int).SetUint64(h.lo))
	return b.String()
}

// parseHashKey reads a decimal hash key.
func parseHashKey(s string) (hashKey, error) {
	b, ok := new(big.Int).SetString(s, 10)
	if !ok || b.Sign() < 0 || b.BitLen() > 128 {
		return hashKey{}, fmt.Errorf("invalid hash key %q: want a decimal integer from 0 to 2^128-1", s)
	}
	lo := new(big.Int).And(b, new(big.Int).SetUint64(^uint64(0)))
	return hashKey{new(big.Int).Rsh(b, 64).Uint64(), lo.Uint64()}, nil
}

// shardRange is one open shard and the hash keys it owns, inclusive.
type shardRange struct {
	id         string
	start, end hashKey
}

// shardMap is the open shards of a stream, sorted by start. It is immutable once built.
type shardMap struct {
	shards []shardRange
	loaded time.Time
}

// find returns the index of the shard that owns h. Between or beyond the open shards
// (which only a map caught mid-reshard has) it returns the nearest shard below, so that
// every key has a place; Kinesis itself decides where the record lands.
func (m *shardMap) find(h hashKey) int {
	i, _ := slices.BinarySearchFunc(m.shards, h, func(s shardRange, h hashKey) int {
		if s.start.cmp(h) > 0 {
			return 1
		}
		return -1
	})
	// i is the first shard starting after h.
	return max(i-1, 0)
}

// lister is the part of the Kinesis client that loads shard maps.
type lister interface {
	ListShards(ctx context.Context, in *awskinesis.ListShardsInput, optFns ...func(*awskinesis.Options)) (*awskinesis.ListShardsOutput, error)
}

// loadShardMap lists every shard of a stream, page by page, and keeps the open ones
// (those without an ending sequence number).
func loadShardMap(ctx context.Context, client lister, streamName string, now time.Time) (*shardMap, error) {
	in := &awskinesis.ListShardsInput{StreamName: aws.String(streamName), MaxResults: aws.Int32(1000)}
	m := &shardMap{loaded: now}
	for page := 0; ; page++ {
		out, err := client.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list shards of %s (page %d): %w", streamName, page+1, err)
		}
		for _, s := range out.Shards {
			if s.SequenceNumberRange != nil && s.SequenceNumberRange.EndingSequenceNumber != nil {
				continue // closed by a split or merge
			}
			if s.HashKeyRange == nil || s.ShardId == nil {
				return nil, fmt.Errorf("list shards of %s: shard without id or hash key range", streamName)
			}
			start, err := parseHashKey(aws.ToString(s.HashKeyRange.StartingHashKey))
			if err != nil {
				return nil, fmt.Errorf("list shards of %s: shard %s: %w", streamName, aws.ToString(s.ShardId), err)
			}
			end, err := parseHashKey(aws.ToString(s.HashKeyRange.EndingHashKey))
			if err != nil {
				return nil, fmt.Errorf("list shards of %s: shard %s: %w", streamName, aws.ToString(s.ShardId), err)
			}
			m.shards = append(m.shards, shardRange{id: aws.ToString(s.ShardId), start: start, end: end})
		}
		if out.NextToken == nil || *out.NextToken == "" {
			break
		}
		// With a token, ListShards takes no stream name.
		in = &awskinesis.ListShardsInput{NextToken: out.NextToken, MaxResults: aws.Int32(1000)}
	}
	if len(m.shards) == 0 {
		return nil, fmt.Errorf("list shards of %s: no open shard", streamName)
	}
	slices.SortFunc(m.shards, func(a, b shardRange) int { return a.start.cmp(b.start) })
	return m, nil
}
