package embedded

import (
	"cmp"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/sluice-siem/sluice/stream"
)

// The Kinesis rules of the embedded streams. The in-memory stream of this package and
// the durable one (stream/embedded/durable) both apply them, from here, so that a
// configuration valid for one is valid for the other, a record that one rejects the
// other rejects too, and a partition key lands in the same shard number in either (and
// in Kinesis).

// maxStreamNameLen is the longest stream name Kinesis accepts.
const maxStreamNameLen = 128

// ShardIndex maps a partition key to one of n shards as Kinesis does: the MD5 of the
// key, read as a big-endian 128-bit number h, falls in one of n contiguous, equal
// ranges of [0, 2^128); the index is floor(h*n / 2^128). n must be positive.
func ShardIndex(key string, n int) int {
	return hashShard(md5.Sum([]byte(key)), n)
}

// hashShard returns floor(h*n / 2^128) for the 128-bit big-endian h.
func hashShard(sum [md5.Size]byte, n int) int {
	hi := binary.BigEndian.Uint64(sum[:8])
	lo := binary.BigEndian.Uint64(sum[8:])
	// h*n = hi*n*2^64 + lo*n; only the part at or above 2^128 survives the division.
	loCarry, _ := bits.Mul64(lo, uint64(n))
	top, mid := bits.Mul64(hi, uint64(n))
	_, carry := bits.Add64(mid, loCarry, 0)
	return int(top + carry)
}

// ShardID returns the id of the shard of index i, "shardId-" and 12 digits, as
// Kinesis names the shards of a new stream.
func ShardID(i int) string { return fmt.Sprintf("shardId-%012d", i) }

// FormatSequence formats a sequence number as 20 decimal digits, zero-padded, so that
// string order equals numeric order (every uint64 fits in 20 digits).
func FormatSequence(n uint64) string {
	var b [20]byte
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[:])
}

// SequenceBase is the least first sequence number of a shard created at now: the clock
// in nanoseconds, so that a stream created again (after a restart of the in-memory
// stream, or in an emptied directory) does not reuse the sequence numbers of an
// earlier one: document ids are derived from stream, shard and sequence, and reusing
// them would overwrite earlier, different events. A clock outside 1970..2242 gives 0.
func SequenceBase(now time.Time) uint64 {
	if u := now.Unix(); u <= 0 || u >= 1<<33 {
		return 0
	}
	return uint64(now.UnixNano())
}

// CheckPartitionKey applies the Kinesis partition key rule: 1 to MaxPartitionKeyChars
// Unicode characters. A key too long wraps stream.ErrTooLarge.
func CheckPartitionKey(key string) error {
	if key == "" {
		return errors.New("empty partition key")
	}
	if len(key) > MaxPartitionKeyChars {
		if n := utf8.RuneCountInString(key); n > MaxPartitionKeyChars {
			return fmt.Errorf("partition key is %d characters, over the limit of %d: %w",
				n, MaxPartitionKeyChars, stream.ErrTooLarge)
		}
	}
	return nil
}

// Placed is one record of a Put call and the shard it goes to: the record recs[Rec]
// of the call goes to the shard of index Shard.
type Placed struct{ Shard, Rec int }

// PlaceRecords checks the records of one Put call to a stream of n shards, all of them
// before the call takes room, so that a rejected call changes nothing: every partition
// key (CheckPartitionKey), every record's stream.Record.Size (at most
// maxRecordBytes) and their total (at most maxBytes, the stream's capacity, which a
// larger call could never fit in). It returns the records placed by ShardIndex, in
// shard order and, within a shard, in the order of the call, and their total size.
// Its errors name the record at fault and wrap stream.ErrTooLarge where a bound is
// exceeded; they are permanent.
func PlaceRecords(recs []stream.Record, n, maxRecordBytes int, maxBytes int64) ([]Placed, int64, error) {
	order := make([]Placed, len(recs))
	var total int64
	for i, r := range recs {
		if err := CheckPartitionKey(r.PartitionKey); err != nil {
			return nil, 0, fmt.Errorf("record %d: %w", i, err)
		}
		size := r.Size()
		if size > maxRecordBytes {
			return nil, 0, fmt.Errorf("record %d is %d bytes, over the record limit of %d bytes: %w",
				i, size, maxRecordBytes, stream.ErrTooLarge)
		}
		total += int64(size)
		order[i] = Placed{Shard: ShardIndex(r.PartitionKey, n), Rec: i}
	}
	if total > maxBytes {
		return nil, 0, fmt.Errorf("%d bytes in total, over the stream capacity of %d bytes: %w",
			total, maxBytes, stream.ErrTooLarge)
	}
	slices.SortStableFunc(order, func(a, b Placed) int { return cmp.Compare(a.Shard, b.Shard) })
	return order, total, nil
}

// CheckStreamName applies the Kinesis stream name rule: 1 to 128 characters of a-z,
// A-Z, 0-9, '_', '.', '-'.
func CheckStreamName(name string) error {
	if name == "" {
		return errors.New("empty stream name")
	}
	if len(name) > maxStreamNameLen {
		return fmt.Errorf("stream name %.20q... is %d characters, over %d", name, len(name), maxStreamNameLen)
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '.', c == '-':
		default:
			return fmt.Errorf("stream name %q has %q at byte %d; only a-z, A-Z, 0-9, '_', '.', '-' are allowed", name, c, i)
		}
	}
	return nil
}

// ValidateStreams reports every problem (errors.Join) of the streams of a
// configuration and their shard count, each prefixed with the path of its field:
// "streams[i]: ..." for a missing, malformed or repeated name, "shards: ..." for a
// count outside 1..MaxShards. It returns nil if there is none.
func ValidateStreams(names []string, shards int) error {
	var errs []error
	if len(names) == 0 {
		errs = append(errs, errors.New("streams: at least one stream is required"))
	}
	seen := make(map[string]bool, len(names))
	for i, name := range names {
		if err := CheckStreamName(name); err != nil {
			errs = append(errs, fmt.Errorf("streams[%d]: %w", i, err))
			continue
		}
		if seen[name] {
			errs = append(errs, fmt.Errorf("streams[%d]: duplicate stream name %q", i, name))
		}
		seen[name] = true
	}
	if shards < 1 || shards > MaxShards {
		errs = append(errs, fmt.Errorf("shards: %d is outside 1..%d", shards, MaxShards))
	}
	return errors.Join(errs...)
}

// ValidateByteLimits reports every problem (errors.Join) of the byte bounds of a
// configuration, each prefixed with the path of its field: "max_bytes: ..." and
// "max_record_bytes: ..." when negative, and "max_record_bytes: ..." when a record
// could be larger than the whole stream. Zero means the default and is left to the
// caller. It returns nil if there is no problem.
func ValidateByteLimits(maxBytes int64, maxRecordBytes int) error {
	var errs []error
	if maxBytes < 0 {
		errs = append(errs, fmt.Errorf("max_bytes: %d is negative", maxBytes))
	}
	if maxRecordBytes < 0 {
		errs = append(errs, fmt.Errorf("max_record_bytes: %d is negative", maxRecordBytes))
	}
	if maxBytes > 0 && maxRecordBytes > 0 && int64(maxRecordBytes) > maxBytes {
		errs = append(errs, fmt.Errorf("max_record_bytes: %d exceeds max_bytes %d, so such a record could never be put",
			maxRecordBytes, maxBytes))
	}
	return errors.Join(errs...)
}
