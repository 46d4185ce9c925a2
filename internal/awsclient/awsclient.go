// Package awsclient is the one place sluice builds an AWS SDK configuration: region,
// endpoint and credentials for the Kinesis producer and reader (stream/kinesis), the
// DynamoDB lease table (stream/kinesis/leases) and SigV4 signing for Amazon OpenSearch
// Service (sink/search). It is shared plumbing below every step of the data path.
package awsclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/sluice-siem/sluice/internal/secret"
)

// ErrNoRegion is returned by Load when neither the settings nor the environment name a
// region.
var ErrNoRegion = errors.New("no AWS region: set the region in the configuration or AWS_REGION")

// Credentials are static AWS credentials. Both keys empty means the AWS default chain.
type Credentials struct {
	AccessKeyID     string        `yaml:"access_key_id" doc:"access key id; empty: the AWS default chain"`
	SecretAccessKey secret.Secret `yaml:"secret_access_key" doc:"secret access key"`
	SessionToken    secret.Secret `yaml:"session_token" doc:"session token of temporary credentials"`
}

// IsZero reports whether no static credentials are set.
func (c Credentials) IsZero() bool {
	return c.AccessKeyID == "" && c.SecretAccessKey == "" && c.SessionToken == ""
}

// Settings say where and as whom to call AWS. Empty fields fall back to the SDK's
// defaults (environment, shared config files, task role).
type Settings struct {
	// Region overrides AWS_REGION and the shared config.
	Region string
	// Endpoint is the service's endpoint URL (a local emulator, a VPC endpoint); empty
	// means the SDK's endpoint for the region.
	Endpoint string
	// Credentials are static credentials; empty uses the AWS default chain.
	Credentials Credentials
}

// Config is a loaded AWS configuration with an HTTP transport of its own, so that its
// owner can tune it before the first call and close its idle connections when done.
type Config struct {
	// AWS is the SDK configuration: region, credentials and an HTTP client using
	// Transport.
	AWS aws.Config
	// Transport is the HTTP transport of AWS.HTTPClient, with the SDK's settings
	// (AWS_CA_BUNDLE included).
	Transport *http.Transport
	// Endpoint is Settings.Endpoint; nil when unset. A client sets it as its service
	// option BaseEndpoint (not aws.Config's, which AWS_ENDPOINT_URL_<SERVICE> would
	// override): an endpoint in the configuration wins over the environment.
	Endpoint *string
}

// Load builds the AWS configuration for s. It fails with ErrNoRegion (wrapped) when no
// region is known. ctx bounds reading the shared configuration.
func Load(ctx context.Context, s Settings) (Config, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if s.Region != "" {
		opts = append(opts, awsconfig.WithRegion(s.Region))
	}
	if c := s.Credentials; !c.IsZero() {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(
			c.AccessKeyID, string(c.SecretAccessKey), string(c.SessionToken))))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		return Config{}, ErrNoRegion
	}
	var transport *http.Transport
	if b, ok := awsCfg.HTTPClient.(*awshttp.BuildableClient); ok {
		transport = b.GetTransport()
	} else {
		transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	awsCfg.HTTPClient = &http.Client{Transport: transport}
	c := Config{AWS: awsCfg, Transport: transport}
	if s.Endpoint != "" {
		c.Endpoint = aws.String(s.Endpoint)
	}
	return c, nil
}
