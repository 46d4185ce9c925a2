package kinesis_test

import (
	"github.com/sluice-siem/sluice/stream/kinesis"
	"github.com/sluice-siem/sluice/transform/consume"
)

// The Reader is the Source the consumer of the transform tier reads shards through.
// The check is a test's because the stream step does not import the transform step.
var _ consume.Source = (*kinesis.Reader)(nil)
