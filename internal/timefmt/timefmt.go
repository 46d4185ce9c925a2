// Package timefmt writes timestamps as sluice writes every one, RFC 3339 in UTC with
// the fraction of a second to the nanosecond (time.RFC3339Nano), and does it faster
// when many fall within the same second, as the events of one batch do: the date and
// time of day are formatted once per second, the fraction each time.
package timefmt

import "time"

// The Unix seconds of 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the years
// RFC 3339 can write with four digits, outside which Append leaves it to package time.
const (
	minSec = -62167219200
	maxSec = 253402300799
)

// Cache remembers the last second Append formatted. The zero Cache is ready; it is
// not safe for concurrent use.
type Cache struct {
	sec    int64
	set    bool
	prefix [len("2006-01-02T15:04:05")]byte
}

// Append appends t in UTC as t.UTC().AppendFormat(dst, time.RFC3339Nano) does.
func (c *Cache) Append(dst []byte, t time.Time) []byte {
	u := t.UTC()
	sec := u.Unix()
	if sec < minSec || sec > maxSec {
		return u.AppendFormat(dst, time.RFC3339Nano)
	}
	if !c.set || sec != c.sec {
		u.AppendFormat(c.prefix[:0], "2006-01-02T15:04:05")
		c.sec, c.set = sec, true
	}
	dst = append(dst, c.prefix[:]...)
	if ns := u.Nanosecond(); ns != 0 {
		// Nine digits: one, then four pairs from a table; trailing zeros dropped.
		var frac [10]byte
		frac[0], frac[1] = '.', byte('0'+ns/1e8)
		rest := ns % 1e8
		for i, div := range [...]int{1e6, 1e4, 1e2, 1} {
			p := 2 * (rest / div % 100)
			frac[2+2*i], frac[3+2*i] = pairs[p], pairs[p+1]
		}
		n := len(frac)
		for frac[n-1] == '0' {
			n--
		}
		dst = append(dst, frac[:n]...)
	}
	return append(dst, 'Z')
}

// pairs holds the two digits of 00 to 99 in turn.
const pairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"
