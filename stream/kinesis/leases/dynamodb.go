// Package leases is the lease table of the Kinesis stream, on Amazon DynamoDB, for
// step 4 of the data path, consume: a consume.LeaseStore of stream.Lease records that
// any number of `sluice transform` tasks share to divide the shards of their streams
// among them. It lives with the Kinesis stream because reading Kinesis with many workers
// is what needs it (the embedded stream needs none) and it shares the stream's AWS
// settings (region, endpoint, credentials).
//
// The table (created if missing, with on-demand billing) has one item per shard, keyed
// by lease_key ("stream/shard"):
//
//	lease_key      S     stream/shard
//	stream, shard  S
//	owner          S     the worker processing the shard; absent when none
//	lease_counter  N     bumped by every write of the owner, renewals included
//	next_owner     S     a worker that asked for the lease (balance); absent when none
//	checkpoint     S     sequence number of the last processed record; absent when none
//	checkpoint_sub N     last processed user record inside that aggregated record;
//	                     present only for a checkpoint inside an aggregated record
//	start          S     trim_horizon | at_timestamp | latest: where a shard without a
//	                     checkpoint is read from
//	start_time     S     RFC 3339 time of at_timestamp
//	parents        L(S)  parent shard ids; absent when none
//	finished       BOOL  the shard is read to its end and checkpointed
//
// Every change is a conditional write on lease_counter, owner and next_owner (PutItem
// or DeleteItem with a ConditionExpression), so no update is ever lost: of several
// workers writing the same lease from the same state, exactly one succeeds. Nothing
// needs transactions or TTL, so DynamoDB-compatible servers such as dynalite serve it.
package leases

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sluice-siem/sluice/internal/awsclient"
	"github.com/sluice-siem/sluice/internal/retry"
	"github.com/sluice-siem/sluice/stream"
)

// Attribute names of a lease item.
const (
	attrKey       = "lease_key"
	attrStream    = "stream"
	attrShard     = "shard"
	attrOwner     = "owner"
	attrCounter   = "lease_counter"
	attrNextOwner = "next_owner"
	attrCheckpt   = "checkpoint"
	attrCheckSub  = "checkpoint_sub"
	attrStart     = "start"
	attrStartTime = "start_time"
	attrParents   = "parents"
	attrFinished  = "finished"
)

// api is the part of the DynamoDB client the store uses.
type api interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// Store is the lease table. It implements consume.LeaseStore; its methods are safe for
// concurrent use and each makes one DynamoDB call (Scan: one per page) bounded by
// Config.RequestTimeout. Create it with New and close it with Close.
type Store struct {
	api       api
	table     string
	timeout   time.Duration
	transport *http.Transport
}

// New validates cfg, loads the AWS configuration and makes sure the table exists:
// it creates it if missing and waits until it is active. ctx bounds all of that.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("dynamodb lease table config: %w", err)
	}
	ac, err := awsclient.Load(ctx, awsclient.Settings{Region: cfg.Region, Endpoint: cfg.Endpoint, Credentials: cfg.Credentials})
	if err != nil {
		return nil, fmt.Errorf("dynamodb lease table: %w", err)
	}
	client := dynamodb.NewFromConfig(ac.AWS, func(o *dynamodb.Options) {
		if ac.Endpoint != nil {
			o.BaseEndpoint = ac.Endpoint
		}
	})
	s := &Store{api: client, table: cfg.Table, timeout: cfg.RequestTimeout, transport: ac.Transport}
	if err := s.ensureTable(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the store's idle connections. The store must not be used after.
func (s *Store) Close() { s.transport.CloseIdleConnections() }

// Start implements the lifecycle of cmd/sluice: the store has no background work; the
// consumer uses it from New on.
func (s *Store) Start(context.Context) error { return nil }

// Shutdown closes the store's idle connections (Close); list it below the consumer, so
// that it shuts down after the consumer's last checkpoint. It is safe without Start and
// twice, and returns nil.
func (s *Store) Shutdown(context.Context) error {
	s.Close()
	return nil
}

// Table returns the table's name.
func (s *Store) Table() string { return s.table }

// ensureTable creates the table if it does not exist and waits until it is active.
// Several workers starting together may all try: the losers see ResourceInUse and
// wait like the winner.
func (s *Store) ensureTable(ctx context.Context) error {
	out, err := s.api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.table)})
	var notFound *types.ResourceNotFoundException
	switch {
	case errors.As(err, &notFound):
		_, err = s.api.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName:            aws.String(s.table),
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(attrKey), AttributeType: types.ScalarAttributeTypeS}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(attrKey), KeyType: types.KeyTypeHash}},
			BillingMode:          types.BillingModePayPerRequest,
		})
		var inUse *types.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) {
			return fmt.Errorf("create lease table %s: %w", s.table, err)
		}
	case err != nil:
		return fmt.Errorf("describe lease table %s: %w", s.table, err)
	default:
		if err := checkSchema(s.table, out.Table); err != nil {
			return err
		}
	}
	for {
		out, err := s.api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.table)})
		if err == nil && out.Table != nil && out.Table.TableStatus == types.TableStatusActive {
			return checkSchema(s.table, out.Table)
		}
		if !retry.Sleep(ctx, 200*time.Millisecond) {
			return fmt.Errorf("wait for lease table %s to be active (last error: %v): %w", s.table, err, ctx.Err())
		}
	}
}

