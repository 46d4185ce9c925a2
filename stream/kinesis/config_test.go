package kinesis_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/stream/kinesis"
)

func TestDefaultConfigIsValid(t *testing.T) {
	if err := kinesis.DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	cfg := kinesis.DefaultConfig()
	if !cfg.Aggregation || cfg.BatchRecords != 500 || cfg.MaxRequestBytes != 5<<20 || cfg.MaxRecordBytes != 1<<20 ||
		cfg.Shard.BytesPerSecond != 1<<20 || cfg.Shard.RecordsPerSecond != 1000 {
		t.Errorf("defaults are not the Kinesis limits with aggregation on: %+v", cfg)
	}
}

// TestValidateReportsEverything checks that Validate reports every problem at once,
// each with its path.
func TestValidateReportsEverything(t *testing.T) {
	cfg := kinesis.DefaultConfig()
	cfg.Endpoint = "localhost:4567"
	cfg.Credentials.AccessKeyID = "AKIA"
	cfg.Streams = map[string]kinesis.StreamLocation{"bad name": {}, "ok": {Endpoint: "ftp://x"}}
	cfg.Linger = -time.Second
	cfg.BatchRecords = 501
	cfg.MaxRequestBytes = 11 << 20
	cfg.MaxRecordBytes = 12 << 20
	cfg.MaxInflightBytes = 1
	cfg.MaxInflightRequests = 0
	cfg.RequestTimeout = 0
	cfg.Retry = kinesis.Retry{MaxAttempts: 0, BaseDelay: 0, MaxDelay: -1, Timeout: 0}
	cfg.Shard = kinesis.ShardLimits{Burst: time.Second}
	cfg.ShardRefresh = 0
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate accepted a broken config")
	}
	for _, path := range []string{
		"endpoint", "credentials", "streams.bad name",
		"streams.ok.endpoint", "linger", "batch_records",
		"max_request_bytes", "max_record_bytes", "max_inflight_bytes",
		"max_inflight_requests", "request_timeout", "retry.max_attempts",
		"retry.base_delay", "retry.max_delay", "retry.timeout",
		"shard.bytes_per_second", "shard.records_per_second", "shard.burst",
		"shard_refresh",
	} {
		if !strings.Contains(err.Error(), path+":") {
			t.Errorf("Validate does not report %s:\n%v", path, err)
		}
	}
}

// TestSecretNeverPrints checks that credentials stay out of fmt, slog and YAML output.
func TestSecretNeverPrints(t *testing.T) {
	cfg := kinesis.DefaultConfig()
	cfg.Credentials = kinesis.Credentials{AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "very-secret", SessionToken: "token-secret"}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "secret", cfg.Credentials.SecretAccessKey, "creds", cfg.Credentials)
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), logged.String(), string(out)} {
		if strings.Contains(s, "very-secret") || strings.Contains(s, "token-secret") {
			t.Errorf("a secret is printed: %s", s)
		}
	}
	if !strings.Contains(string(out), "[redacted]") {
		t.Errorf("YAML output does not show the secret as redacted:\n%s", out)
	}
}

func TestNewNeedsRegion(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	_, err := kinesis.New(context.Background(), kinesis.DefaultConfig(), kinesis.Options{})
	if err == nil || !strings.Contains(err.Error(), "no AWS region") {
		t.Fatalf("New without a region: %v", err)
	}
	bad := kinesis.DefaultConfig()
	bad.BatchRecords = 0
	if _, err := kinesis.New(context.Background(), bad, kinesis.Options{}); err == nil || !strings.Contains(err.Error(), "batch_records") {
		t.Fatalf("New with an invalid config: %v", err)
	}
}
