package timefmt

import (
	"math"
	"testing"
	"time"
)

// check compares Append with package time on t, through a cache that last formatted
// prev.
func check(t *testing.T, prev, at time.Time) {
	t.Helper()
	var c Cache
	c.Append(nil, prev)
	got := string(c.Append([]byte("x"), at))
	if want := "x" + at.UTC().Format(time.RFC3339Nano); got != want {
		t.Fatalf("Append(%v) after %v = %q, want %q", at, prev, got, want)
	}
}

// TestAppend: the same text as package time for the edges of what it writes itself
// (years 0 and 9999, whole seconds, one nanosecond, trailing zeros of the fraction,
// other zones), for times beyond them (left to package time), and for a second
// following another, the same and an earlier one.
func TestAppend(t *testing.T) {
	east := time.FixedZone("east", 5*3600+1800)
	times := []time.Time{
		time.Unix(0, 0), time.Unix(0, 1), time.Unix(1, 100_000_000), time.Unix(1, 123_456_780),
		time.Date(2026, 12, 7, 23, 59, 59, 999_999_999, east),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 5, time.UTC),
		time.Date(-1, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(math.MaxInt64/1_000_000_000, 0), time.Unix(0, math.MaxInt64), time.Unix(-1, 999),
	}
	for _, prev := range times {
		for _, at := range times {
			check(t, prev, at)
			check(t, at, at.Add(time.Nanosecond))
		}
	}
}

// FuzzAppend compares Append with package time on any two times, the second
// formatted through the cache the first filled.
func FuzzAppend(f *testing.F) {
	f.Add(int64(0), int64(0), int64(1), int64(5))
	f.Add(int64(1765065600), int64(123), int64(1765065600), int64(456))
	f.Add(int64(-62167219201), int64(0), int64(253402300800), int64(1))
	f.Fuzz(func(t *testing.T, s1, n1, s2, n2 int64) {
		check(t, time.Unix(s1, n1), time.Unix(s2, n2))
	})
}

// BenchmarkAppend formats times within one second, as a batch's records have them,
// against package time.
func BenchmarkAppend(b *testing.B) {
	base := time.Date(2026, 12, 7, 11, 0, 0, 0, time.UTC)
	buf := make([]byte, 0, 64)
	b.Run("cache", func(b *testing.B) {
		var c Cache
		i := 0
		for b.Loop() {
			i++
			buf = c.Append(buf[:0], base.Add(time.Duration(i*7919)))
		}
	})
	b.Run("time", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			buf = base.Add(time.Duration(i*7919)).UTC().AppendFormat(buf[:0], time.RFC3339Nano)
		}
	})
}
