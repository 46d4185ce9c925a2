//go:build !unix

package kinesis_test

import "time"

// cpuTime is not measured on this platform; benchmarks then omit events/cpu-s.
func cpuTime() time.Duration { return 0 }
