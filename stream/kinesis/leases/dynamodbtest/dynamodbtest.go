// Package dynamodbtest runs tests against a real DynamoDB-compatible server: dynalite,
// which scripts/dynalite.sh installs and starts on 127.0.0.1 and scripts/test.sh
// exports as SLUICE_TEST_DYNAMODB_ENDPOINT. It finds the endpoint and makes a lease
// store on a uniquely named table for each test. It is for tests only.
package dynamodbtest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/sluice-siem/sluice/stream/kinesis"
	"github.com/sluice-siem/sluice/stream/kinesis/leases"
)

// EndpointEnv names the variable that holds the test server's endpoint.
const EndpointEnv = "SLUICE_TEST_DYNAMODB_ENDPOINT"

// Static settings of the test server: any credentials will do, and one region.
const (
	Region          = "us-east-1"
	AccessKeyID     = "sluice-test"
	SecretAccessKey = "sluice-test-secret"
)

// Endpoint returns the test server's endpoint. When EndpointEnv is unset it skips the
// test, except under CI=true, where it fails it: CI must never skip these tests
// silently.
func Endpoint(t testing.TB) string {
	t.Helper()
	if ep := os.Getenv(EndpointEnv); ep != "" {
		return ep
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set and CI=true: run the tests with scripts/test.sh, which starts dynalite", EndpointEnv)
	}
	t.Skipf("%s is not set: run scripts/test.sh (or `scripts/dynalite.sh start` and export %s=<endpoint>) to run this test against dynalite",
		EndpointEnv, EndpointEnv)
	return ""
}

var tableSeq atomic.Int64

// TableName returns a table name unique to this test and run.
func TableName(t testing.TB) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '_':
			return r
		}
		return '-'
	}, t.Name())
	if len(name) > 80 {
		name = name[:80]
	}
	return fmt.Sprintf("%s-%d-%d", name, time.Now().UnixNano()%1e9, tableSeq.Add(1))
}

// Config returns the lease table configuration of a table on the test server.
func Config(endpoint, table string) leases.Config {
	cfg := leases.DefaultConfig()
	cfg.Table = table
	cfg.Region = Region
	cfg.Endpoint = endpoint
	cfg.Credentials = kinesis.Credentials{AccessKeyID: AccessKeyID, SecretAccessKey: SecretAccessKey}
	return cfg
}

// NewStore returns a store on a fresh table of the test server; the table is deleted
// and the store closed when the test ends.
func NewStore(t testing.TB, endpoint string) *leases.Store {
	t.Helper()
	table := TableName(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := leases.New(ctx, Config(endpoint, table))
	if err != nil {
		t.Fatalf("new lease store on %s: %v", endpoint, err)
	}
	t.Cleanup(func() {
		s.Close()
		DeleteTable(t, endpoint, table)
	})
	return s
}

// Client returns a DynamoDB client of the endpoint for administering test tables.
// Its idle connections are closed when the test ends.
func Client(t testing.TB, endpoint string) *dynamodb.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return dynamodb.New(dynamodb.Options{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		HTTPClient:   &http.Client{Transport: tr},
	})
}

// DeleteTable deletes a test table, ignoring failures (the server is thrown away at
// the end of the run anyway).
func DeleteTable(t testing.TB, endpoint, table string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = Client(t, endpoint).DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)})
}
