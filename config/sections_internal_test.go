package config

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// A section with a Validate method answers for what is below it.
type checked struct {
	N     int  `yaml:"n"`
	Inner leaf `yaml:"inner"`
}

func (c checked) Validate() error {
	if c.N < 0 {
		return errors.Join(errors.New("n: negative"), errors.New("inner.x: checked by its owner"))
	}
	return nil
}

type leaf struct {
	X int `yaml:"x"`
}

func (l leaf) Validate() error { return errors.New("x: the walk must not reach me through checked") }

type plain struct {
	Checked checked `yaml:"checked"`
	Nested  struct {
		A checked `yaml:"a"`
	} `yaml:"nested"`
	Skipped checked         `yaml:"skipped"`
	Hidden  checked         `yaml:"-"`
	Map     map[string]leaf `yaml:"map"`
}

func TestValidateSectionsAddsPathsAndStopsAtValidators(t *testing.T) {
	v := plain{Map: map[string]leaf{"k": {}}}
	v.Checked.N, v.Nested.A.N, v.Skipped.N, v.Hidden.N = -1, -1, -1, -1
	errs := validateSections(reflect.ValueOf(v), "", map[string]bool{"skipped": true})
	var got []string
	for _, err := range errs {
		got = append(got, strings.Split(err.Error(), "\n")...)
	}
	want := []string{
		"checked.n: negative", "checked.inner.x: checked by its owner",
		"nested.a.n: negative", "nested.a.inner.x: checked by its owner",
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems\n got %q\nwant %q", got, want)
	}
}

// Every section the configuration composes from a component reaches its Validate: one
// bad value in each, and each is reported under its path.
func TestEveryComponentSectionIsValidated(t *testing.T) {
	c := Default(RoleTransform)
	c.Sink.Search.Addresses = []string{"http://127.0.0.1:9200"}
	c.Lumberjack.IdleTimeout = -1
	c.GRPC.MaxConcurrentStreams = 0
	c.Bulk.ClusterName = ""
	c.Gateway.Limits.MaxBatchEvents = -1
	c.Stream.Kinesis.BatchRecords = 501
	c.Stream.Consumer.CallsPerSecond = 6
	c.Stream.Leases.DynamoDB.Table = "a b"
	c.Sink.Search.Workers = 0
	c.Sink.DeadLetters.Kind = "file"
	c.Sink.File.MaxOpenFiles = -1
	c.HTTP.TLS.ClientAuth = "sometimes"
	c.Lookups.Cache.Size = -1
	err := c.Validate(RoleTransform)
	for _, path := range []string{
		"lumberjack.idle_timeout:", "grpc.max_concurrent_streams:", "bulk.cluster_name:",
		"gateway.limits.max_batch_events:", "stream.kinesis.batch_records:", "stream.consumer.calls_per_second:",
		"stream.leases.dynamodb.table:", "sink.search.workers:", "sink.file.max_open_files:", "http.tls.client_auth:",
		"lookups.cache.size:",
	} {
		if err == nil || !strings.Contains(err.Error(), "\n"+path) && !strings.HasPrefix(err.Error(), path) {
			t.Errorf("no problem at %s in:\n%v", path, err)
		}
	}
}
