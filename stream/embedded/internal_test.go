package embedded

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/stream"
)

// Waiting reports how many Puts are blocked for room (for tests in embedded_test).
func (s *Stream) Waiting() int { return s.budget.Waiting() }

// Retained reports the entries and slice capacity held by all shards (for tests).
func (s *Stream) Retained() (entries, capacity int) {
	for _, sh := range s.shards {
		sh.mu.Lock()
		entries += len(sh.recs)
		capacity += cap(sh.recs)
		sh.mu.Unlock()
	}
	return entries, capacity
}

func TestHashShardBoundaries(t *testing.T) {
	var zero, ones, quarter, belowQuarter, half [md5.Size]byte
	for i := range ones {
		ones[i] = 0xff
	}
	quarter[0] = 0x40 // exactly 2^126 = 2^128/4: first hash of shard 1
	for i := range belowQuarter {
		belowQuarter[i] = 0xff
	}
	belowQuarter[0] = 0x3f // 2^126 - 1: last hash of shard 0
	half[0] = 0x80
	for _, tc := range []struct {
		name string
		sum  [md5.Size]byte
		n    int
		want int
	}{
		{"zero/4", zero, 4, 0},
		{"max/4", ones, 4, 3},
		{"max/1", ones, 1, 0},
		{"max/4096", ones, 4096, 4095},
		{"quarter/4", quarter, 4, 1},
		{"below quarter/4", belowQuarter, 4, 0},
		{"half/4", half, 4, 2},
		{"half/3", half, 3, 1},
		// ceil(2^128/3) = 0x5555...5556 is the first hash of shard 1 of 3; finding
		// it needs the carry from the low 64 bits.
		{"third/3", sum128(0x5555555555555555, 0x5555555555555556), 3, 1},
		{"below third/3", sum128(0x5555555555555555, 0x5555555555555555), 3, 0},
	} {
		if got := hashShard(tc.sum, tc.n); got != tc.want {
			t.Errorf("%s: hashShard = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func sum128(hi, lo uint64) [md5.Size]byte {
	var b [md5.Size]byte
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	return b
}

func TestFormatSequence(t *testing.T) {
	for _, n := range []uint64{0, 1, 9, 10, 1 << 40, ^uint64(0)} {
		got := FormatSequence(n)
		if len(got) != 20 {
			t.Errorf("FormatSequence(%d) = %q, want 20 digits", n, got)
		}
		if back, err := strconv.ParseUint(got, 10, 64); err != nil || back != n {
			t.Errorf("FormatSequence(%d) = %q, parses back as %d, %v", n, got, back, err)
		}
	}
	if want := fmt.Sprintf("%020d", 123); FormatSequence(123) != want {
		t.Errorf("FormatSequence(123) = %q, want %q", FormatSequence(123), want)
	}
}

func TestSequenceBase(t *testing.T) {
	if got := SequenceBase(time.Time{}); got != 0 {
		t.Errorf("SequenceBase(zero time) = %d, want 0", got)
	}
	a := SequenceBase(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	b := SequenceBase(time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC))
	if b-a != uint64(time.Second) {
		t.Errorf("SequenceBase one second apart differs by %d, want %d", b-a, time.Second)
	}
}

func TestNextBackoff(t *testing.T) {
	d := 100 * time.Millisecond
	var got []time.Duration
	for range 8 {
		got = append(got, d)
		d = nextBackoff(d)
	}
	want := []time.Duration{100, 200, 400, 800, 1600, 3200, 5000, 5000}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("backoff sequence = %v, want %v ms", got, want)
		}
	}
	if got := nextBackoff(10 * time.Second); got != 10*time.Second {
		t.Errorf("nextBackoff(10s) = %v, want 10s (a configured wait above the cap stays)", got)
	}
}

// TestShardCompaction checks that acknowledged records neither stay reachable nor keep
// the slice growing: the dead prefix is compacted and a drained burst gives its
// backing array back.
func TestShardCompaction(t *testing.T) {
	sh := newShard("s", 0, 0)
	rec := func(i int) stream.Delivered {
		return stream.Delivered{Record: stream.Record{PartitionKey: "k", Data: []byte(strconv.Itoa(i))}}
	}
	// A steady flow: append 10 and drop 10, many times, with a backlog of 100.
	next := 0
	for range 100 {
		sh.append([]stream.Delivered{rec(next)})
		next++
	}
	for range 10000 {
		batch := make([]stream.Delivered, 10)
		for i := range batch {
			batch[i] = rec(next)
			next++
		}
		sh.append(batch)
		if freed := sh.drop(10); freed <= 0 {
			t.Fatalf("drop(10) freed %d bytes", freed)
		}
		if sh.head > max(compactMin, len(sh.recs)-sh.head) {
			t.Fatalf("dead prefix %d with %d live: not compacted", sh.head, len(sh.recs)-sh.head)
		}
		for i := range sh.head {
			if sh.recs[i].Data != nil {
				t.Fatalf("acknowledged entry %d still references data", i)
			}
		}
	}
	if c := cap(sh.recs); c > 2*compactMin+1024 {
		t.Errorf("steady flow with 100 live records grew the slice to cap %d", c)
	}
	if got := sh.peek(1, 1<<20); len(got) != 1 || string(got[0].Data) != strconv.Itoa(next-100) {
		t.Errorf("front record after compaction = %v, want data %d", got, next-100)
	}

	// A burst drained: the large array is released.
	burst := make([]stream.Delivered, 3*shrinkCap)
	for i := range burst {
		burst[i] = rec(i)
	}
	sh.append(burst)
	sh.drop(len(sh.recs) - sh.head)
	if cap(sh.recs) > shrinkCap || sh.head != 0 {
		t.Errorf("after draining a burst: cap %d, head %d; want cap <= %d, head 0", cap(sh.recs), sh.head, shrinkCap)
	}
}
