package config_test

import (
	"slices"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/gateway/grpcrecv"
)

// Every listener has a connection cap by default, and gRPC bounds its streams, its
// handshake and its clients' pings.
func TestListenerLimitsDefaults(t *testing.T) {
	c := config.Default(config.RoleGateway)
	if c.HTTP.MaxConnections <= 0 || c.GRPC.MaxConnections <= 0 || c.Lumberjack.MaxConnections <= 0 {
		t.Errorf("max_connections http %d, grpc %d, lumberjack %d: want each bounded", c.HTTP.MaxConnections, c.GRPC.MaxConnections, c.Lumberjack.MaxConnections)
	}
	g := c.GRPC
	if g.MaxConcurrentStreams == 0 || g.MaxConcurrentStreams > 1000 {
		t.Errorf("grpc.max_concurrent_streams %d", g.MaxConcurrentStreams)
	}
	if g.ReadTimeout <= 0 || g.ReadTimeout > time.Minute || g.IdleTimeout <= 0 {
		t.Errorf("grpc read_timeout %v, idle_timeout %v: want a bounded handshake and idle connections closed", g.ReadTimeout, g.IdleTimeout)
	}
	// grpc-go clients may ping every 10s at most; they must not be disconnected.
	if g.KeepaliveMinTime <= 0 || g.KeepaliveMinTime > 10*time.Second {
		t.Errorf("grpc.keepalive_min_time %v", g.KeepaliveMinTime)
	}
	if err := g.Validate(); err != nil {
		t.Error(err)
	}
}

func TestValidateListenerLimits(t *testing.T) {
	c := config.Default(config.RoleDev)
	c.HTTP.MaxConnections = 0
	c.GRPC = grpcrecv.Config{
		Addr:                 "127.0.0.1:9090",
		ReadTimeout:          0,
		IdleTimeout:          -time.Second,
		MaxConnections:       -1,
		MaxConcurrentStreams: 0,
		KeepaliveTime:        500 * time.Millisecond,
		KeepaliveTimeout:     0,
		KeepaliveMinTime:     -time.Second,
	}
	want := []string{
		"http.max_connections",
		"grpc.read_timeout", "grpc.idle_timeout", "grpc.max_connections", "grpc.max_concurrent_streams",
		"grpc.keepalive_timeout", "grpc.keepalive_min_time", "grpc.keepalive_time",
	}
	if got := paths(c.Validate(config.RoleDev)); !slices.Equal(got, want) {
		t.Errorf("problems at %q, want %q", got, want)
	}
}

// The settings are read from the environment like every other.
func TestListenerLimitsFromEnv(t *testing.T) {
	env := map[string]string{
		"SLUICE_HTTP_MAX_CONNECTIONS":        "10",
		"SLUICE_GRPC_MAX_CONNECTIONS":        "20",
		"SLUICE_GRPC_MAX_CONCURRENT_STREAMS": "8",
		"SLUICE_GRPC_KEEPALIVE_MIN_TIME":     "30s",
		"SLUICE_GRPC_ADDR":                   "0.0.0.0:9090",
	}
	c, err := config.Load(config.RoleGateway, "", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.MaxConnections != 10 || c.GRPC.MaxConnections != 20 || c.GRPC.MaxConcurrentStreams != 8 ||
		c.GRPC.KeepaliveMinTime != 30*time.Second || c.GRPC.Addr != "0.0.0.0:9090" {
		t.Errorf("loaded http %+v grpc %+v", c.HTTP, c.GRPC)
	}
}
