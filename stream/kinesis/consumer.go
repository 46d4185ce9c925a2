package kinesis

// The read side of Kinesis Data Streams, for step 4 of the data path (consume): Reader
// is the consume.Source that the transform tier's consumer reads shards through. The
// leases, balancing and checkpoints live in transform/consume; this file only speaks
// the Kinesis API.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis/kpl"
)

// readAPI is the part of the Kinesis client the reader uses.
type readAPI interface {
	ListShards(ctx context.Context, in *awskinesis.ListShardsInput, optFns ...func(*awskinesis.Options)) (*awskinesis.ListShardsOutput, error)
	GetShardIterator(ctx context.Context, in *awskinesis.GetShardIteratorInput, optFns ...func(*awskinesis.Options)) (*awskinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *awskinesis.GetRecordsInput, optFns ...func(*awskinesis.Options)) (*awskinesis.GetRecordsOutput, error)
}

// Reader reads Kinesis data streams for the consumer: it lists shards (ListShards,
// every page) and reads them (GetShardIterator, GetRecords), de-aggregating KPL
// records, or expanding the records of a stream that Config.Sources declares (see
// Source). It implements consume.Source; the consumer paces the calls and backs off.
// Streams live where Config says (region, endpoint, credentials, per-stream
// overrides). Create it with NewReader and close it with Close; its methods are safe
// for concurrent use.
type Reader struct {
	cfg     Config
	log     *slog.Logger
	clients map[StreamLocation]*client
	// unzstd decompresses compressed records (docs/stream-format.md).
	unzstd *decompressor
	// tracer makes the GetRecords spans; nil: none.
	tracer trace.Tracer
}

// NewReader validates cfg and loads the AWS configuration of every stream location.
// ctx bounds loading only; it starts nothing.
func NewReader(ctx context.Context, cfg Config, opts Options) (*Reader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("kinesis reader config: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	limit := int(cfg.MaxDecompressedBytes)
	if limit == 0 {
		limit = int(DefaultMaxDecompressedBytes)
	}
	r := &Reader{cfg: cfg, log: opts.Logger, clients: map[StreamLocation]*client{}, unzstd: &decompressor{max: limit}, tracer: opts.Tracer}
	if _, noop := r.tracer.(tracenoop.Tracer); noop {
		r.tracer = nil
	}
	locations := []StreamLocation{cfg.location("")}
	for name := range cfg.Streams {
		locations = append(locations, cfg.location(name))
	}
	for _, loc := range locations {
		if _, ok := r.clients[loc]; ok {
			continue
		}
		c, err := newClient(ctx, loc, cfg.MaxInflightRequests)
		if err != nil {
			r.Close()
			return nil, err
		}
		r.clients[loc] = c
	}
	return r, nil
}

// Close closes the reader's idle connections. It must not be used after.
func (r *Reader) Close() {
	for _, c := range r.clients {
		c.transport.CloseIdleConnections()
	}
}

func (r *Reader) client(streamName string) *client {
	return r.clients[r.cfg.location(streamName)]
}

// Shards lists every shard of a stream, closed ones included, following NextToken.
func (r *Reader) Shards(ctx context.Context, streamName string) ([]stream.Shard, error) {
	c := r.client(streamName)
	var out []stream.Shard
	in := &awskinesis.ListShardsInput{StreamName: aws.String(streamName)}
	for {
		cctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
		page, err := c.reader.ListShards(cctx, in)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("list shards of %s at %s: %w", streamName, c.endpoint, readError(err))
		}
		for _, s := range page.Shards {
			sh := stream.Shard{ID: aws.ToString(s.ShardId)}
			for _, p := range []*string{s.ParentShardId, s.AdjacentParentShardId} {
				if p != nil && *p != "" {
					sh.Parents = append(sh.Parents, *p)
				}
			}
			sh.Closed = s.SequenceNumberRange != nil && s.SequenceNumberRange.EndingSequenceNumber != nil
			out = append(out, sh)
		}
		if page.NextToken == nil || *page.NextToken == "" {
			return out, nil
		}
		// Later pages name only the token.
		in = &awskinesis.ListShardsInput{NextToken: page.NextToken}
	}
}

// Open returns a reader of a shard: after the checkpoint from (AFTER_SEQUENCE_NUMBER;
// AT_SEQUENCE_NUMBER for a checkpoint inside an aggregated record, whose processed
// user records are skipped), or at start when from is zero (TRIM_HORIZON,
// AT_TIMESTAMP or LATEST).
func (r *Reader) Open(ctx context.Context, streamName, shard string, from stream.Checkpoint, start stream.Start) (stream.ShardReader, error) {
	sr := &shardReader{r: r, c: r.client(streamName), stream: streamName, shard: shard, from: from, start: start}
	if src, ok := r.cfg.Sources[streamName]; ok {
		if src.Format == FormatCloudWatchLogs {
			sr.cloudWatch = newCloudWatchDecoder(src)
		} else {
			sr.foreign = newForeignDecoder(src, r.unzstd)
		}
	}
	if from.Partial {
		sr.skipSeq, sr.skipThrough = from.Sequence, from.SubSequence
	}
	if err := sr.open(ctx); err != nil {
		return nil, err
	}
	return sr, nil
}

