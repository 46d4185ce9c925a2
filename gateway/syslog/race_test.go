//go:build race

package syslog

// raceEnabled: the race detector's sync.Pool drops pooled objects at random, so code
// that reuses them (regexp's matchers) allocates under it.
const raceEnabled = true
