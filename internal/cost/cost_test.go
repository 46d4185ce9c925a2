package cost

import (
	"math"
	"testing"
)

// TestTerabyteADay is issue 25's case: 1 TB a day of 500-byte events at the defaults.
// Uncompressed, the stream needs 14 provisioned shards (the 95% pacing of 1 MiB/s on
// 596-byte records) and dominates the cost; compressed, 3 shards, and sluice costs at
// most $5 per TB all in. Firehose bills each 500-byte record as 5 KB.
func TestTerabyteADay(t *testing.T) {
	eps := 1e12 / 86400 / 500
	load := Load{EventsPerSecond: eps, EventBytes: 500, Streams: 1, Ratio: DefaultRatio,
		GatewayPerCore: DefaultGatewayPerCore, TransformPerCore: DefaultTransformPerCore}
	e, err := Compute(load, DefaultPrices())
	if err != nil {
		t.Fatal(err)
	}
	if e.Shards != 3 || e.GatewayTasks != 2 || e.TransTasks != 1 {
		t.Errorf("compressed: %d shards, %d gateways, %d transformers; want 3, 2, 1", e.Shards, e.GatewayTasks, e.TransTasks)
	}
	if e.TotalPerTB > 5 {
		t.Errorf("compressed: $%.2f per TB, the goal is at most $5", e.TotalPerTB)
	}
	if math.Abs(e.TBPerMonth-30.4) > 0.1 {
		t.Errorf("%.2f TB a month, want 30.4", e.TBPerMonth)
	}
	load.Ratio = 1
	u, err := Compute(load, DefaultPrices())
	if err != nil {
		t.Fatal(err)
	}
	if u.Shards != 14 || u.KinesisPerTB < 3*e.KinesisPerTB {
		t.Errorf("uncompressed: %d shards, Kinesis $%.2f per TB against $%.2f compressed", u.Shards, u.KinesisPerTB, e.KinesisPerTB)
	}
	// Firehose: 2e9 records a TB, each billed as 5,120 bytes, at $0.029 per GiB.
	if want := 2e9 * 5120 / (1 << 30) * 0.029; math.Abs(e.FirehosePerTB-want) > 0.01 {
		t.Errorf("Firehose $%.2f per TB, want $%.2f", e.FirehosePerTB, want)
	}
	t.Logf("compressed $%.2f/TB (Kinesis $%.2f), uncompressed $%.2f/TB (Kinesis $%.2f), Firehose $%.2f/TB", e.TotalPerTB, e.KinesisPerTB, u.TotalPerTB, u.KinesisPerTB, e.FirehosePerTB)
}

// TestByHand checks the arithmetic on round numbers.
func TestByHand(t *testing.T) {
	p := Prices{ShardHour: 1, PutUnitMillion: 1e6, FargateVCPUHour: 1, FargateGBHour: 0, FirehoseGB: 1,
		OnDemandStreamHour: 1, OnDemandInGB: 1, OnDemandOutGB: 1}
	// 1,000 events/s of 904 bytes: 1,000 KB/s with the envelope, ratio 1.
	l := Load{EventsPerSecond: 1000, EventBytes: 904, Streams: 1, Ratio: 1, GatewayPerCore: 1000, TransformPerCore: 500}
	e, err := Compute(l, p)
	if err != nil {
		t.Fatal(err)
	}
	// 1,000,000 B/s over 0.95 MiB/s: 2 shards; 40 records/s of 25,000 B: 1 unit each.
	if e.Shards != 2 || e.PutUnitsPerSecond != 40 {
		t.Fatalf("%d shards, %.0f units/s; want 2, 40", e.Shards, e.PutUnitsPerSecond)
	}
	if want := 2*730.0 + 40*730*3600/1e6*1e6; math.Abs(e.Kinesis-want) > 1e-6 {
		t.Errorf("Kinesis %.2f, want %.2f", e.Kinesis, want)
	}
	// Gateways: max(2, 1); transformers: 2; each task a vCPU for 730 h at $1.
	if e.GatewayTasks != 2 || e.TransTasks != 2 || e.Fargate != 4*730 {
		t.Errorf("tasks %d + %d, Fargate %.0f", e.GatewayTasks, e.TransTasks, e.Fargate)
	}
	l.OnDemand = true
	o, err := Compute(l, p)
	if err != nil {
		t.Fatal(err)
	}
	// 20 records/s of 50,000 B, billed in 1 KiB steps: 49 KiB each.
	in := 20 * 49 * 1024.0 * 730 * 3600 / (1 << 30)
	out := 1e6 * 730 * 3600 / (1 << 30)
	if want := 730 + in + out; o.Shards != 0 || math.Abs(o.Kinesis-want) > 1e-6 {
		t.Errorf("on demand: %d shards, Kinesis %.2f, want %.2f", o.Shards, o.Kinesis, want)
	}
}

func TestBadLoads(t *testing.T) {
	good := Load{EventsPerSecond: 1, EventBytes: 1, Streams: 1, Ratio: 1, GatewayPerCore: 1, TransformPerCore: 1}
	for name, mutate := range map[string]func(*Load){
		"no events":   func(l *Load) { l.EventsPerSecond = 0 },
		"NaN events":  func(l *Load) { l.EventsPerSecond = math.NaN() },
		"no bytes":    func(l *Load) { l.EventBytes = 0 },
		"huge events": func(l *Load) { l.EventBytes = 2 << 20 },
		"no stream":   func(l *Load) { l.Streams = 0 },
		"ratio < 1":   func(l *Load) { l.Ratio = 0.5 },
		"no rate":     func(l *Load) { l.TransformPerCore = 0 },
	} {
		l := good
		mutate(&l)
		if _, err := Compute(l, DefaultPrices()); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := Compute(good, DefaultPrices()); err != nil {
		t.Errorf("a good load: %v", err)
	}
}