// checkSchema refuses a table whose key is not lease_key (a table made for something
// else).
func checkSchema(table string, d *types.TableDescription) error {
	if d == nil {
		return fmt.Errorf("describe lease table %s: no description", table)
	}
	if len(d.KeySchema) != 1 || aws.ToString(d.KeySchema[0].AttributeName) != attrKey || d.KeySchema[0].KeyType != types.KeyTypeHash {
		return fmt.Errorf("table %s exists but its key is not the hash key %s: it is not a sluice lease table", table, attrKey)
	}
	return nil
}

// List scans the whole table with consistent reads.
func (s *Store) List(ctx context.Context) ([]stream.Lease, error) {
	var out []stream.Lease
	in := &dynamodb.ScanInput{TableName: aws.String(s.table), ConsistentRead: aws.Bool(true)}
	for {
		page, err := call(ctx, s.timeout, func(ctx context.Context) (*dynamodb.ScanOutput, error) { return s.api.Scan(ctx, in) })
		if err != nil {
			return nil, fmt.Errorf("scan lease table %s: %w", s.table, err)
		}
		for _, item := range page.Items {
			l, err := decodeLease(item)
			if err != nil {
				return nil, fmt.Errorf("scan lease table %s: %w", s.table, err)
			}
			out = append(out, l)
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// Get reads one lease consistently.
func (s *Store) Get(ctx context.Context, streamName, shard string) (stream.Lease, error) {
	key := stream.Lease{Stream: streamName, Shard: shard}.Key()
	out, err := call(ctx, s.timeout, func(ctx context.Context) (*dynamodb.GetItemOutput, error) {
		return s.api.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:      aws.String(s.table),
			Key:            map[string]types.AttributeValue{attrKey: &types.AttributeValueMemberS{Value: key}},
			ConsistentRead: aws.Bool(true),
		})
	})
	if err != nil {
		return stream.Lease{}, fmt.Errorf("get lease %s from %s: %w", key, s.table, err)
	}
	if len(out.Item) == 0 {
		return stream.Lease{}, fmt.Errorf("get lease %s from %s: %w", key, s.table, stream.ErrNotFound)
	}
	l, err := decodeLease(out.Item)
	if err != nil {
		return stream.Lease{}, fmt.Errorf("get lease %s from %s: %w", key, s.table, err)
	}
	return l, nil
}

// Create puts l unless an item with its key exists.
func (s *Store) Create(ctx context.Context, l stream.Lease) error {
	_, err := call(ctx, s.timeout, func(ctx context.Context) (*dynamodb.PutItemOutput, error) {
		return s.api.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                aws.String(s.table),
			Item:                     encodeLease(l),
			ConditionExpression:      aws.String("attribute_not_exists(#k)"),
			ExpressionAttributeNames: map[string]string{"#k": attrKey},
		})
	})
	if err != nil {
		return fmt.Errorf("create lease %s in %s: %w", l.Key(), s.table, conflict(err))
	}
	return nil
}

// Update replaces old by l if the stored item has old's counter, owner and next owner.
func (s *Store) Update(ctx context.Context, old, l stream.Lease) error {
	if old.Key() != l.Key() {
		return fmt.Errorf("update lease %s with lease %s: keys differ", old.Key(), l.Key())
	}
	cond, names, values := condition(old)
	_, err := call(ctx, s.timeout, func(ctx context.Context) (*dynamodb.PutItemOutput, error) {
		return s.api.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                 aws.String(s.table),
			Item:                      encodeLease(l),
			ConditionExpression:       aws.String(cond),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		})
	})
	if err != nil {
		return fmt.Errorf("update lease %s in %s: %w", l.Key(), s.table, conflict(err))
	}
	return nil
}

// Delete removes old if the stored item has its counter, owner and next owner.
func (s *Store) Delete(ctx context.Context, old stream.Lease) error {
	cond, names, values := condition(old)
	_, err := call(ctx, s.timeout, func(ctx context.Context) (*dynamodb.DeleteItemOutput, error) {
		return s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName:                 aws.String(s.table),
			Key:                       map[string]types.AttributeValue{attrKey: &types.AttributeValueMemberS{Value: old.Key()}},
			ConditionExpression:       aws.String(cond),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		})
	})
	if err != nil {
		return fmt.Errorf("delete lease %s from %s: %w", old.Key(), s.table, conflict(err))
	}
	return nil
}

// call runs f under the request timeout.
func call[T any](ctx context.Context, timeout time.Duration, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return f(ctx)
}

// conflict wraps stream.ErrConflict around a failed condition.
func conflict(err error) error {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("%w (%v)", stream.ErrConflict, err)
	}
	return err
}

