package leases_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"go.uber.org/goleak"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis/leases"
	"github.com/sluice-siem/sluice/stream/kinesis/leases/dynamodbtest"
	"github.com/sluice-siem/sluice/transform/consume"
	"github.com/sluice-siem/sluice/transform/consume/consumetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// dynaliteTiming leaves room for a server over HTTP that shares two cores with the rest
// of the test run.
var dynaliteTiming = consumetest.Timing{Renew: 100 * time.Millisecond, Failover: 1 * time.Second, Balance: 100 * time.Millisecond}

// TestStoreContract runs the LeaseStore contract against dynalite, with many rounds of
// workers racing for the same expired lease: exactly one wins each time.
func TestStoreContract(t *testing.T) {
	ep := dynamodbtest.Endpoint(t)
	consumetest.TestLeaseStore(t, func(t *testing.T) consume.LeaseStore { return dynamodbtest.NewStore(t, ep) }, 40)
}

// TestLeasing runs the shared lease suite with its leases in dynalite.
func TestLeasing(t *testing.T) {
	ep := dynamodbtest.Endpoint(t)
	consumetest.TestLeasing(t, func(t *testing.T) consume.LeaseStore { return dynamodbtest.NewStore(t, ep) }, dynaliteTiming)
}

// TestCreatesTable: New creates a missing table with on-demand billing, workers
// starting together all succeed, and an existing table is used as it is.
func TestCreatesTable(t *testing.T) {
	ep := dynamodbtest.Endpoint(t)
	table := dynamodbtest.TableName(t)
	t.Cleanup(func() { dynamodbtest.DeleteTable(t, ep, table) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			s, err := leases.New(ctx, dynamodbtest.Config(ep, table))
			if err != nil {
				t.Errorf("New: %v", err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	out, err := dynamodbtest.Client(t, ep).DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	d := out.Table
	if d.TableStatus != types.TableStatusActive || d.BillingModeSummary == nil || d.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("table %s: status %s billing %+v, want active, pay per request", table, d.TableStatus, d.BillingModeSummary)
	}
	s, err := leases.New(ctx, dynamodbtest.Config(ep, table))
	if err != nil {
		t.Fatalf("New on the existing table: %v", err)
	}
	defer s.Close()
	if err := s.Create(ctx, stream.Lease{Stream: "fw", Shard: "s0"}); err != nil {
		t.Fatal(err)
	}
}

// TestRefusesForeignTable: a table with another key is not taken for a lease table.
func TestRefusesForeignTable(t *testing.T) {
	ep := dynamodbtest.Endpoint(t)
	table := dynamodbtest.TableName(t)
	t.Cleanup(func() { dynamodbtest.DeleteTable(t, ep, table) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := dynamodbtest.Client(t, ep).CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leases.New(ctx, dynamodbtest.Config(ep, table)); err == nil || !strings.Contains(err.Error(), "not a sluice lease table") {
		t.Errorf("New on a foreign table = %v, want a refusal", err)
	}
}

// TestMalformedItem: an item that is not a lease is reported, not guessed at.
func TestMalformedItem(t *testing.T) {
	ep := dynamodbtest.Endpoint(t)
	s := dynamodbtest.NewStore(t, ep)
	ctx := context.Background()
	_, err := dynamodbtest.Client(t, ep).PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.Table()),
		Item: map[string]types.AttributeValue{
			"lease_key":     &types.AttributeValueMemberS{Value: "fw/s0"},
			"stream":        &types.AttributeValueMemberS{Value: "fw"},
			"shard":         &types.AttributeValueMemberS{Value: "s0"},
			"lease_counter": &types.AttributeValueMemberS{Value: "many"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "fw", "s0"); err == nil || !strings.Contains(err.Error(), "lease_counter") {
		t.Errorf("Get of a malformed item = %v, want an error naming lease_counter", err)
	}
	if _, err := s.List(ctx); err == nil {
		t.Error("List with a malformed item succeeded")
	}
	if err := s.Update(ctx, stream.Lease{Stream: "fw", Shard: "s1"}, stream.Lease{Stream: "fw", Shard: "s1"}); !errors.Is(err, stream.ErrConflict) {
		t.Errorf("Update of a missing lease = %v, want ErrConflict", err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := leases.DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	cfg := leases.Config{Table: "a b", Endpoint: "ftp://x"}
	cfg.Credentials.AccessKeyID = "AK"
	err := cfg.Validate()
	for _, want := range []string{"table:", "endpoint:", "credentials:", "request_timeout:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want a problem at %s", err, want)
		}
	}
}