// shardReader reads one shard with a shard iterator. It is used by one goroutine.
type shardReader struct {
	r             *Reader
	c             *client
	stream, shard string
	from          stream.Checkpoint
	start         stream.Start
	iterator      *string
	// lastSeq is the last record read, where an expired iterator resumes.
	lastSeq string
	// skipSeq and skipThrough drop the user records of an aggregated record that the
	// checkpoint says are processed.
	skipSeq     string
	skipThrough int
	// cloudWatch expands the records of a CloudWatch Logs stream, foreign those of a
	// json, raw or auto stream; both nil for sluice's.
	cloudWatch *cloudWatchDecoder
	foreign    *foreignDecoder
}

// open gets an iterator: after the last record read, or where Open was asked to begin.
func (s *shardReader) open(ctx context.Context) error {
	in := &awskinesis.GetShardIteratorInput{StreamName: aws.String(s.stream), ShardId: aws.String(s.shard)}
	switch {
	case s.lastSeq != "":
		in.ShardIteratorType, in.StartingSequenceNumber = types.ShardIteratorTypeAfterSequenceNumber, aws.String(s.lastSeq)
	case s.from.Partial:
		in.ShardIteratorType, in.StartingSequenceNumber = types.ShardIteratorTypeAtSequenceNumber, aws.String(s.from.Sequence)
	case !s.from.IsZero():
		in.ShardIteratorType, in.StartingSequenceNumber = types.ShardIteratorTypeAfterSequenceNumber, aws.String(s.from.Sequence)
	case s.start.Position == stream.AtTimestamp:
		in.ShardIteratorType, in.Timestamp = types.ShardIteratorTypeAtTimestamp, aws.Time(s.start.Timestamp)
	case s.start.Position == stream.Latest:
		in.ShardIteratorType = types.ShardIteratorTypeLatest
	default:
		in.ShardIteratorType = types.ShardIteratorTypeTrimHorizon
	}
	ctx, cancel := context.WithTimeout(ctx, s.r.cfg.RequestTimeout)
	defer cancel()
	out, err := s.c.reader.GetShardIterator(ctx, in)
	if err != nil {
		return fmt.Errorf("get %s iterator of %s/%s at %s: %w", in.ShardIteratorType, s.stream, s.shard, s.c.endpoint, readError(err))
	}
	s.iterator = out.ShardIterator
	return nil
}

// Read makes one GetRecords call (two if the iterator had expired) and de-aggregates
// the records.
func (s *shardReader) Read(ctx context.Context, limit int) (stream.Page, error) {
	if s.iterator == nil {
		return stream.Page{End: true, MillisBehind: 0}, nil
	}
	if s.r.tracer == nil {
		return s.read(ctx, limit)
	}
	ctx, span := s.r.tracer.Start(ctx, "sluice.kinesis.get_records", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("sluice.stream", s.stream), attribute.String("sluice.shard", s.shard)))
	defer span.End()
	page, err := s.read(ctx, limit)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.SetAttributes(attribute.Int("sluice.records", len(page.Records)), attribute.Int64("sluice.millis_behind", page.MillisBehind))
	return page, err
}

