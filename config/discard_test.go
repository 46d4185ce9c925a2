package config_test

import (
	"slices"
	"testing"

	"github.com/sluice-siem/sluice/config"
)

// The discard stream (a benchmark tool) is allowed for the gateway role only.
func TestValidateDiscardStream(t *testing.T) {
	gw := config.Default(config.RoleGateway)
	gw.Gateway.Auth.Disabled = true
	gw.Stream.Kind = "discard"
	if err := gw.Validate(config.RoleGateway); err != nil {
		t.Errorf("gateway on discard: %v", err)
	}
	for _, role := range []config.Role{config.RoleDev, config.RoleTransform} {
		c := config.Default(role)
		c.Sink.Kind = "file"
		c.Stream.Kind = "discard"
		if got := paths(c.Validate(role)); !slices.Equal(got, []string{"stream.kind"}) {
			t.Errorf("%s on discard: problems at %q, want stream.kind", role, got)
		}
	}
}
