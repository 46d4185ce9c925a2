package durable

// The layout of the stream in its Pebble database. Every key starts with one byte
// naming its kind; stream names are length-prefixed, so no key of one stream or shard
// is a prefix of another's.
//
//	f                                    format: formatValue
//	m <len> <stream>                     stream: version 1, uvarint shard count
//	r <len> <stream> <shard:4> <seq:8>   record: recordValue
//	h <len> <stream> <shard:4>           high water: the last deleted record of a shard
//	l <uvarint len> <stream> <shard id>  lease: JSON (see leases.go)
//
// Integers in keys are big-endian, so that byte order is numeric order and a shard's
// records are sorted by sequence number.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/sluice-siem/sluice/stream/embedded"
)

const (
	kindFormat    = 'f'
	kindStream    = 'm'
	kindRecord    = 'r'
	kindHighWater = 'h'
	kindLease     = 'l'
)

// formatKey holds formatValue; Open refuses a database with another.
var formatKey = []byte{kindFormat}

// formatValue names this layout, version 1.
const formatValue = "sluice durable stream v1"

// streamKey returns the key of a stream's metadata.
func streamKey(name string) []byte {
	k := make([]byte, 0, 2+len(name))
	k = append(k, kindStream, byte(len(name)))
	return append(k, name...)
}

// decodeStreamKey returns the stream name of a key made by streamKey.
func decodeStreamKey(k []byte) (string, error) {
	if len(k) < 2 || k[0] != kindStream || int(k[1]) != len(k)-2 {
		return "", fmt.Errorf("stream key %q is malformed", k)
	}
	name := string(k[2:])
	if err := embedded.CheckStreamName(name); err != nil {
		return "", fmt.Errorf("stream key %q: %w", k, err)
	}
	return name, nil
}

// encodeStreamValue encodes a stream's metadata: its shard count.
func encodeStreamValue(shards int) []byte {
	return binary.AppendUvarint([]byte{1}, uint64(shards))
}

// decodeStreamValue returns the shard count of a stream's metadata.
func decodeStreamValue(v []byte) (int, error) {
	if len(v) < 2 || v[0] != 1 {
		return 0, fmt.Errorf("stream metadata %x: unknown version or too short", v)
	}
	n, size := binary.Uvarint(v[1:])
	if size <= 0 || 1+size != len(v) {
		return 0, fmt.Errorf("stream metadata %x: malformed shard count", v)
	}
	if n < 1 || n > embedded.MaxShards {
		return 0, fmt.Errorf("stream metadata: shard count %d is outside 1..%d", n, embedded.MaxShards)
	}
	return int(n), nil
}

// shardPrefix returns the key prefix of a shard's records; records of the shard sort
// between shardPrefix(stream, i) and shardPrefix(stream, i+1).
func shardPrefix(kind byte, name string, shard int) []byte {
	k := make([]byte, 0, 2+len(name)+4+8)
	k = append(k, kind, byte(len(name)))
	k = append(k, name...)
	return binary.BigEndian.AppendUint32(k, uint32(shard))
}

// recordKey returns the key of record seq under a shard's prefix.
func recordKey(prefix []byte, seq uint64) []byte {
	k := make([]byte, len(prefix)+8)
	copy(k, prefix)
	putSeq(k[len(prefix):], seq)
	return k
}

// putSeq writes the key suffix of record seq into dst (8 bytes).
func putSeq(dst []byte, seq uint64) { binary.BigEndian.PutUint64(dst, seq) }

// decodeRecordKey returns the sequence number of a record key under prefix.
func decodeRecordKey(prefix, k []byte) (uint64, error) {
	if len(k) != len(prefix)+8 || string(k[:len(prefix)]) != string(prefix) {
		return 0, fmt.Errorf("record key %x is not under shard prefix %x", k, prefix)
	}
	return binary.BigEndian.Uint64(k[len(prefix):]), nil
}

// recordHeaderLen is the fixed part of a record value: version, arrival, cumulative
// bytes and cumulative count.
const recordHeaderLen = 1 + 8 + 8 + 8

// recordValue is a stored record. CumBytes and CumCount are the bytes (by
// stream.Record.Size) and number of all records of the shard up to and including this
// one since the shard was created: the difference between two records' counters is
// what lies between them, so that deleting up to a record frees a known number of
// bytes without reading what is deleted.
type recordValue struct {
	Arrival  int64 // unix nanoseconds
	CumBytes uint64
	CumCount uint64
	Key      []byte // partition key
	Data     []byte
}

// valueLen returns the encoded length of a record with a partition key of keyLen
// bytes and data of dataLen bytes.
func valueLen(keyLen, dataLen int) int {
	return recordHeaderLen + uvarintLen(uint64(keyLen)) + keyLen + dataLen
}

