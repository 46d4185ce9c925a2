package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// The histogram's percentiles match the exact percentiles of the sorted values within
// one bucket: never below, and at most 1/histHalf above.
func TestHistogramPercentilesAgainstSorted(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	dists := map[string]func() uint64{
		"small exact":  func() uint64 { return uint64(r.IntN(histSub)) },
		"uniform 1-1s": func() uint64 { return 1 + uint64(r.Int64N(1e9)) },
		"log-normal ms": func() uint64 {
			return uint64(math.Exp(r.NormFloat64()*1.5 + math.Log(5e6)))
		},
		"bimodal": func() uint64 {
			if r.IntN(100) == 0 {
				return 2e9 + uint64(r.IntN(1e6))
			}
			return 1e6 + uint64(r.IntN(1e5))
		},
	}
	for name, next := range dists {
		for _, n := range []int{1, 7, 1000, 100000} {
			h := newHistogram()
			vals := make([]uint64, n)
			for i := range vals {
				vals[i] = next()
				h.record(vals[i])
			}
			slices.Sort(vals)
			for _, p := range []float64{0.1, 1, 50, 90, 99, 99.9, 99.99, 100} {
				rank := int(math.Ceil(p / 100 * float64(n)))
				want := vals[max(rank, 1)-1]
				got := h.percentile(p)
				if got < want || float64(got-want) > float64(want)/histHalf {
					t.Errorf("%s, n=%d: p%g = %d, exact %d (allowed up to %.0f)", name, n, p, got, want, float64(want)*(1+1.0/histHalf))
				}
			}
			if h.count() != uint64(n) || h.max != vals[n-1] || h.min != vals[0] {
				t.Errorf("%s, n=%d: count %d min %d max %d, want %d %d %d", name, n, h.count(), h.min, h.max, n, vals[0], vals[n-1])
			}
		}
	}
}

func TestHistogramBuckets(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	check := func(v uint64) {
		i := bucketOf(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d, out of range", v, i)
		}
		if hi := bucketHigh(i); hi < v {
			t.Errorf("bucketHigh(bucketOf(%d)) = %d, below the value", v, hi)
		}
		if i > 0 && bucketHigh(i-1) >= v {
			t.Errorf("value %d also fits the bucket below (high %d)", v, bucketHigh(i-1))
		}
	}
	for _, v := range []uint64{0, 1, histSub - 1, histSub, histSub + 1, 1 << 40, math.MaxUint64, math.MaxUint64 - 1} {
		check(v)
	}
	for range 100000 {
		check(r.Uint64() >> r.IntN(64))
	}
	if h := newHistogram(); h.percentile(99) != 0 || h.mean() != 0 {
		t.Error("an empty histogram reports values")
	}
}
