package deadletter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sluice-siem/sluice/internal/instruments"
	"github.com/sluice-siem/sluice/sink"
	"github.com/sluice-siem/sluice/stream"
)

// Putter puts records into a stream and returns nil only once every one is durable
// there: the Kinesis producer (stream/kinesis).
type Putter interface {
	Put(ctx context.Context, streamName string, recs []stream.Record) error
}

// KinesisOptions are the optional collaborators and limits of a Kinesis writer.
type KinesisOptions struct {
	// MaxRecordBytes is the largest record the producer takes (partition key plus
	// data: stream.kinesis.max_record_bytes). A larger dead letter loses its bulkiest
	// fields (see Kinesis). Zero means 1 MiB, Kinesis's limit.
	MaxRecordBytes int
	// Logger receives a warning per truncated dead letter. Nil discards logs.
	Logger *slog.Logger
	// Meter creates the writer's counters. Nil means a no-op meter.
	Meter metric.Meter
}

// Kinesis writes dead letters to a Kinesis stream, one record per dead letter whose
// data is the dead-letter document and whose partition key is the document's id. It is
// the search sink's DeadLetters in `sluice transform`, so dead letters survive the
// task that wrote them.
//
// A dead letter larger than a record can hold loses fields, bulkiest first, until it
// fits, and says so in its "truncated" field: first the transformed document (event,
// event_text), then the original record (original, original_text, data,
// data_base64), then everything but the metadata. It is never refused for its size,
// which would hold the consumer's checkpoint forever.
type Kinesis struct {
	put     Putter
	stream  string
	maxSize int
	log     *slog.Logger
	attrs   metric.MeasurementOption

	written, failed, truncated metric.Int64Counter
}

// NewKinesis returns a writer of dead letters into the named stream through p.
func NewKinesis(p Putter, streamName string, opts KinesisOptions) (*Kinesis, error) {
	if p == nil {
		return nil, errors.New("kinesis dead letters: producer is nil")
	}
	if streamName == "" {
		return nil, errors.New("kinesis dead letters: stream name is empty")
	}
	k := &Kinesis{put: p, stream: streamName, maxSize: opts.MaxRecordBytes, log: opts.Logger,
		attrs: metric.WithAttributeSet(attribute.NewSet(attribute.String("destination", "kinesis"), attribute.String("stream", streamName)))}
	if k.maxSize <= 0 {
		k.maxSize = 1 << 20
	}
	if k.log == nil {
		k.log = slog.New(slog.DiscardHandler)
	}
	in := instruments.New(opts.Meter, "github.com/sluice-siem/sluice/sink/deadletter")
	k.written = in.Counter("sluice_dead_letters_written_total", "{document}", "Dead letters durable in their destination, by destination and stream.")
	k.failed = in.Counter("sluice_dead_letters_write_failures_total", "{document}",
		"Dead letters whose write failed (their batch is not acknowledged and comes again), by destination and stream.")
	k.truncated = in.Counter("sluice_dead_letters_truncated_total", "{document}", "Dead letters that lost fields to fit in one record, by destination and stream.")
	if err := in.Err("dead letter"); err != nil {
		return nil, err
	}
	return k, nil
}

// Stream is the name of the dead-letter stream.
func (k *Kinesis) Stream() string { return k.stream }

// Write puts one record per document into the stream and returns nil only once all of
// them are durable there. On an error (the stream is missing, the endpoint cannot be
// reached, retries ran out) the caller must not acknowledge the batch the documents
// came from; writing them again may duplicate some in the stream, which a replay
// absorbs (same document ids). Write does not keep docs.
func (k *Kinesis) Write(ctx context.Context, docs []sink.Document) error {
	if len(docs) == 0 {
		return nil
	}
	recs := make([]stream.Record, len(docs))
	var cut int64
	for i := range docs {
		d := &docs[i]
		key := partitionKey(d.ID, d.Body)
		data := d.Body
		if len(key)+len(data) > k.maxSize {
			var dropped []string
			data, dropped = shrink(data, k.maxSize-len(key))
			cut++
			k.log.WarnContext(ctx, "dead letter too large for one record: fields dropped",
				"id", d.ID, "bytes", len(d.Body), "max_record_bytes", k.maxSize, "dropped", dropped)
		}
		recs[i] = stream.Record{PartitionKey: key, Data: data}
	}
	if cut > 0 {
		k.truncated.Add(ctx, cut, k.attrs)
	}
	if err := k.put.Put(ctx, k.stream, recs); err != nil {
		k.failed.Add(ctx, int64(len(docs)), k.attrs)
		return fmt.Errorf("put %d dead letters to stream %s: %w", len(docs), k.stream, err)
	}
	k.written.Add(ctx, int64(len(docs)), k.attrs)
	return nil
}

// The fields shrink drops, bulkiest and least needed first.
var (
	documentFields = []string{"event", "event_text"}
	originalFields = []string{"original", "original_text", "data", "data_base64"}
	// keptFields are what is left when dropping the bulky fields is not enough.
	keptFields = []string{"@timestamp", "log_type", "index", "id", "status", "time", "position", "stream", "shard", "sequence"}
)

// shrink returns body with fields dropped until it is at most max bytes, and the
// fields it dropped.
func shrink(body []byte, max int) ([]byte, []string) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		obj = map[string]json.RawMessage{}
	}
	var dropped []string
	encode := func() []byte {
		if len(dropped) > 0 {
			obj["truncated"], _ = json.Marshal(dropped)
		}
		b, _ := json.Marshal(obj) // raw messages from a valid document
		return b
	}
	for _, group := range [][]string{documentFields, originalFields} {
		for _, f := range group {
			if _, ok := obj[f]; ok {
				delete(obj, f)
				dropped = append(dropped, f)
			}
		}
		if b := encode(); len(b) <= max {
			return b, dropped
		}
	}
	// Only the metadata, with the reason cut short.
	kept := map[string]json.RawMessage{}
	for _, f := range keptFields {
		if v, ok := obj[f]; ok && len(v) <= 1024 {
			kept[f] = v
		}
	}
	cut := func(s string) string {
		if len(s) > 1024 {
			return s[:1024] + "..."
		}
		return s
	}
	raw := obj["error"]
	var reason string
	if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &reason) == nil {
		kept["error"], _ = json.Marshal(cut(reason)) // the transformer's shape
	} else {
		var e Error
		_ = json.Unmarshal(raw, &e)
		e.Type, e.Reason = cut(e.Type), cut(e.Reason)
		kept["error"], _ = json.Marshal(e)
	}
	var more []string
	for f := range obj {
		if _, ok := kept[f]; !ok && f != "truncated" {
			more = append(more, f)
		}
	}
	slices.Sort(more)
	dropped = append(dropped, more...)
	obj = kept
	return encode(), dropped
}
