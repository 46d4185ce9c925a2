package config_test

import (
	"strings"
	"testing"

	"github.com/sluice-siem/sluice/config"
)

// TestMaxDepth: limits.max_depth defaults well under encoding/json's 10,000 for every
// role, is read from the environment like every setting, and is refused outside 1 to
// 10,000.
func TestMaxDepth(t *testing.T) {
	for _, role := range []config.Role{config.RoleDev, config.RoleGateway, config.RoleTransform} {
		if d := config.Default(role).Limits.MaxDepth; d != 100 {
			t.Errorf("Default(%s).Limits.MaxDepth = %d, want 100", role, d)
		}
	}
	env := map[string]string{"SLUICE_LIMITS_MAX_DEPTH": "32"}
	cfg, err := config.Load(config.RoleDev, "", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil || cfg.Limits.MaxDepth != 32 {
		t.Fatalf("Load with SLUICE_LIMITS_MAX_DEPTH=32: %d, %v", cfg.Limits.MaxDepth, err)
	}
	for _, bad := range []int{0, -1, 10001} {
		cfg := config.Default(config.RoleDev)
		cfg.Limits.MaxDepth = bad
		if err := cfg.Validate(config.RoleDev); err == nil || !strings.Contains(err.Error(), "limits.max_depth: must be 1 to 10000") {
			t.Errorf("max_depth %d: Validate = %v", bad, err)
		}
	}
}
