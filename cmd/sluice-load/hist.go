package main

import (
	"math"
	"math/bits"
	"time"
)

// histSubBits sets the histogram's precision: every power of two above 2^histSubBits is
// cut into 2^(histSubBits-1) equal buckets, so a bucket is at most 1/2^(histSubBits-1)
// of its values wide (0.8% with 8) and values below 2^histSubBits are counted exactly.
const histSubBits = 8

const (
	histSub  = 1 << histSubBits // values below this have a bucket each
	histHalf = histSub / 2      // buckets per power of two above histSub
	// histBuckets covers every uint64: the largest shift is 64 - histSubBits.
	histBuckets = histSub + (64-histSubBits)*histHalf
)

// histogram counts non-negative values (nanoseconds here) in log-linear buckets, in the
// manner of HdrHistogram: constant relative precision over the whole range, fixed
// memory, O(1) recording. It is not safe for concurrent use.
type histogram struct {
	counts   []uint64
	total    uint64
	sum      float64
	min, max uint64
}

func newHistogram() *histogram {
	return &histogram{counts: make([]uint64, histBuckets), min: math.MaxUint64}
}

// bucketOf returns the bucket index of v.
func bucketOf(v uint64) int {
	if v < histSub {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits // >= 1
	top := v >> uint(shift)              // in [histHalf, histSub)
	return histSub + (shift-1)*histHalf + int(top-histHalf)
}

// bucketHigh returns the largest value that falls into bucket i.
func bucketHigh(i int) uint64 {
	if i < histSub {
		return uint64(i)
	}
	shift := (i-histSub)/histHalf + 1
	top := uint64((i-histSub)%histHalf + histHalf)
	high := (top+1)<<uint(shift) - 1
	if top+1 == histSub && shift == 64-histSubBits {
		return math.MaxUint64 // (top+1)<<shift overflows in the last bucket
	}
	return high
}

// record counts one value.
func (h *histogram) record(v uint64) {
	h.counts[bucketOf(v)]++
	h.total++
	h.sum += float64(v)
	h.min = min(h.min, v)
	h.max = max(h.max, v)
}

// recordDuration counts d in nanoseconds; negative durations count as 0.
func (h *histogram) recordDuration(d time.Duration) { h.record(uint64(max(d, 0))) }

// count returns how many values were recorded.
func (h *histogram) count() uint64 { return h.total }

// mean returns the exact mean of the recorded values, 0 when there are none.
func (h *histogram) mean() float64 {
	if h.total == 0 {
		return 0
	}
	return h.sum / float64(h.total)
}

// percentile returns the value at percentile p (0 < p <= 100): the highest value of the
// bucket holding the value of rank ceil(p/100 * count), capped at the largest value
// recorded, so that it is never below the exact percentile and at most one bucket width
// above it. It returns 0 when nothing was recorded.
func (h *histogram) percentile(p float64) uint64 {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p / 100 * float64(h.total)))
	rank = min(max(rank, 1), h.total)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(bucketHigh(i), h.max)
		}
	}
	return h.max
}
