package leases

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/sluice-siem/sluice/internal/confpath"
	"github.com/sluice-siem/sluice/internal/secret"
	"github.com/sluice-siem/sluice/stream/kinesis"
)

// StoreConfig selects where the Kinesis consumer keeps its shard leases and
// checkpoints: this package's DynamoDB table, shared by any number of workers, or the
// consumer's own memory (transform/consume.MemoryStore), for one worker whose
// checkpoints are lost when it stops: for trials without DynamoDB. It is the
// stream.leases section of the configuration; cmd/sluice builds the store it names.
type StoreConfig struct {
	// Store is dynamodb or memory.
	Store    string `yaml:"store" doc:"dynamodb | memory (a single worker; checkpoints are lost when it stops)"`
	DynamoDB Config `yaml:"dynamodb" doc:"the DynamoDB lease table"`
}

// DefaultStoreConfig returns the defaults: the DynamoDB table of DefaultConfig.
func DefaultStoreConfig() StoreConfig {
	return StoreConfig{Store: "dynamodb", DynamoDB: DefaultConfig()}
}

// Validate reports every problem of c at once, each with its path in the section; the
// table's settings only when the store is dynamodb.
func (c StoreConfig) Validate() error {
	switch c.Store {
	case "dynamodb":
		return confpath.Prefix("dynamodb.", c.DynamoDB.Validate())
	case "memory":
		return nil
	default:
		return fmt.Errorf("store: must be dynamodb or memory, not %q", c.Store)
	}
}

// Config is the plain-data configuration of the lease table. DefaultConfig holds the
// defaults; Validate reports every problem at once.
type Config struct {
	// Table is the lease table's name. Every worker of one group of transformers uses
	// the same table; groups that read the same streams independently need one each.
	Table string `yaml:"table" doc:"lease table name, shared by the workers of one group; created if missing (on-demand billing)"`
	// Region is the table's AWS region; empty takes it from the AWS default chain.
	Region string `yaml:"region" doc:"AWS region of the table; empty: from the AWS default chain"`
	// Endpoint overrides the DynamoDB endpoint URL (compatible servers, VPC endpoints).
	Endpoint string `yaml:"endpoint" doc:"DynamoDB endpoint URL (compatible servers, VPC endpoints); empty: AWS"`
	// Credentials are static credentials; empty uses the AWS default chain.
	Credentials kinesis.Credentials `yaml:"credentials" doc:"static credentials; empty: the AWS default chain (task role, environment, ...)"`
	// RequestTimeout bounds one DynamoDB call, retries included.
	RequestTimeout time.Duration `yaml:"request_timeout" doc:"bound on one DynamoDB call, retries included"`
}

// DefaultConfig returns the defaults: table sluice-leases, AWS region and credentials
// from the default chain.
func DefaultConfig() Config {
	return Config{Table: "sluice-leases", RequestTimeout: 5 * time.Second}
}

// Validate reports every problem of c at once, each with its path in
// the section (such as "max_bytes: ..."); the configuration adds the section's path.
func (c Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if !validTableName(c.Table) {
		bad("table", "want 3-255 of A-Z a-z 0-9 _ - ., not %q", c.Table)
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("endpoint", "want an http:// or https:// URL, not %q", secret.RedactURL(c.Endpoint))
		}
	}
	cr := c.Credentials
	if (cr.AccessKeyID == "") != (cr.SecretAccessKey == "") {
		bad("credentials", "access_key_id and secret_access_key must be set together")
	}
	if cr.SessionToken != "" && cr.AccessKeyID == "" {
		bad("credentials.session_token", "needs access_key_id and secret_access_key")
	}
	if c.RequestTimeout <= 0 {
		bad("request_timeout", "must be positive")
	}
	return errors.Join(errs...)
}

// validTableName follows DynamoDB's table name rule.
func validTableName(s string) bool {
	if len(s) < 3 || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