// read is Read without its span.
func (s *shardReader) read(ctx context.Context, limit int) (stream.Page, error) {
	out, err := s.getRecords(ctx, limit)
	var expired *types.ExpiredIteratorException
	if errors.As(err, &expired) {
		s.r.log.Debug("shard iterator expired, getting a new one", "stream", s.stream, "shard", s.shard, "after", s.lastSeq)
		if err := s.open(ctx); err != nil {
			return stream.Page{}, err
		}
		out, err = s.getRecords(ctx, limit)
	}
	if err != nil {
		return stream.Page{}, fmt.Errorf("get records of %s/%s at %s: %w", s.stream, s.shard, s.c.endpoint, readError(err))
	}
	page := stream.Page{MillisBehind: -1}
	if out.MillisBehindLatest != nil {
		page.MillisBehind = *out.MillisBehindLatest
	}
	for _, rec := range out.Records {
		seq := aws.ToString(rec.SequenceNumber)
		key := aws.ToString(rec.PartitionKey)
		arrival := aws.ToTime(rec.ApproximateArrivalTimestamp)
		users, noEvent, err := s.userRecords(key, rec.Data, arrival)
		if err != nil {
			// Never block the shard on a bad record: it goes on as one plain record,
			// which the transformer turns into a dead letter.
			s.r.log.Warn("record cannot be de-aggregated or expanded; delivering it as it is",
				"stream", s.stream, "shard", s.shard, "sequence", seq, "err", err)
			users = []kpl.UserRecord{{PartitionKey: key, Data: rec.Data}}
		}
		for _, u := range users {
			if seq == s.skipSeq && u.Aggregated && u.SubSequence <= s.skipThrough {
				continue
			}
			page.Records = append(page.Records, stream.Delivered{
				Record:      stream.Record{PartitionKey: u.PartitionKey, Data: u.Data},
				Stream:      s.stream,
				Shard:       s.shard,
				Sequence:    seq,
				SubSequence: u.SubSequence,
				Aggregated:  u.Aggregated,
				NoEvent:     noEvent,
				Arrival:     arrival,
			})
		}
		s.lastSeq = seq
	}
	if len(out.Records) > 0 {
		s.skipSeq = "" // only the first record after the checkpoint can be partial
	}
	s.iterator = out.NextShardIterator
	if s.iterator == nil {
		page.End = true // closed, and read to its end
	}
	return page, nil
}

// userRecords returns the user records of one Kinesis record: its log events for a
// CloudWatch Logs stream, else its KPL user records (itself when it is not
// aggregated), decompressed first when it is a zstd record. A CloudWatch Logs record
// without events (a control message) gives one user record without data and noEvent
// set, delivered as a NoEvent record, so that the record's position is checkpointed
// all the same.
func (s *shardReader) userRecords(key string, data []byte, arrival time.Time) (users []kpl.UserRecord, noEvent bool, err error) {
	if s.foreign != nil {
		return s.foreign.decode(key, data, arrival)
	}
	if IsCompressed(data) && s.cloudWatch == nil {
		if data, err = s.r.unzstd.decompress(data); err != nil {
			return nil, false, err
		}
	}
	if s.cloudWatch == nil {
		users, err = kpl.Deaggregate(key, data)
		return users, false, err
	}
	users, err = s.cloudWatch.decode(key, data)
	if err == nil && len(users) == 0 {
		return []kpl.UserRecord{{PartitionKey: key}}, true, nil
	}
	return users, false, err
}

// getRecords makes one GetRecords call with the current iterator, again (up to
// readAttempts in all) when the connection failed under it: a reset or closed
// connection, which a busy endpoint gives now and then. A read with the same iterator
// returns the same records, so the call is safe to repeat; the producer's PutRecords is
// not, and the client's own retries are off for both.
func (s *shardReader) getRecords(ctx context.Context, limit int) (*awskinesis.GetRecordsOutput, error) {
	in := &awskinesis.GetRecordsInput{
		ShardIterator: s.iterator,
		Limit:         aws.Int32(int32(min(limit, stream.MaxRecordsPerCall))),
	}
	for attempt := 1; ; attempt++ {
		out, err := s.getRecordsOnce(ctx, in)
		if err == nil || attempt == readAttempts || ctx.Err() != nil || !connectionFailed(err) {
			return out, err
		}
		s.r.log.Debug("get records: connection failed; reading again with the same iterator",
			"stream", s.stream, "shard", s.shard, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(time.Duration(attempt) * readRetryPause):
		}
	}
}

// readAttempts bounds the GetRecords calls one Read makes on failed connections, and
// readRetryPause is the pause before the second (twice it before the third).
const (
	readAttempts   = 3
	readRetryPause = 50 * time.Millisecond
)

func (s *shardReader) getRecordsOnce(ctx context.Context, in *awskinesis.GetRecordsInput) (*awskinesis.GetRecordsOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, s.r.cfg.RequestTimeout)
	defer cancel()
	return s.c.reader.GetRecords(ctx, in)
}

// connectionFailed reports whether err is the connection failing under a call (reset,
// closed, refused, as the SDK's retryer classifies it, or an answer cut short) rather
// than an answer.
func connectionFailed(err error) bool {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return false
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || retry.RetryableConnectionError{}.IsErrorRetryable(err) == aws.TrueTernary
}

// readError classifies a read error: throttling wraps stream.ErrThrottled, a missing
// stream wraps stream.ErrUnknownStream; the rest stays as it is.
func readError(err error) error {
	var notFound *types.ResourceNotFoundException
	if errors.As(err, &notFound) {
		return fmt.Errorf("%w: %w", stream.ErrUnknownStream, err)
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code := apiErr.ErrorCode()
		if isThrottleCode(code) || code == "LimitExceededException" || code == "KMSThrottlingException" {
			return fmt.Errorf("%w: %w", stream.ErrThrottled, err)
		}
	}
	return err
}
