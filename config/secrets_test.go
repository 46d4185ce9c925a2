package config_test

import (
	"strings"
	"testing"

	"github.com/sluice-siem/sluice/config"
)

// TestValidateNeverQuotesSecrets: a URL that does not parse is named in the error with
// its password redacted, wherever the configuration holds one.
func TestValidateNeverQuotesSecrets(t *testing.T) {
	cfg := config.Default(config.RoleTransform)
	cfg.Sink.Kind = "search"
	cfg.Sink.Search.Addresses = []string{"http://sluice:hunter2@search:badport", "https://tok3n-abc@x y"}
	cfg.Stream.Kinesis.Endpoint = "http://AKIA:s3cr3t@kinesis:bad"
	cfg.Stream.Leases.DynamoDB.Endpoint = "ftp://u:dyn4m0@db"
	err := cfg.Validate(config.RoleTransform)
	if err == nil {
		t.Fatal("Validate accepted malformed URLs")
	}
	for _, s := range []string{"hunter2", "tok3n-abc", "s3cr3t", "dyn4m0"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error quotes the secret %q: %v", s, err)
		}
	}
	for _, want := range []string{"sink.search.addresses[0]", "sink.search.addresses[1]", "stream.kinesis.endpoint", "stream.leases.dynamodb.endpoint", "[redacted]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q: %v", want, err)
		}
	}
}
