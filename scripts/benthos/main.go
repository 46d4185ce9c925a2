// Command benthos is the peer of scripts/bench.sh's HTTP scenario: Benthos (the
// open-source core of Redpanda Connect, github.com/redpanda-data/benthos/v4) with only
// the components that scenario's configuration uses, the io inputs and outputs and the
// pure processors, built the way Benthos documents for a distribution of one's own.
// It is a module of its own, so that sluice's go.mod carries none of it; scripts/benthos.sh
// builds it into .cache/benthos. http-discard.yaml is the configuration bench.sh runs.
package main

import (
	"context"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"
)

func main() { service.RunCLI(context.Background()) }
