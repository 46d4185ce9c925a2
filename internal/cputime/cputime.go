// Package cputime reads the CPU time of this process, for benchmarks that report work
// per CPU second: on a shared machine, unlike work per wall second, it does not count
// the time spent waiting for a CPU.
package cputime

import "time"

// Self returns the CPU time this process has used so far, user and system, of every
// thread (the garbage collector's included); 0 where the system does not say (see
// Measured).
func Self() time.Duration { return self() }

// Measured reports whether Self measures anything on this system.
const Measured = measured
