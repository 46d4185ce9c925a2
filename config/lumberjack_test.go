package config_test

import (
	"slices"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/gateway/lumberjack"
)

func TestLumberjackDefaults(t *testing.T) {
	l := config.Default(config.RoleGateway).Lumberjack
	if l.Addr != "127.0.0.1:5044" || l.TLS.ClientAuth != "none" || !slices.Equal(l.Types, []string{"*"}) || l.KeepMetadata {
		t.Errorf("lumberjack defaults: %+v", l)
	}
	// Keepalives well inside Filebeat's 30s timeout, and windows of Filebeat's default
	// bulk_max_size (2048) and more accepted.
	if l.KeepaliveInterval <= 0 || l.KeepaliveInterval > 10*time.Second || l.MaxWindowEvents < 10000 {
		t.Errorf("lumberjack defaults: keepalive %v, max window %d", l.KeepaliveInterval, l.MaxWindowEvents)
	}
	if err := l.Validate(); err != nil {
		t.Error(err)
	}
}

func TestLumberjackValidateReportsEveryProblem(t *testing.T) {
	c := config.Default(config.RoleDev)
	c.Lumberjack = lumberjack.Config{
		Addr:                 "5044", // no host:port
		TLS:                  config.TLS{ClientAuth: "always"},
		IdleTimeout:          -time.Second,
		MaxWindowEvents:      -1,
		MaxFrameBytes:        1 << 33,
		MaxDecodedFrameBytes: 1,
		Types:                []string{"firewall", "Bad Type"},
	}
	want := []string{
		"lumberjack.addr",
		"lumberjack.tls.client_auth",
		"lumberjack.idle_timeout",
		"lumberjack.handshake_timeout",
		"lumberjack.read_timeout",
		"lumberjack.max_connections",
		"lumberjack.max_window_events",
		"lumberjack.max_frame_bytes",
		"lumberjack.max_decoded_frame_bytes",
		"lumberjack.keepalive_interval",
		"lumberjack.types[1]",
	}
	got := paths(c.Validate(config.RoleDev))
	if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
		t.Errorf("problem paths:\n got  %q\n want %q", got, want)
	}
	c.Lumberjack = config.Default(config.RoleDev).Lumberjack
	c.Lumberjack.Types = nil
	if got := paths(c.Validate(config.RoleDev)); !slices.Equal(got, []string{"lumberjack.types"}) {
		t.Errorf("no types: problems at %q", got)
	}
}
