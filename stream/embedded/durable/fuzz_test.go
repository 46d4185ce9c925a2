package durable

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/embedded"
)

// Every decoder of what the stream reads back from disk is fuzzed: on any bytes it
// returns a value or an error, never panics, and what it accepts encodes back to the
// same meaning.

func FuzzDecodeRecordValue(f *testing.F) {
	v := make([]byte, valueLen(3, 5))
	encodeRecordValue(v, 1_700_000_000_000_000_000, 42, 7, "key", []byte("hello"))
	f.Add(v)
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add(v[:recordHeaderLen+1])
	f.Add(append(slices.Clone(v[:recordHeaderLen]), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := decodeRecordValue(b)
		if err != nil {
			return
		}
		if len(rec.Key) == 0 || rec.CumCount == 0 || rec.CumBytes < uint64(len(rec.Key)+len(rec.Data)) {
			t.Fatalf("accepted an impossible record %+v", rec)
		}
		again := make([]byte, valueLen(len(rec.Key), len(rec.Data)))
		encodeRecordValue(again, rec.Arrival, rec.CumBytes, rec.CumCount, string(rec.Key), rec.Data)
		back, err := decodeRecordValue(again)
		if err != nil || back.Arrival != rec.Arrival || back.CumBytes != rec.CumBytes || back.CumCount != rec.CumCount ||
			!bytes.Equal(back.Key, rec.Key) || !bytes.Equal(back.Data, rec.Data) {
			t.Fatalf("re-encoding %+v gives %+v, %v", rec, back, err)
		}
	})
}

func FuzzDecodeRecordKey(f *testing.F) {
	prefix := shardPrefix(kindRecord, "fw", 3)
	f.Add(recordKey(prefix, 12345))
	f.Add(prefix)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, k []byte) {
		seq, err := decodeRecordKey(prefix, k)
		if err != nil {
			return
		}
		if !bytes.Equal(recordKey(prefix, seq), k) {
			t.Fatalf("key %x decoded to %d, which encodes differently", k, seq)
		}
	})
}

func FuzzDecodeStream(f *testing.F) {
	f.Add(streamKey("fw"), encodeStreamValue(4))
	f.Add([]byte{kindStream, 200, 'a'}, []byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, k, v []byte) {
		if name, err := decodeStreamKey(k); err == nil {
			if embedded.CheckStreamName(name) != nil || !bytes.Equal(streamKey(name), k) {
				t.Fatalf("stream key %x decoded to %q", k, name)
			}
		}
		if n, err := decodeStreamValue(v); err == nil {
			back, err := decodeStreamValue(encodeStreamValue(n))
			if n < 1 || n > 4096 || back != n || err != nil {
				t.Fatalf("stream value %x decoded to %d shards, re-encoded to %d, %v", v, n, back, err)
			}
		}
	})
}

func FuzzDecodeHighWater(f *testing.F) {
	f.Add(encodeHighWater(highWater{Seq: 1, CumBytes: 2, CumCount: 3}))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		hw, err := decodeHighWater(b)
		if err == nil && !bytes.Equal(encodeHighWater(hw), b) {
			t.Fatalf("high water %x decoded to %+v, which encodes differently", b, hw)
		}
	})
}

func FuzzDecodeLeaseKey(f *testing.F) {
	f.Add(leaseKey("fw", "shardId-000000000000"))
	f.Add([]byte{kindLease, 0x80})
	f.Add([]byte{kindLease, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, k []byte) {
		streamName, shard, err := decodeLeaseKey(k)
		if err != nil {
			return
		}
		// A stream length may be encoded in more bytes than needed; what decodes
		// must name the same lease when encoded again.
		s2, sh2, err := decodeLeaseKey(leaseKey(streamName, shard))
		if err != nil || s2 != streamName || sh2 != shard {
			t.Fatalf("lease key %x decoded to %q %q; re-encoded: %q %q %v", k, streamName, shard, s2, sh2, err)
		}
	})
}

func FuzzDecodeLease(f *testing.F) {
	l := stream.Lease{Stream: "fw", Shard: "s1", Owner: "w1", Counter: 7, NextOwner: "w2",
		Checkpoint: stream.Checkpoint{Sequence: "123", Partial: true, SubSequence: 4},
		Start:      stream.Start{Position: stream.AtTimestamp, Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)},
		Parents:    []string{"s0"}, Finished: true}
	v, err := encodeLease(l)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("fw", "s1", v)
	f.Add("fw", "s1", []byte(`{"v":1,"stream":"fw","shard":"s1","timestamp":"yesterday"}`))
	f.Add("fw", "s1", []byte(`{"v":2}`))
	f.Add("fw", "s1", []byte(`null`))
	f.Fuzz(func(t *testing.T, streamName, shard string, b []byte) {
		l, err := decodeLease(streamName, shard, b)
		if err != nil {
			return
		}
		if l.Stream != streamName || l.Shard != shard {
			t.Fatalf("lease of %s/%s decoded as %s", streamName, shard, l.Key())
		}
		again, err := encodeLease(l)
		if err != nil {
			// Only times JSON cannot hold (years outside 0..9999) fail to encode.
			return
		}
		back, err := decodeLease(streamName, shard, again)
		if err != nil || back.Counter != l.Counter || back.Owner != l.Owner || back.NextOwner != l.NextOwner ||
			back.Checkpoint != l.Checkpoint || !back.Start.Timestamp.Equal(l.Start.Timestamp) || back.Finished != l.Finished {
			t.Fatalf("re-encoding %+v gives %+v, %v", l, back, err)
		}
	})
}

// TestRecordValueRoundTrip checks the encoding of records on a few shapes, with a
// long partition key whose length takes two varint bytes.
func TestRecordValueRoundTrip(t *testing.T) {
	for _, key := range []string{"k", string(bytes.Repeat([]byte("é"), 200))} {
		for _, data := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte{0}, 1000)} {
			size := uint64(len(key) + len(data))
			v := make([]byte, valueLen(len(key), len(data)))
			encodeRecordValue(v, -5, size+10, 3, key, data)
			rec, err := decodeRecordValue(v)
			if err != nil || rec.Arrival != -5 || rec.CumBytes != size+10 || rec.CumCount != 3 || string(rec.Key) != key || !bytes.Equal(rec.Data, data) {
				t.Errorf("round trip of key %d bytes, data %d bytes: %+v, %v", len(key), len(data), rec, err)
			}
		}
	}
	if n := binary.PutUvarint(make([]byte, 10), 400); n != uvarintLen(400) {
		t.Errorf("uvarintLen(400) = %d, want %d", uvarintLen(400), n)
	}
}

// TestShardIDs checks the shard id format and its parsing.
func TestShardIDs(t *testing.T) {
	for _, i := range []int{0, 1, 4095} {
		if n, ok := parseShardID(embedded.ShardID(i)); !ok || n != i {
			t.Errorf("parseShardID(%q) = %d, %v", embedded.ShardID(i), n, ok)
		}
	}
	for _, id := range []string{"shardId-000000004096", "shardId-00000000000", "shardId-00000000000x", "shardId--00000000001", "x"} {
		if _, ok := parseShardID(id); ok {
			t.Errorf("parseShardID(%q) accepted", id)
		}
	}
}
