package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// hopMetrics are the histograms sluice keeps of each hop of the whole chain, in the
// order an event meets them, as its Prometheus endpoint names them.
var hopMetrics = []struct{ name, hop string }{
	{"sluice_gateway_ingest_duration_seconds", "gateway: arrival -> durable (linger, put)"},
	{"sluice_kinesis_put_records_duration_seconds", "gateway: one PutRecords call"},
	{"sluice_transform_read_delay_seconds", "transform: accepted -> read (oldest event of a batch)"},
	{"sluice_transform_batch_pipelines_seconds", "transform: decode, pipelines, encode (per batch)"},
	{"sluice_transform_batch_write_seconds", "transform: sink write (per batch)"},
	{"sluice_search_bulk_duration_seconds", "search sink: one _bulk request"},
	{"sluice_transform_delivery_delay_seconds", "transform: accepted -> indexed (oldest event of a batch)"},
}

// hopFigure summarizes one hop's histogram at the end of a run: observations, mean and
// quantiles (linear within a bucket, as Prometheus's histogram_quantile).
type hopFigure struct {
	Metric string  `json:"metric"`
	Hop    string  `json:"hop"`
	Count  float64 `json:"count"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P99Ms  float64 `json:"p99_ms"`
}

// readHops reads the hop histograms on each metrics endpoint (the gateway's, the
// transformer's), summing a histogram's label sets; hops no endpoint has are left out.
// Each endpoint is scraped once.
func readHops(ctx context.Context, urls []string) ([]hopFigure, error) {
	var pages [][]byte
	for _, url := range urls {
		page, err := scrapePage(ctx, url)
		if err != nil {
			return nil, fmt.Errorf("hop metrics: %w", err)
		}
		pages = append(pages, page)
	}
	var out []hopFigure
	for _, h := range hopMetrics {
		buckets := map[float64]float64{}
		var sum, count float64
		for _, page := range pages {
			for _, part := range []struct {
				suffix string
				add    func(sample)
			}{
				{"_bucket", func(s sample) {
					if le, err := strconv.ParseFloat(s.labels["le"], 64); err == nil {
						buckets[le] += s.value
					}
				}},
				{"_sum", func(s sample) { sum += s.value }},
				{"_count", func(s sample) { count += s.value }},
			} {
				samples, err := parseMetrics(bytes.NewReader(page), h.name+part.suffix)
				if err != nil {
					return nil, fmt.Errorf("hop metrics: %w", err)
				}
				for _, s := range samples {
					part.add(s)
				}
			}
		}
		if count == 0 {
			continue
		}
		out = append(out, hopFigure{Metric: h.name, Hop: h.hop, Count: count, MeanMs: 1000 * sum / count,
			P50Ms: 1000 * histogramQuantile(0.5, buckets), P99Ms: 1000 * histogramQuantile(0.99, buckets)})
	}
	return out, nil
}

// histogramQuantile is the q-quantile of cumulative buckets (upper bound -> count,
// +Inf included), interpolated linearly within its bucket; in the +Inf bucket it is
// the largest finite bound.
func histogramQuantile(q float64, buckets map[float64]float64) float64 {
	bounds := slices.Sorted(func(yield func(float64) bool) {
		for b := range buckets {
			if !yield(b) {
				return
			}
		}
	})
	if len(bounds) == 0 {
		return math.NaN()
	}
	total := buckets[bounds[len(bounds)-1]]
	if total == 0 {
		return math.NaN()
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for _, b := range bounds {
		n := buckets[b]
		if n >= rank {
			if math.IsInf(b, 1) {
				return lower
			}
			if n == below {
				return b
			}
			return lower + (b-lower)*(rank-below)/(n-below)
		}
		lower, below = b, n
	}
	return lower
}

// describeHops is the hops as a note's text.
func describeHops(hops []hopFigure) string {
	parts := make([]string, 0, len(hops))
	for _, h := range hops {
		parts = append(parts, fmt.Sprintf("%s: p50 %.0f ms, p99 %.0f ms, mean %.0f ms (%s observations)", h.Hop, h.P50Ms, h.P99Ms, h.MeanMs, thousands(h.Count)))
	}
	return strings.Join(parts, "; ")
}
