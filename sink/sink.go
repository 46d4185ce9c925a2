// Package sink is the last step of the data path, index: the outputs transformed events
// are written to. This package holds what every destination shares, the Document the
// transform step hands over; each destination lives in a subpackage: search
// (Elasticsearch and OpenSearch), file (NDJSON files for `sluice dev`) and deadletter
// (what the others refuse for good, and its way back). The streams between the tiers,
// the embedded one included, live under stream/.
package sink

import "time"

// Document is one transformed event, ready to be written to a destination.
type Document struct {
	// Type is the event's log type (stream.ValidType holds for it). It picks the
	// directory, index or data stream.
	Type string
	// Time is the event's @timestamp; daily files and indices are chosen by its UTC date.
	Time time.Time
	// ID identifies the event deterministically, so that an event written again
	// overwrites (or is refused as already there) instead of duplicating where the
	// destination allows: the event's identity from its envelope (stream.Envelope.ID,
	// the same each time the event is sent) when it has one, else its stream position.
	// It is empty for events without either.
	ID string
	// Position names the record the document was made from, stream/shard/sequence
	// with /sub-sequence for a user record of an aggregated record, or is empty. Dead
	// letters report it.
	Position string
	// Body is the event document: one JSON object with no newline in it.
	Body []byte
	// Original is the record the document was made from, as the stream delivered it
	// (the envelope of stream.AppendEnvelope, holding the event as shipped), or nil.
	// It is referenced, not copied, and only read when the document becomes a dead
	// letter, so that `sluice replay --pipeline` can run the event through a repaired
	// pipeline. Like Body, it must not be kept after Write returns.
	Original []byte
}
