package console

import (
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Config is the console's section of the configuration (ui:).
type Config struct {
	// Enabled serves the console at /ui on the HTTP port: on by default in sluice dev,
	// off in the gateway and transform roles.
	Enabled bool `yaml:"enabled" doc:"serve the console at /ui on the HTTP port (the dev default; off in gateway and transform)"`
	// AdminKeySHA256 is the SHA-256 (hex) of the key the console's API asks for
	// instead of the gateway's API keys (sluice hash-key makes one). Required in the
	// transform role, which has no API keys of its own.
	AdminKeySHA256 string `yaml:"admin_key_sha256" doc:"SHA-256 hex of the console's own key (sluice hash-key); without it the gateway's API keys open the console; required in sluice transform"`
	// SampleInterval is how often the Flow view samples the process's metrics.
	SampleInterval time.Duration `yaml:"sample_interval" doc:"how often the Flow view samples the metrics"`
	// Window is how far back the Flow view's charts go.
	Window time.Duration `yaml:"window" doc:"how far back the Flow charts go"`
	// TapRate is the most events a second one tap stream receives.
	TapRate float64 `yaml:"tap_rate" doc:"the most events a second one tap stream (the Tap view, sluice tap) receives"`
	// KeepFailures is how many of the latest failures the Failures view keeps.
	KeepFailures int `yaml:"keep_failures" doc:"how many of the latest parse failures and dead letters the Failures view keeps"`
}

// DefaultConfig returns the console's defaults (off; cmd/sluice turns it on in dev).
func DefaultConfig() Config {
	return Config{SampleInterval: 5 * time.Second, Window: 15 * time.Minute, TapRate: DefaultTapRate, KeepFailures: DefaultKeepFailures}
}

// Validate reports every problem of the section.
func (c Config) Validate() error {
	var errs []error
	if c.AdminKeySHA256 != "" {
		if b, err := hex.DecodeString(c.AdminKeySHA256); err != nil || len(b) != 32 {
			errs = append(errs, errors.New("admin_key_sha256: want the 64 hex digits of a SHA-256 (sluice hash-key prints them)"))
		}
	}
	if c.SampleInterval < 100*time.Millisecond || c.SampleInterval > time.Minute {
		errs = append(errs, fmt.Errorf("sample_interval: %v: want 100ms to 1m", c.SampleInterval))
	}
	if c.Window < c.SampleInterval || c.Window > 24*time.Hour {
		errs = append(errs, fmt.Errorf("window: %v: want sample_interval (%v) to 24h", c.Window, c.SampleInterval))
	} else if c.SampleInterval > 0 && c.Window/c.SampleInterval > 20000 {
		errs = append(errs, fmt.Errorf("window: %v is %d samples of %v: at most 20000", c.Window, c.Window/c.SampleInterval, c.SampleInterval))
	}
	if c.TapRate < 1 || c.TapRate > 10000 {
		errs = append(errs, fmt.Errorf("tap_rate: %v: want 1 to 10000 events a second", c.TapRate))
	}
	if c.KeepFailures < 1 || c.KeepFailures > 100000 {
		errs = append(errs, fmt.Errorf("keep_failures: %d: want 1 to 100000", c.KeepFailures))
	}
	return errors.Join(errs...)
}
