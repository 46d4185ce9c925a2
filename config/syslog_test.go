package config_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/gateway/syslog"
)

// TestSyslogListenerTypes: each syslog listener's types are read from the file and
// from the environment, unset by default (each falls back to syslog.types), and
// checked with their paths.
func TestSyslogListenerTypes(t *testing.T) {
	def := config.Default(config.RoleGateway).Syslog
	if len(def.TCP.Types) != 0 || len(def.TLS.Types) != 0 || len(def.UDP.Types) != 0 || !slices.Equal(def.Types, []string{"*"}) {
		t.Errorf("default types: tcp %q, tls %q, udp %q, syslog %q", def.TCP.Types, def.TLS.Types, def.UDP.Types, def.Types)
	}
	path := writeFile(t, "sluice.yaml", `
syslog:
  tcp:
    addr: 127.0.0.1:5514
    types: [firewall]
  udp:
    addr: 127.0.0.1:5514
    types: [firewall, "Bad Type"]
`)
	c, err := config.Load(config.RoleDev, path, envOf(map[string]string{"SLUICE_SYSLOG_TLS_TYPES": "[ids, firewall]"}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Syslog.TCP.Types, []string{"firewall"}) || !slices.Equal(c.Syslog.TLS.Types, []string{"ids", "firewall"}) {
		t.Errorf("types: tcp %q, tls %q", c.Syslog.TCP.Types, c.Syslog.TLS.Types)
	}
	if got := paths(c.Validate(config.RoleDev)); !slices.Equal(got, []string{"syslog.udp.types[1]"}) {
		t.Errorf("problems at %q, want syslog.udp.types[1]", got)
	}
}

// TestRELPTypesCoverRules: RELP answers 200 to a message of a type relp.types does
// not allow and drops it, so relp.types that leave out a type the syslog rules (or the
// default type) give are refused at start, naming the types and the ways out. With
// RELP off, or types that cover the rules, nothing is reported.
func TestRELPTypesCoverRules(t *testing.T) {
	c := config.Default(config.RoleDev)
	c.Syslog.Rules = []syslog.Rule{{Type: "firewall", AppName: "kernel"}, {Type: "ids", AppName: "suricata"}}
	c.RELP.Addr = "127.0.0.1:2514"
	c.RELP.Types = []string{"firewall"} // the rules also give ids, the default type syslog
	err := c.Validate(config.RoleDev)
	if got := paths(err); !slices.Equal(got, []string{"relp.types"}) {
		t.Fatalf("problems at %q, want relp.types", got)
	}
	for _, want := range []string{"log types ids, syslog,", "syslog.rules and syslog.default_type", "add ids, syslog to relp.types", `["*"]`, "drops it"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the problem does not say %q:\n%v", want, err)
		}
	}

	c.RELP.Types = []string{"firewall", "ids", "syslog"}
	if err := c.Validate(config.RoleDev); err != nil {
		t.Errorf("types that cover the rules: %v", err)
	}
	c.RELP.Types = []string{"*"}
	if err := c.Validate(config.RoleDev); err != nil {
		t.Errorf("all types: %v", err)
	}
	c.RELP.Types = []string{"firewall"}
	c.RELP.Addr = ""
	if err := c.Validate(config.RoleDev); err != nil {
		t.Errorf("RELP off: %v", err)
	}

	// Without syslog.default_type, messages no rule matches get the gateway's default
	// type.
	c.RELP.Addr = "127.0.0.1:2514"
	c.RELP.Types = []string{"firewall", "ids"}
	c.Syslog.DefaultType = ""
	c.Gateway.Routing.DefaultType = "unknown"
	err = c.Validate(config.RoleDev)
	if got := paths(err); !slices.Equal(got, []string{"relp.types"}) || !strings.Contains(err.Error(), "log types unknown, which syslog.rules and gateway.routing.default_type") {
		t.Errorf("without syslog.default_type: %v", err)
	}
	c.Gateway.Routing.DefaultType = ""
	if err := c.Validate(config.RoleDev); err != nil {
		t.Errorf("no default type anywhere: %v", err)
	}

	// Rules the syslog section refuses are reported there, once.
	c.Syslog.Rules[0].Match = "["
	if got := paths(c.Validate(config.RoleDev)); !slices.Equal(got, []string{"syslog.rules[0].match"}) {
		t.Errorf("bad rules: problems at %q", got)
	}
}
