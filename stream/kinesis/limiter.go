package kinesis

import (
	"math"
	"time"
)

// bucket is a shard's token bucket, in two dimensions: bytes and records. It holds at
// most Burst worth of the limits and refills at the remainder of each second, so that
// no one-second window carries more than the limits (burst + refill = limit). Tokens
// go negative only for a unit larger than the whole bucket (see allows).
//
// The clock is an argument: the bucket is a pure function of the times it is shown, so
// tests drive it with a fake clock. It is owned by one goroutine (the stream's batcher).
type bucket struct {
	rateBytes, rateRecords float64 // tokens per second
	capBytes, capRecords   float64
	bytes, records         float64 // tokens now; start full
	last                   time.Time
}

// newBucket returns a full bucket for the limits.
func newBucket(l ShardLimits, now time.Time) *bucket {
	burst := l.Burst.Seconds()
	b := &bucket{
		rateBytes:   float64(l.BytesPerSecond) * (1 - burst),
		rateRecords: float64(l.RecordsPerSecond) * (1 - burst),
		capBytes:    float64(l.BytesPerSecond) * burst,
		capRecords:  math.Max(1, float64(l.RecordsPerSecond)*burst),
		last:        now,
	}
	b.bytes, b.records = b.capBytes, b.capRecords
	return b
}

func (b *bucket) refill(now time.Time) {
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.bytes = math.Min(b.capBytes, b.bytes+dt*b.rateBytes)
		b.records = math.Min(b.capRecords, b.records+dt*b.rateRecords)
		b.last = now
	}
}

// room returns the bytes and whole records that may be sent now without going into
// debt.
func (b *bucket) room(now time.Time) (bytes int, records int) {
	b.refill(now)
	return int(math.Max(0, b.bytes)), int(math.Max(0, b.records))
}

// allows reports whether one unit of the given cost may be sent now: when the tokens
// cover it, or, for a unit larger than the bucket, when the bucket is full (the unit then
// leaves the bucket in debt, which pauses the shard until it is paid back).
func (b *bucket) allows(now time.Time, bytes, records int) bool {
	b.refill(now)
	needB := math.Min(float64(bytes), b.capBytes)
	needR := math.Min(float64(records), b.capRecords)
	return b.bytes >= needB && b.records >= needR
}

// take spends the tokens of a unit sent.
func (b *bucket) take(now time.Time, bytes, records int) {
	b.refill(now)
	b.bytes -= float64(bytes)
	b.records -= float64(records)
}

// give corrects what the bucket was charged for a record by what the record turned
// out to be: bytes more come back (up to the capacity), or, negative, are taken.
func (b *bucket) give(now time.Time, bytes int) {
	b.refill(now)
	b.bytes = math.Min(b.capBytes, b.bytes+float64(bytes))
}

// wait returns how long until allows(bytes, records) holds.
func (b *bucket) wait(now time.Time, bytes, records int) time.Duration {
	b.refill(now)
	needB := math.Min(float64(bytes), b.capBytes) - b.bytes
	needR := math.Min(float64(records), b.capRecords) - b.records
	secs := math.Max(needB/b.rateBytes, needR/b.rateRecords)
	if secs <= 0 {
		return 0
	}
	// Round up so that the bucket holds enough when the wait ends.
	return time.Duration(math.Ceil(secs*float64(time.Second))) + time.Microsecond
}

// penalize empties the bucket after the shard throttled a put: this producer is not its
// only writer, or the limits are set too high, and sending more now would be throttled
// again.
func (b *bucket) penalize(now time.Time) {
	b.refill(now)
	b.bytes = math.Min(b.bytes, 0)
	b.records = math.Min(b.records, 0)
}