// encodeRecordValue writes a record into dst, which has exactly valueLen bytes: the
// fields of recordValue, with the partition key as a string so that Put does not
// convert it.
func encodeRecordValue(dst []byte, arrival int64, cumBytes, cumCount uint64, key string, data []byte) {
	dst[0] = 1
	binary.BigEndian.PutUint64(dst[1:], uint64(arrival))
	binary.BigEndian.PutUint64(dst[9:], cumBytes)
	binary.BigEndian.PutUint64(dst[17:], cumCount)
	n := recordHeaderLen + binary.PutUvarint(dst[recordHeaderLen:], uint64(len(key)))
	n += copy(dst[n:], key)
	copy(dst[n:], data)
}

// decodeRecordValue decodes a stored record. Key and Data alias b.
func decodeRecordValue(b []byte) (recordValue, error) {
	if len(b) < recordHeaderLen+2 {
		return recordValue{}, fmt.Errorf("record value of %d bytes is too short", len(b))
	}
	if b[0] != 1 {
		return recordValue{}, fmt.Errorf("record value has unknown version %d", b[0])
	}
	v := recordValue{
		Arrival:  int64(binary.BigEndian.Uint64(b[1:])),
		CumBytes: binary.BigEndian.Uint64(b[9:]),
		CumCount: binary.BigEndian.Uint64(b[17:]),
	}
	rest := b[recordHeaderLen:]
	keyLen, n := binary.Uvarint(rest)
	if n <= 0 {
		return recordValue{}, errors.New("record value has a malformed partition key length")
	}
	rest = rest[n:]
	if keyLen == 0 || keyLen > uint64(len(rest)) {
		return recordValue{}, fmt.Errorf("record value has a partition key of %d bytes, outside 1..%d", keyLen, len(rest))
	}
	v.Key, v.Data = rest[:keyLen], rest[keyLen:]
	if v.CumCount == 0 || v.CumBytes < uint64(len(rest)) {
		return recordValue{}, fmt.Errorf("record value has cumulative counters %d records, %d bytes, less than the record itself",
			v.CumCount, v.CumBytes)
	}
	return v, nil
}

// highWater is the last record deleted from a shard, with its counters: stored in the
// same batch as the deletion, it keeps sequence numbers and byte counts going when a
// shard has no records left.
type highWater struct {
	Seq, CumBytes, CumCount uint64
}

// encodeHighWater encodes h.
func encodeHighWater(h highWater) []byte {
	b := make([]byte, 1, 25)
	b[0] = 1
	b = binary.BigEndian.AppendUint64(b, h.Seq)
	b = binary.BigEndian.AppendUint64(b, h.CumBytes)
	return binary.BigEndian.AppendUint64(b, h.CumCount)
}

// decodeHighWater decodes a value made by encodeHighWater.
func decodeHighWater(b []byte) (highWater, error) {
	if len(b) != 25 || b[0] != 1 {
		return highWater{}, fmt.Errorf("high-water value %x: unknown version or wrong length", b)
	}
	return highWater{
		Seq:      binary.BigEndian.Uint64(b[1:]),
		CumBytes: binary.BigEndian.Uint64(b[9:]),
		CumCount: binary.BigEndian.Uint64(b[17:]),
	}, nil
}

// leaseKey returns the key of the lease of a shard. Lease stream and shard names come
// from consumers and are not validated here, hence the uvarint length.
func leaseKey(streamName, shard string) []byte {
	k := make([]byte, 0, 1+binary.MaxVarintLen64+len(streamName)+len(shard))
	k = append(k, kindLease)
	k = binary.AppendUvarint(k, uint64(len(streamName)))
	k = append(k, streamName...)
	return append(k, shard...)
}

// decodeLeaseKey returns the stream and shard of a key made by leaseKey.
func decodeLeaseKey(k []byte) (streamName, shard string, err error) {
	if len(k) < 2 || k[0] != kindLease {
		return "", "", fmt.Errorf("lease key %q is malformed", k)
	}
	n, size := binary.Uvarint(k[1:])
	if size <= 0 || n > uint64(len(k)-1-size) {
		return "", "", fmt.Errorf("lease key %q has a malformed stream length", k)
	}
	rest := k[1+size:]
	return string(rest[:n]), string(rest[n:]), nil
}

// parseShardID returns the index of a shard id made by embedded.ShardID.
func parseShardID(id string) (int, bool) {
	digits, ok := strings.CutPrefix(id, "shardId-")
	if !ok || len(digits) != 12 {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 32)
	if err != nil || n >= embedded.MaxShards {
		return 0, false
	}
	return int(n), true
}

// parseSeq parses a sequence number made by embedded.FormatSequence.
func parseSeq(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == math.MaxUint64 {
		return 0, fmt.Errorf("%q is not a sequence number of this stream", s)
	}
	return n, nil
}

func uvarintLen(n uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], n)
}
