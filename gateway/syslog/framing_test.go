package syslog

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// chunkReader returns its data in reads of at most the given sizes, in turn (the last
// size repeats), as TCP may deliver it.
type chunkReader struct {
	data  []byte
	sizes []int
	reads int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := r.sizes[min(r.reads, len(r.sizes)-1)]
	r.reads++
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// frameResult is what a frame reader made of a stream.
type frameResult struct {
	msgs    []string
	tooLong int
	err     error // the framing error that ended it, nil at a clean end
}

// readFrames reads every message of r as the connection does, and checks the bound of
// the reader's buffer on the way.
func readFrames(t testing.TB, r io.Reader, max int) frameResult {
	t.Helper()
	fr := newFrameReader(r, max)
	var res frameResult
	for {
		msg, err := fr.next()
		switch {
		case err == nil:
			res.msgs = append(res.msgs, string(msg))
			continue
		case errors.Is(err, errLineTooLong):
			res.tooLong++
			continue
		case errors.Is(err, io.EOF):
			return res
		case !errors.Is(err, errNeedMore):
			res.err = err
			return res
		}
		if _, err := fr.fill(); err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("fill: %v", err)
		}
		if len(fr.buf) > fr.maxBuf() {
			t.Fatalf("buffer of %d bytes, bound %d", len(fr.buf), fr.maxBuf())
		}
	}
}

func octet(msgs ...string) string {
	var sb strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&sb, "%d %s", len(m), m)
	}
	return sb.String()
}

func TestFraming(t *testing.T) {
	const max = 600
	long := strings.Repeat("x", max)
	for _, tc := range []struct {
		name, in string
		want     frameResult
	}{
		{"octet counting", octet(iptablesLine, "<13>1 - - - - - - a\nb", suricataLine),
			frameResult{msgs: []string{iptablesLine, "<13>1 - - - - - - a\nb", suricataLine}}},
		{"octet counting with LF between frames", octet("<13>a") + "\n" + octet("<13>b") + "\r\n\x00" + octet("<13>c") + "\n",
			frameResult{msgs: []string{"<13>a", "<13>b", "<13>c"}}},
		{"octet counting at the limit", octet(long), frameResult{msgs: []string{long}}},
		{"octet count over the limit", octet("<13>a") + "601 " + long + "x",
			frameResult{msgs: []string{"<13>a"}, err: &framingError{kind: kindFrameTooLarge}}},
		{"huge octet count", "99999999999999999999999 x", frameResult{err: &framingError{kind: kindFrameTooLarge}}},
		{"octet count without space", "12x<13>abcdefghijk", frameResult{err: &framingError{kind: kindBadCount}}},
		{"octet count with leading zero", octet("<13>a") + "05 <13>a", frameResult{msgs: []string{"<13>a"}, err: &framingError{kind: kindBadCount}}},
		{"truncated frame", octet("<13>a") + "10 <13>a", frameResult{msgs: []string{"<13>a"}, err: &framingError{kind: kindTruncated}}},
		{"truncated count", octet("<13>a") + "10", frameResult{msgs: []string{"<13>a"}, err: &framingError{kind: kindTruncated}}},
		{"LF lines", iptablesLine + "\n" + suricataLine + "\n", frameResult{msgs: []string{iptablesLine, suricataLine}}},
		{"CR LF and NUL trailers", "<13>a\r\n<13>b\x00\n<13>c\r\x00\n\x00<13>d\n", frameResult{msgs: []string{"<13>a", "<13>b", "<13>c", "<13>d"}}},
		{"empty lines skipped", "\n\r\n<13>a\n\n\n<13>b\n", frameResult{msgs: []string{"<13>a", "<13>b"}}},
		{"last line without LF", "<13>a\n<13>b", frameResult{msgs: []string{"<13>a", "<13>b"}}},
		{"line not starting with <", "a line 1\n2 lines\n", frameResult{msgs: []string{"a line 1", "2 lines"}}},
		{"line at the limit", long + "\r\n<13>b\n", frameResult{msgs: []string{long, "<13>b"}}},
		{"line over the limit", long + "y\n<13>b\n", frameResult{msgs: []string{"<13>b"}, tooLong: 1}},
		{"very long line", "<13>a\n" + strings.Repeat("z", 50*max) + "\n<13>b\n", frameResult{msgs: []string{"<13>a", "<13>b"}, tooLong: 1}},
		{"very long last line", "<13>a\n" + strings.Repeat("z", 50*max), frameResult{msgs: []string{"<13>a"}, tooLong: 1}},
		{"empty", "", frameResult{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// In one read, in reads of 1, 2, 7 and 64 bytes, and split at every
			// byte boundary in two.
			splits := [][]int{{1 << 20}, {1}, {2}, {7}, {64}}
			for k := 1; k < len(tc.in) && k < 2000; k++ {
				splits = append(splits, []int{k, 1 << 20})
			}
			for _, sizes := range splits {
				got := readFrames(t, &chunkReader{data: []byte(tc.in), sizes: sizes}, max)
				if !sameFrames(got, tc.want) {
					t.Fatalf("reads %v: got %+v\nwant %+v", sizes, summary(got), summary(tc.want))
				}
			}
		})
	}
}

func sameFrames(got, want frameResult) bool {
	if !reflect.DeepEqual(got.msgs, want.msgs) || got.tooLong != want.tooLong {
		return false
	}
	var g, w *framingError
	errors.As(got.err, &g)
	errors.As(want.err, &w)
	if (g == nil) != (w == nil) || (got.err == nil) != (want.err == nil) {
		return false
	}
	return g == nil || g.kind == w.kind
}

func summary(r frameResult) string {
	var msgs []string
	for _, m := range r.msgs {
		if len(m) > 40 {
			m = m[:40] + fmt.Sprintf("...(%d bytes)", len(m))
		}
		msgs = append(msgs, m)
	}
	return fmt.Sprintf("msgs %q, too long %d, err %v", msgs, r.tooLong, r.err)
}

// TestFramingGrowsBuffer: a message larger than the initial buffer is read whole, the
// buffer growing only as far as the message needs.
func TestFramingGrowsBuffer(t *testing.T) {
	const max = 1 << 20
	big := "<13>" + strings.Repeat("b", 200<<10)
	for _, in := range []string{octet(big, "<13>a"), big + "\n<13>a\n"} {
		fr := newFrameReader(&chunkReader{data: []byte(in), sizes: []int{1500}}, max)
		var got []int
		for {
			msg, err := fr.next()
			if err == nil {
				got = append(got, len(msg))
				continue
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if !errors.Is(err, errNeedMore) {
				t.Fatal(err)
			}
			if _, err := fr.fill(); err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
		}
		if !reflect.DeepEqual(got, []int{len(big), 5}) {
			t.Errorf("message sizes %v", got)
		}
		if len(fr.buf) > 512<<10 {
			t.Errorf("buffer grew to %d bytes for a message of %d", len(fr.buf), len(big))
		}
	}
}

// TestFramingDiscardsWithoutBuffering: an endless line never grows the buffer past
// the limit.
func TestFramingDiscardsWithoutBuffering(t *testing.T) {
	const max = 1024
	r := &chunkReader{data: []byte(strings.Repeat("x", 10<<20) + "\n<13>after\n"), sizes: []int{4096}}
	got := readFrames(t, r, max) // checks the buffer bound on every read
	if got.tooLong != 1 || !reflect.DeepEqual(got.msgs, []string{"<13>after"}) {
		t.Errorf("got %s", summary(got))
	}
}
