// Package cost estimates what sluice costs to run on AWS for a load, beside Kinesis
// Data Firehose, from prices given as inputs (no network): the model behind `sluice
// cost`. The defaults are list prices in us-east-1 as of December 2026 and the
// per-core rates of BENCHMARKS.md; change them for another region or pipeline.
package cost

import (
	"errors"
	"fmt"
	"math"
)

// Prices are the unit prices of the estimate, in US dollars.
type Prices struct {
	ShardHour          float64 // a provisioned Kinesis shard for an hour
	PutUnitMillion     float64 // a million provisioned PUT payload units (25 KB each)
	OnDemandStreamHour float64 // an on-demand stream for an hour
	OnDemandInGB       float64 // a GB written to an on-demand stream (records rounded up to 1 KB)
	OnDemandOutGB      float64 // a GB read from an on-demand stream
	FargateVCPUHour    float64 // a Fargate vCPU for an hour (Linux, x86)
	FargateGBHour      float64 // a GB of Fargate memory for an hour
	FirehoseGB         float64 // a GB ingested by Firehose (records rounded up to 5 KB)
}

// DefaultPrices are us-east-1 list prices as of December 2026.
func DefaultPrices() Prices {
	return Prices{
		ShardHour: 0.015, PutUnitMillion: 0.014,
		OnDemandStreamHour: 0.04, OnDemandInGB: 0.08, OnDemandOutGB: 0.04,
		FargateVCPUHour: 0.04048, FargateGBHour: 0.004445,
		FirehoseGB: 0.029,
	}
}

// Load is what the estimate is for, and how sluice runs it.
type Load struct {
	EventsPerSecond float64
	EventBytes      int
	// Streams is the number of Kinesis streams (log types with their own): each has
	// at least one shard.
	Streams int
	// OnDemand prices the streams in on-demand mode instead of provisioned shards.
	OnDemand bool
	// Ratio is how many times smaller compression makes the records (1: none).
	Ratio float64
	// GatewayPerCore and TransformPerCore are events per second one vCPU handles.
	GatewayPerCore, TransformPerCore float64
}

// Defaults of a Load besides the events: zstd's ratio on aggregates of a shard at its
// limit and the per-core rates of BENCHMARKS.md.
const (
	DefaultRatio            = 5.7     // BenchmarkShardModel, aggregation with zstd (SpeedFastest)
	DefaultGatewayPerCore   = 190_000 // gateway on the Kinesis path (deploy/README.md, "Sizing and cost")
	DefaultTransformPerCore = 47_800  // transformer with the enriched firewall pipeline and the search sink
)

// Model constants.
const (
	hoursPerMonth   = 730
	secondsPerMonth = hoursPerMonth * 3600
	gb              = 1 << 30
	envelopeBytes   = 96 // an event's envelope and KPL framing in a record
	shardBytes      = 1 << 20
	shardUse        = 0.95  // the producer's pacing: 95% of a shard's bytes
	recordsPerShard = 20    // a busy shard sends a record per 50ms linger
	putUnit         = 25600 // bytes of one PUT payload unit
	taskVCPU        = 1     // tasks of 1 vCPU and 2 GB
	taskGB          = 2
	minGateways     = 2 // one per availability zone
	firehoseStep    = 5120
	onDemandStep    = 1024
)

// Estimate is the monthly cost of a Load, in US dollars, and what it is made of.
type Estimate struct {
	TBPerMonth               float64 // raw events (EventBytes each), decimal TB
	Shards                   int     // provisioned shards (0 on demand)
	GatewayTasks, TransTasks int
	Kinesis, Fargate, Total  float64 // per month
	KinesisPerTB, TotalPerTB float64
	Firehose, FirehosePerTB  float64 // Firehose ingestion alone, per month and per TB
	CompressedBytesPerSecond float64
	PutUnitsPerSecond        float64
}

// Compute estimates the monthly cost of l at prices p.
func Compute(l Load, p Prices) (Estimate, error) {
	switch {
	case l.EventsPerSecond <= 0 || math.IsInf(l.EventsPerSecond, 0) || math.IsNaN(l.EventsPerSecond):
		return Estimate{}, errors.New("events per second: want a positive number")
	case l.EventBytes <= 0 || l.EventBytes > 1<<20:
		return Estimate{}, fmt.Errorf("event bytes: want 1 to %d, not %d", 1<<20, l.EventBytes)
	case l.Streams < 1:
		return Estimate{}, errors.New("streams: want at least 1")
	case l.Ratio < 1 || math.IsNaN(l.Ratio):
		return Estimate{}, errors.New("compression ratio: want 1 or more")
	case l.GatewayPerCore <= 0 || l.TransformPerCore <= 0:
		return Estimate{}, errors.New("per-core rates: want positive numbers")
	}
	var e Estimate
	raw := l.EventsPerSecond * float64(l.EventBytes)
	e.TBPerMonth = raw * secondsPerMonth / 1e12
	e.CompressedBytesPerSecond = l.EventsPerSecond * float64(l.EventBytes+envelopeBytes) / l.Ratio
	if l.OnDemand {
		records := math.Min(l.EventsPerSecond, float64(l.Streams*recordsPerShard))
		recordBytes := e.CompressedBytesPerSecond / records
		billed := records * math.Ceil(recordBytes/onDemandStep) * onDemandStep
		e.Kinesis = float64(l.Streams)*hoursPerMonth*p.OnDemandStreamHour +
			billed*secondsPerMonth/gb*p.OnDemandInGB + e.CompressedBytesPerSecond*secondsPerMonth/gb*p.OnDemandOutGB
	} else {
		e.Shards = max(l.Streams, int(math.Ceil(e.CompressedBytesPerSecond/(shardUse*shardBytes))))
		records := math.Min(l.EventsPerSecond, float64(e.Shards*recordsPerShard))
		recordBytes := e.CompressedBytesPerSecond / records
		e.PutUnitsPerSecond = records * math.Ceil(recordBytes/putUnit)
		e.Kinesis = float64(e.Shards)*hoursPerMonth*p.ShardHour + e.PutUnitsPerSecond*secondsPerMonth/1e6*p.PutUnitMillion
	}
	e.GatewayTasks = max(minGateways, int(math.Ceil(l.EventsPerSecond/(l.GatewayPerCore*taskVCPU))))
	e.TransTasks = max(1, int(math.Ceil(l.EventsPerSecond/(l.TransformPerCore*taskVCPU))))
	perTask := hoursPerMonth * (taskVCPU*p.FargateVCPUHour + taskGB*p.FargateGBHour)
	e.Fargate = float64(e.GatewayTasks+e.TransTasks) * perTask
	e.Total = e.Kinesis + e.Fargate
	e.KinesisPerTB, e.TotalPerTB = e.Kinesis/e.TBPerMonth, e.Total/e.TBPerMonth
	firehoseBytes := l.EventsPerSecond * math.Ceil(float64(l.EventBytes)/firehoseStep) * firehoseStep
	e.Firehose = firehoseBytes * secondsPerMonth / gb * p.FirehoseGB
	e.FirehosePerTB = e.Firehose / e.TBPerMonth
	return e, nil
}
