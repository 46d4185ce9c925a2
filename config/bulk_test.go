package config_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/gateway/httprecv"
)

func TestBulkDefaults(t *testing.T) {
	for _, role := range []config.Role{config.RoleDev, config.RoleGateway} {
		b := config.Default(role).Bulk
		if !b.Enabled || !b.DataStreamTypes || b.Version != "8.17.0" || b.ClusterName != "sluice" || b.NodeName != "" {
			t.Errorf("Default(%s).Bulk = %+v", role, b)
		}
		if want := []httprecv.IndexType{{Pattern: "logs-generic-*", Type: ""}, {Pattern: "fluent-bit", Type: "fluent-bit"}, {Pattern: "vector-*", Type: "vector"}}; !reflect.DeepEqual(b.IndexTypes, want) {
			t.Errorf("Default(%s).Bulk.IndexTypes = %+v, want %+v", role, b.IndexTypes, want)
		}
		if err := b.Validate(); err != nil {
			t.Errorf("Default(%s).Bulk.Validate: %v", role, err)
		}
	}
}

func TestBulkValidate(t *testing.T) {
	c := config.Default(config.RoleDev)
	c.Bulk.IndexTypes = []httprecv.IndexType{
		{Pattern: "logs-fw-*", Type: "firewall"}, // fine
		{Pattern: " ", Type: "ids"},
		{Pattern: "Filebeat-*", Type: ""},
		{Pattern: "waf-*", Type: "../waf"},
		{Pattern: "", Type: "Bad"},
	}
	c.Bulk.Version = "8.17"
	c.Bulk.ClusterName = ""
	got := paths(c.Validate(config.RoleDev))
	want := []string{
		"bulk.index_types[1].pattern", "bulk.index_types[2].pattern", "bulk.index_types[3].type",
		"bulk.index_types[4].pattern", "bulk.index_types[4].type", "bulk.version", "bulk.cluster_name",
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("problems at %q, want %q", got, want)
	}
	for _, v := range []string{"6.8.0", "8.x.0", "08.1.0", "8.1.0-SNAPSHOT", "", "9.0.0.1"} {
		c := config.Default(config.RoleDev)
		c.Bulk.Version = v
		if got := paths(c.Validate(config.RoleDev)); !slices.Equal(got, []string{"bulk.version"}) {
			t.Errorf("version %q: problems at %q", v, got)
		}
	}
	for _, v := range []string{"7.17.25", "8.0.0", "9.1.3", "10.0.0"} {
		c := config.Default(config.RoleDev)
		c.Bulk.Version = v
		if err := c.Validate(config.RoleDev); err != nil {
			t.Errorf("version %q: %v", v, err)
		}
	}
}

func TestBulkFromFileAndEnvironment(t *testing.T) {
	path := writeFile(t, "bulk.yaml", `
bulk:
  index_types:
    - {pattern: "logs-fw-*", type: firewall}
    - {pattern: "filebeat-*", type: ""}
  data_stream_types: false
  node_name: gw-1
`)
	c, err := config.Load(config.RoleDev, path, envOf(map[string]string{
		"SLUICE_BULK_VERSION": "7.17.0",
		"SLUICE_BULK_ENABLED": "false",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := httprecv.Bulk{
		Enabled:         false,
		IndexTypes:      []httprecv.IndexType{{Pattern: "logs-fw-*", Type: "firewall"}, {Pattern: "filebeat-*"}},
		DataStreamTypes: false,
		Version:         "7.17.0",
		ClusterName:     "sluice",
		NodeName:        "gw-1",
	}
	if !reflect.DeepEqual(c.Bulk, want) {
		t.Fatalf("bulk = %+v, want %+v", c.Bulk, want)
	}
	c, err = config.Load(config.RoleDev, "", envOf(map[string]string{
		"SLUICE_BULK_INDEX_TYPES": "[{pattern: suricata-*, type: ids}]",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if want := []httprecv.IndexType{{Pattern: "suricata-*", Type: "ids"}}; !reflect.DeepEqual(c.Bulk.IndexTypes, want) {
		t.Fatalf("index_types from the environment = %+v, want %+v", c.Bulk.IndexTypes, want)
	}
}
