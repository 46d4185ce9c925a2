package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/transform/consume"
)

// TestConsumerConfig: the Kinesis consumer of `sluice transform` is validated with its
// paths, only in that role, and loads from YAML and the environment.
func TestConsumerConfig(t *testing.T) {
	tr := config.Default(config.RoleTransform)
	tr.Sink.Kind = "file"
	if err := tr.Validate(config.RoleTransform); err != nil {
		t.Fatalf("transform defaults: %v", err)
	}
	tr.Stream.Consumer.InitialPosition = "yesterday"
	tr.Stream.Consumer.RenewPeriod = 0
	tr.Stream.Consumer.HandoffTimeout = time.Minute
	tr.Stream.Leases.Store = "etcd"
	got := paths(tr.Validate(config.RoleTransform))
	for _, want := range []string{"stream.consumer.initial_position", "stream.consumer.renew_period",
		"stream.consumer.handoff_timeout", "stream.leases.store"} {
		if !slices.Contains(got, want) {
			t.Errorf("problems at %v, want one at %s", got, want)
		}
	}
	// The gateway does not consume: the same settings do not concern it.
	gw := config.Default(config.RoleGateway)
	gw.Gateway.Auth.Disabled = true
	gw.Stream.Consumer = tr.Stream.Consumer
	gw.Stream.Leases = tr.Stream.Leases
	if err := gw.Validate(config.RoleGateway); err != nil {
		t.Errorf("gateway with a bad consumer section: %v", err)
	}

	tr = config.Default(config.RoleTransform)
	tr.Gateway.Routing.Streams = map[string]string{}
	tr.Gateway.Routing.DefaultStream = ""
	tr.Gateway.Routing.UnknownTypes = "reject"
	if got := paths(tr.Validate(config.RoleTransform)); !slices.Contains(got, "stream.consumer.streams") {
		t.Errorf("no streams anywhere: problems at %v", got)
	}
	tr.Stream.Leases.Store = "dynamodb"
	tr.Stream.Leases.DynamoDB.Table = "x"
	if got := paths(tr.Validate(config.RoleTransform)); !slices.Contains(got, "stream.leases.dynamodb.table") {
		t.Errorf("bad table name: problems at %v", got)
	}

	file := filepath.Join(t.TempDir(), "transform.yaml")
	yaml := `
stream:
  kind: kinesis
  consumer:
    worker_id: task-1
    streams: [sluice-firewall]
    initial_position: latest
    failover_time: 20s
  leases:
    store: dynamodb
    dynamodb:
      table: prod-leases
      region: eu-west-1
sink:
  kind: file
  file:
    id_field: _id
`
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SLUICE_STREAM_CONSUMER_RENEW_PERIOD": "5s", "SLUICE_STREAM_LEASES_DYNAMODB_ENDPOINT": "http://127.0.0.1:8000"}
	c, err := config.Load(config.RoleTransform, file, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	cc, l := c.Stream.Consumer, c.Stream.Leases
	if cc.WorkerID != "task-1" || !slices.Equal(cc.Streams, []string{"sluice-firewall"}) || cc.InitialPosition != stream.Latest ||
		cc.FailoverTime != 20*time.Second || cc.RenewPeriod != 5*time.Second || cc.BalancePeriod != consume.DefaultConfig().BalancePeriod {
		t.Errorf("consumer = %+v", cc)
	}
	if l.DynamoDB.Table != "prod-leases" || l.DynamoDB.Region != "eu-west-1" || l.DynamoDB.Endpoint != "http://127.0.0.1:8000" || c.Sink.File.IDField != "_id" {
		t.Errorf("leases = %+v, id field %q", l, c.Sink.File.IDField)
	}
	if err := c.Validate(config.RoleTransform); err != nil {
		t.Errorf("Validate: %v", err)
	}
}
