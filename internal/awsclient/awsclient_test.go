package awsclient_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/sluice-siem/sluice/internal/awsclient"
)

// isolate keeps the host's AWS environment and files out of a test.
func isolate(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID",
		"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
}

func TestLoadSettings(t *testing.T) {
	isolate(t)
	cfg, err := awsclient.Load(context.Background(), awsclient.Settings{
		Region:   "eu-west-1",
		Endpoint: "http://127.0.0.1:4567",
		Credentials: awsclient.Credentials{
			AccessKeyID: "AKID", SecretAccessKey: "very-secret", SessionToken: "token",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AWS.Region != "eu-west-1" {
		t.Errorf("region %q", cfg.AWS.Region)
	}
	if cfg.Endpoint == nil || *cfg.Endpoint != "http://127.0.0.1:4567" {
		t.Errorf("endpoint %v", cfg.Endpoint)
	}
	creds, err := cfg.AWS.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID != "AKID" || creds.SecretAccessKey != "very-secret" || creds.SessionToken != "token" {
		t.Errorf("credentials %+v", creds)
	}
	hc, ok := cfg.AWS.HTTPClient.(*http.Client)
	if !ok || hc.Transport != cfg.Transport || cfg.Transport == nil {
		t.Errorf("the HTTP client %T does not use the returned transport", cfg.AWS.HTTPClient)
	}
}

func TestLoadDefaults(t *testing.T) {
	isolate(t)
	t.Setenv("AWS_REGION", "us-east-2")
	cfg, err := awsclient.Load(context.Background(), awsclient.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AWS.Region != "us-east-2" {
		t.Errorf("region %q, want the environment's", cfg.AWS.Region)
	}
	if cfg.Endpoint != nil {
		t.Errorf("endpoint %q without one set", *cfg.Endpoint)
	}
}

func TestLoadNeedsRegion(t *testing.T) {
	isolate(t)
	if _, err := awsclient.Load(context.Background(), awsclient.Settings{}); !errors.Is(err, awsclient.ErrNoRegion) {
		t.Fatalf("Load without a region: %v", err)
	}
}

func TestCredentialsIsZero(t *testing.T) {
	if !(awsclient.Credentials{}).IsZero() {
		t.Error("empty credentials are not zero")
	}
	if (awsclient.Credentials{SessionToken: "x"}).IsZero() {
		t.Error("a session token alone is zero")
	}
}
