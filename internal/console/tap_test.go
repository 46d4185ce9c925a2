package console

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestTapNobodyWatching: without a subscription the data path's check is false and
// Sample keeps and allocates nothing.
func TestTapNobodyWatching(t *testing.T) {
	tap := NewTap(0)
	for _, p := range Points {
		if tap.Watching(p) {
			t.Fatalf("Watching(%s) with no subscription", p)
		}
	}
	doc := []byte(`{"message":"x"}`)
	if n := testing.AllocsPerRun(100, func() { tap.Sample(PointReceived, "fw", "http", doc) }); n != 0 {
		t.Errorf("Sample with no one watching allocates %v times", n)
	}
	var nilTap *Tap
	if nilTap.Watching(PointReceived) {
		t.Error("a nil tap watches")
	}
	nilTap.Sample(PointReceived, "fw", "", doc) // no panic
}

// TestTapRateAndFilter: a subscription gets the events of its point and type only, at
// most its rate (a burst of one second's worth), and counts what it missed.
func TestTapRateAndFilter(t *testing.T) {
	tap := NewTap(0)
	sub, err := tap.Subscribe(TapFilter{Point: PointIndexed, Type: "fw"}, 5, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if !tap.Watching(PointIndexed) || tap.Watching(PointReceived) {
		t.Fatal("Watching does not follow the subscription's point")
	}
	doc := []byte(`{"message":"m"}`)
	for range 100 {
		tap.Sample(PointIndexed, "fw", "", doc)
		tap.Sample(PointIndexed, "ids", "", doc)    // another type
		tap.Sample(PointTransformed, "fw", "", doc) // another point
	}
	got := len(sub.C)
	if got < 5 || got > 6 { // the burst, and a token the loop's time may have refilled
		t.Fatalf("got %d samples of 100 offered at rate 5, want the burst of 5", got)
	}
	if sub.Skipped() != int64(100-got) {
		t.Errorf("skipped %d, want %d", sub.Skipped(), 100-got)
	}
	s := <-sub.C
	if s.Point != PointIndexed || s.Type != "fw" || string(s.Event) != string(doc) {
		t.Errorf("sample %+v", s)
	}
	doc[2] = 'X' // the caller reuses its buffer: the sample kept a copy
	if strings.Contains(string(s.Event), "X") {
		t.Error("the sample shares the caller's buffer")
	}
}

// TestTapNaNRate: a rate that is not a number is the least rate, not no limit.
func TestTapNaNRate(t *testing.T) {
	tap := NewTap(0)
	sub, err := tap.Subscribe(TapFilter{Point: PointReceived}, math.NaN(), 100)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for range 50 {
		tap.Sample(PointReceived, "fw", "", []byte(`{}`))
	}
	if n := len(sub.C); n > 2 {
		t.Errorf("%d samples at a NaN rate, want the burst of the least rate, 1", n)
	}
}

// TestTapFullBuffer: a reader that does not keep up misses samples; Sample never
// blocks.
func TestTapFullBuffer(t *testing.T) {
	tap := NewTap(0)
	sub, err := tap.Subscribe(TapFilter{Point: PointReceived}, 1000, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var more []bool
	for range 10 {
		more = append(more, tap.Sample(PointReceived, "fw", "lumberjack", []byte(`{}`)))
	}
	// A caller offering a batch stops at the first false: once the buffer is full.
	if !more[0] || more[1] {
		t.Errorf("more %v: want true while there is room, then false", more[:2])
	}
	if len(sub.C) != 2 || sub.Skipped() != 8 {
		t.Errorf("buffered %d, skipped %d: want 2 and 8", len(sub.C), sub.Skipped())
	}
}

// TestTapClose: a closed subscription's channel is closed and no longer counts as a
// watcher; closing twice is fine.
func TestTapClose(t *testing.T) {
	tap := NewTap(0)
	sub, err := tap.Subscribe(TapFilter{Point: PointTransformed}, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	sub.Close()
	sub.Close()
	if tap.Watching(PointTransformed) {
		t.Error("still watching after Close")
	}
	if _, open := <-sub.C; open {
		t.Error("C is open after Close")
	}
	tap.Sample(PointTransformed, "fw", "", []byte(`{}`)) // no send on the closed channel
}

// TestTapUnknownPoint: a point that is not one of Points is refused by name.
func TestTapUnknownPoint(t *testing.T) {
	_, err := NewTap(0).Subscribe(TapFilter{Point: "parsed"}, 1, 1)
	var up *UnknownPointError
	if !errors.As(err, &up) || !strings.Contains(err.Error(), "received, transformed or indexed") {
		t.Fatalf("err %v", err)
	}
}

// TestTapLargeAndInvalid: an event over the size limit, or not JSON, is shown as an
// object saying so, with its first bytes, so that a sample is always valid JSON of a
// bounded size.
func TestTapLargeAndInvalid(t *testing.T) {
	tap := NewTap(100)
	sub, err := tap.Subscribe(TapFilter{Point: PointReceived}, 100, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	big := []byte(`{"message":"` + strings.Repeat("a", 5000) + `"}`)
	tap.Sample(PointReceived, "fw", "http", big)
	tap.Sample(PointReceived, "fw", "http", []byte(`{"broken":`))
	for _, wantSize := range []int{len(big), len(`{"broken":`)} {
		s := <-sub.C
		var v struct {
			Size int    `json:"_sluice_tap_truncated"`
			Head string `json:"head"`
		}
		if err := json.Unmarshal(s.Event, &v); err != nil || v.Size != wantSize || v.Head == "" {
			t.Errorf("event %s: want the truncation object of %d bytes", s.Event, wantSize)
		}
		if len(s.Event) > 1024 {
			t.Errorf("a truncated sample holds %d bytes", len(s.Event))
		}
	}
}

// BenchmarkTapSample measures the data path's cost of the tap: nobody watching (the
// check alone), and a subscription over its rate (the limiter refusing).
func BenchmarkTapSample(b *testing.B) {
	doc := []byte(`{"message":"<4>Nov 26 07:00:01 fw01 kernel: IN=eth0 SRC=203.0.113.7"}`)
	b.Run("unwatched", func(b *testing.B) {
		tap := NewTap(0)
		for b.Loop() {
			if tap.Watching(PointReceived) {
				tap.Sample(PointReceived, "fw", "http", doc)
			}
		}
	})
	b.Run("watched", func(b *testing.B) {
		tap := NewTap(0)
		sub, _ := tap.Subscribe(TapFilter{Point: PointReceived}, 10, 64)
		defer sub.Close()
		for b.Loop() {
			if tap.Watching(PointReceived) {
				tap.Sample(PointReceived, "fw", "http", doc)
			}
		}
	})
}
