//go:build !unix

package samples

import "time"

// cpuTime is not measured here: 0, and the benchmarks report no events/cpu-s.
func cpuTime() time.Duration { return 0 }
