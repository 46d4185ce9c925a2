package main

import (
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/sluice-siem/sluice/internal/cost"
)

// costCmd is `sluice cost`: the monthly AWS cost of a load with sluice (Kinesis and
// Fargate; the search engine is the same with any ingestion path, so it is left out)
// beside Kinesis Data Firehose, from prices given as flags (internal/cost).
func costCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sluice cost", flag.ContinueOnError)
	fs.SetOutput(stderr)
	p := cost.DefaultPrices()
	var (
		eps         = fs.Float64("events-per-second", 0, "events per second, on average (required)")
		bytes       = fs.Int("event-bytes", 500, "bytes of an event as shipped")
		compression = fs.String("compression", "zstd", "stream.kinesis.compression: zstd or none")
		ratio       = fs.Float64("ratio", 0, "compression ratio of the records (0: 5.7 for zstd, BENCHMARKS.md; 1 for none)")
		mode        = fs.String("mode", "provisioned", "Kinesis capacity mode: provisioned or on-demand")
		streams     = fs.Int("streams", 1, "Kinesis streams (log types with a stream of their own); each has a shard at least")
		gwRate      = fs.Float64("gateway-per-core", cost.DefaultGatewayPerCore, "events per second one gateway vCPU handles")
		trRate      = fs.Float64("transform-per-core", cost.DefaultTransformPerCore, "events per second one transform vCPU handles (it depends on the pipeline)")
	)
	fs.Float64Var(&p.ShardHour, "price-shard-hour", p.ShardHour, "USD per provisioned shard-hour")
	fs.Float64Var(&p.PutUnitMillion, "price-put-units", p.PutUnitMillion, "USD per million PUT payload units (25 KB)")
	fs.Float64Var(&p.OnDemandStreamHour, "price-on-demand-stream-hour", p.OnDemandStreamHour, "USD per on-demand stream-hour")
	fs.Float64Var(&p.OnDemandInGB, "price-on-demand-in-gb", p.OnDemandInGB, "USD per GB written on demand")
	fs.Float64Var(&p.OnDemandOutGB, "price-on-demand-out-gb", p.OnDemandOutGB, "USD per GB read on demand")
	fs.Float64Var(&p.FargateVCPUHour, "price-fargate-vcpu-hour", p.FargateVCPUHour, "USD per Fargate vCPU-hour")
	fs.Float64Var(&p.FargateGBHour, "price-fargate-gb-hour", p.FargateGBHour, "USD per Fargate GB-hour")
	fs.Float64Var(&p.FirehoseGB, "price-firehose-gb", p.FirehoseGB, "USD per GB Firehose ingests (records rounded up to 5 KB)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sluice cost --events-per-second N [--event-bytes B] [--compression zstd|none] [--mode provisioned|on-demand] [--streams N] [price and rate flags]")
		fmt.Fprintln(stderr, "Prices default to us-east-1 list prices of December 2026; rates to BENCHMARKS.md. Nothing is fetched.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sluice cost: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *eps == 0 {
		fmt.Fprintln(stderr, "sluice cost: --events-per-second is required")
		fs.Usage()
		return 2
	}
	l := cost.Load{EventsPerSecond: *eps, EventBytes: *bytes, Streams: *streams, GatewayPerCore: *gwRate, TransformPerCore: *trRate, Ratio: *ratio}
	switch *compression {
	case "zstd":
		if l.Ratio == 0 {
			l.Ratio = cost.DefaultRatio
		}
	case "none":
		if l.Ratio == 0 {
			l.Ratio = 1
		}
	default:
		fmt.Fprintf(stderr, "sluice cost: --compression: want zstd or none, not %q\n", *compression)
		return 2
	}
	switch *mode {
	case "provisioned":
	case "on-demand":
		l.OnDemand = true
	default:
		fmt.Fprintf(stderr, "sluice cost: --mode: want provisioned or on-demand, not %q\n", *mode)
		return 2
	}
	e, err := cost.Compute(l, p)
	if err != nil {
		fmt.Fprintf(stderr, "sluice cost: %v\n", err)
		return 2
	}
	fmt.Fprintf(stdout, "%.0f events/s of %d bytes: %.1f TB a month (raw), compression ratio %.1f\n\n", l.EventsPerSecond, l.EventBytes, e.TBPerMonth, l.Ratio)
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "\tper month\tper TB\t")
	kin := fmt.Sprintf("Kinesis (%s, %d shards, %.0f PUT units/s)", *mode, e.Shards, e.PutUnitsPerSecond)
	if l.OnDemand {
		kin = fmt.Sprintf("Kinesis (on demand, %d streams)", l.Streams)
	}
	fmt.Fprintf(w, "%s\t$%.2f\t$%.2f\t\n", kin, e.Kinesis, e.KinesisPerTB)
	fmt.Fprintf(w, "Fargate (%d gateway + %d transform tasks of 1 vCPU, 2 GB)\t$%.2f\t$%.2f\t\n", e.GatewayTasks, e.TransTasks, e.Fargate, e.Fargate/e.TBPerMonth)
	fmt.Fprintf(w, "sluice, all in\t$%.2f\t$%.2f\t\n", e.Total, e.TotalPerTB)
	fmt.Fprintf(w, "Firehose, ingestion alone\t$%.2f\t$%.2f\t\n", e.Firehose, e.FirehosePerTB)
	_ = w.Flush()
	fmt.Fprintln(stdout, "\nThe search engine and S3 cost the same either way and are left out.")
	return 0
}