// condition is the condition that the stored lease is still old: the item exists
// with old's counter, owner and next owner.
func condition(old stream.Lease) (string, map[string]string, map[string]types.AttributeValue) {
	names := map[string]string{"#k": attrKey, "#c": attrCounter, "#o": attrOwner, "#n": attrNextOwner}
	values := map[string]types.AttributeValue{":c": number(old.Counter)}
	cond := "attribute_exists(#k) AND #c = :c"
	if old.Owner == "" {
		cond += " AND attribute_not_exists(#o)"
	} else {
		cond += " AND #o = :o"
		values[":o"] = &types.AttributeValueMemberS{Value: old.Owner}
	}
	if old.NextOwner == "" {
		cond += " AND attribute_not_exists(#n)"
	} else {
		cond += " AND #n = :n"
		values[":n"] = &types.AttributeValueMemberS{Value: old.NextOwner}
	}
	return cond, names, values
}

func number(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// encodeLease makes the item of a lease; empty optional fields are left out.
func encodeLease(l stream.Lease) map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{
		attrKey:      &types.AttributeValueMemberS{Value: l.Key()},
		attrStream:   &types.AttributeValueMemberS{Value: l.Stream},
		attrShard:    &types.AttributeValueMemberS{Value: l.Shard},
		attrCounter:  number(l.Counter),
		attrFinished: &types.AttributeValueMemberBOOL{Value: l.Finished},
	}
	str := func(name, v string) {
		if v != "" {
			item[name] = &types.AttributeValueMemberS{Value: v}
		}
	}
	str(attrOwner, l.Owner)
	str(attrNextOwner, l.NextOwner)
	str(attrCheckpt, l.Checkpoint.Sequence)
	if l.Checkpoint.Partial {
		item[attrCheckSub] = number(int64(l.Checkpoint.SubSequence))
	}
	str(attrStart, string(l.Start.Position))
	if !l.Start.Timestamp.IsZero() {
		str(attrStartTime, l.Start.Timestamp.UTC().Format(time.RFC3339Nano))
	}
	if len(l.Parents) > 0 {
		ps := make([]types.AttributeValue, len(l.Parents))
		for i, p := range l.Parents {
			ps[i] = &types.AttributeValueMemberS{Value: p}
		}
		item[attrParents] = &types.AttributeValueMemberL{Value: ps}
	}
	return item
}

// decodeLease reads a lease item, refusing one that is malformed rather than
// guessing.
func decodeLease(item map[string]types.AttributeValue) (stream.Lease, error) {
	var (
		l    stream.Lease
		errs []error
	)
	key := "?"
	if v, ok := item[attrKey].(*types.AttributeValueMemberS); ok {
		key = v.Value
	}
	str := func(name string, required bool) string {
		switch v := item[name].(type) {
		case *types.AttributeValueMemberS:
			return v.Value
		case nil:
			if required {
				errs = append(errs, fmt.Errorf("no %s", name))
			}
		default:
			errs = append(errs, fmt.Errorf("%s is %T, want a string", name, v))
		}
		return ""
	}
	num := func(name string) (int64, bool) {
		switch v := item[name].(type) {
		case *types.AttributeValueMemberN:
			n, err := strconv.ParseInt(v.Value, 10, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
			return n, true
		case nil:
			return 0, false
		default:
			errs = append(errs, fmt.Errorf("%s is %T, want a number", name, v))
			return 0, false
		}
	}
	l.Stream = str(attrStream, true)
	l.Shard = str(attrShard, true)
	l.Owner = str(attrOwner, false)
	l.NextOwner = str(attrNextOwner, false)
	l.Checkpoint.Sequence = str(attrCheckpt, false)
	if n, ok := num(attrCounter); ok {
		l.Counter = n
	} else {
		errs = append(errs, fmt.Errorf("no %s", attrCounter))
	}
	if n, ok := num(attrCheckSub); ok {
		l.Checkpoint.Partial, l.Checkpoint.SubSequence = true, int(n)
	}
	l.Start.Position = stream.Position(str(attrStart, false))
	if ts := str(attrStartTime, false); ts != "" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", attrStartTime, err))
		}
		l.Start.Timestamp = t
	}
	switch v := item[attrParents].(type) {
	case nil:
	case *types.AttributeValueMemberL:
		for i, p := range v.Value {
			s, ok := p.(*types.AttributeValueMemberS)
			if !ok {
				errs = append(errs, fmt.Errorf("%s[%d] is %T, want a string", attrParents, i, p))
				continue
			}
			l.Parents = append(l.Parents, s.Value)
		}
	default:
		errs = append(errs, fmt.Errorf("%s is %T, want a list", attrParents, v))
	}
	switch v := item[attrFinished].(type) {
	case nil:
	case *types.AttributeValueMemberBOOL:
		l.Finished = v.Value
	default:
		errs = append(errs, fmt.Errorf("%s is %T, want a boolean", attrFinished, v))
	}
	if l.Key() != key && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("key %q does not match stream %q and shard %q", key, l.Stream, l.Shard))
	}
	if err := errors.Join(errs...); err != nil {
		return stream.Lease{}, fmt.Errorf("decode lease item %s: %w", key, err)
	}
	return l, nil
}
