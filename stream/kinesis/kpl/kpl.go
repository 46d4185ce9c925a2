// Package kpl is the Kinesis Producer Library (KPL) aggregated record format, used by
// step 3 of the data path (produce: stream/kinesis packs many events into one Kinesis
// record) and by step 4 (consume: the transform tier unpacks them). Aggregation lets
// small events share a record's per-record overhead and its place in a shard's
// 1,000 records per second, and every KPL-aware consumer (KCL in any language,
// Firehose, Lambda) unpacks it.
//
// An aggregated record's data is
//
//	Magic (4 bytes) | AggregatedRecord (protobuf, proto/sluice/kpl/v1) | MD5 of the protobuf (16 bytes)
//
// and any data that does not start with Magic is one plain user record. The package is
// written from the format's published description; it encodes and decodes the protobuf
// by hand with protowire so that Aggregator knows a record's exact size before it is
// built, and Deaggregate hands out the user records' data without copying.
//
// Unlike the KCL, which passes a record whose checksum does not match through as a
// plain record, Deaggregate reports any record that starts with Magic and is not a
// well-formed aggregated record as an error. Aggregator therefore never leaves a user
// record whose data starts with Magic unwrapped (see NeedsWrapping).
package kpl

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Magic starts the data of every aggregated record.
const Magic = "\xf3\x89\x9a\xc2"

// Overhead is the bytes an aggregated record adds around its protobuf message: Magic
// and the MD5 digest.
const Overhead = len(Magic) + md5.Size

// Field numbers of the published messages.
const (
	fieldPartitionKeyTable    = 1 // AggregatedRecord.partition_key_table
	fieldExplicitHashKeyTable = 2 // AggregatedRecord.explicit_hash_key_table
	fieldRecords              = 3 // AggregatedRecord.records
	fieldPartitionKeyIndex    = 1 // Record.partition_key_index
	fieldExplicitHashKeyIndex = 2 // Record.explicit_hash_key_index
	fieldData                 = 3 // Record.data
	fieldTags                 = 4 // Record.tags
	fieldTagKey               = 1 // Tag.key
)

// ErrCorrupt is wrapped by every error Deaggregate returns: the data starts with Magic
// but is not a well-formed aggregated record.
var ErrCorrupt = errors.New("corrupt KPL aggregated record")

// UserRecord is one user record (an event) of a Kinesis record.
type UserRecord struct {
	// PartitionKey is the user record's own partition key.
	PartitionKey string
	// ExplicitHashKey is the user record's explicit hash key (a decimal 128-bit
	// integer), or empty when it has none.
	ExplicitHashKey string
	// Data is the user record's payload. It aliases the data passed to Deaggregate.
	Data []byte
	// SubSequence is the user record's index within its aggregated record; 0 for a
	// plain record. With the Kinesis record's sequence number it names the user record.
	SubSequence int
	// Aggregated reports whether the user record came out of an aggregated record.
	Aggregated bool
}

// IsAggregated reports whether data claims to be an aggregated record: it starts with
// Magic. Deaggregate decides whether the claim holds.
func IsAggregated(data []byte) bool {
	return len(data) >= len(Magic) && string(data[:len(Magic)]) == Magic
}

// NeedsWrapping reports whether a user record with this data must travel inside an
// aggregated record even when it is alone: a plain record that starts with Magic would
// read as a (corrupt) aggregated one.
func NeedsWrapping(data []byte) bool { return IsAggregated(data) }

// Deaggregate returns the user records of one Kinesis record. A record whose data does
// not start with Magic is one plain user record: it is returned as it is, with the
// Kinesis record's partitionKey. Otherwise the data must be a well-formed aggregated
// record (digest, protobuf, required fields, key indices in range), else Deaggregate
// returns an error wrapping ErrCorrupt; it never panics on any input.
//
// The returned Data slices alias data; keys are copied.
func Deaggregate(partitionKey string, data []byte) ([]UserRecord, error) {
	if !IsAggregated(data) {
		return []UserRecord{{PartitionKey: partitionKey, Data: data}}, nil
	}
	if len(data) < Overhead {
		return nil, fmt.Errorf("%w: %d bytes, shorter than magic and digest", ErrCorrupt, len(data))
	}
	msg := data[len(Magic) : len(data)-md5.Size]
	sum := md5.Sum(msg)
	if !bytes.Equal(sum[:], data[len(data)-md5.Size:]) {
		return nil, fmt.Errorf("%w: MD5 digest does not match the %d-byte message", ErrCorrupt, len(msg))
	}
	agg, err := decode(msg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	out := make([]UserRecord, len(agg.records))
	for i, r := range agg.records {
		if r.pk >= uint64(len(agg.pks)) {
			return nil, fmt.Errorf("%w: record %d: partition key index %d, table has %d keys", ErrCorrupt, i, r.pk, len(agg.pks))
		}
		ur := UserRecord{PartitionKey: agg.pks[r.pk], Data: r.data, SubSequence: i, Aggregated: true}
		if r.hasEHK {
			if r.ehk >= uint64(len(agg.ehks)) {
				return nil, fmt.Errorf("%w: record %d: explicit hash key index %d, table has %d keys", ErrCorrupt, i, r.ehk, len(agg.ehks))
			}
			ur.ExplicitHashKey = agg.ehks[r.ehk]
		}
		out[i] = ur
	}
	return out, nil
}

// decoded is an AggregatedRecord as read from the wire, indices not yet resolved (the
// tables may follow the records).
type decoded struct {
	pks, ehks []string
	records   []decodedRecord
}

type decodedRecord struct {
	pk, ehk       uint64
	hasPK, hasEHK bool
	data          []byte
	hasData       bool
}

// decode parses an AggregatedRecord with proto2 semantics: unknown fields and known
// fields of an unexpected wire type are skipped, a repeated scalar field keeps its last
// value, and required fields must be present.
func decode(b []byte) (decoded, error) {
	var d decoded
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return d, fmt.Errorf("message: %w", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == fieldPartitionKeyTable && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return d, fmt.Errorf("partition key table: %w", protowire.ParseError(n))
			}
			d.pks = append(d.pks, string(v))
			b = b[n:]
		case num == fieldExplicitHashKeyTable && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return d, fmt.Errorf("explicit hash key table: %w", protowire.ParseError(n))
			}
			d.ehks = append(d.ehks, string(v))
			b = b[n:]
		case num == fieldRecords && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return d, fmt.Errorf("record %d: %w", len(d.records), protowire.ParseError(n))
			}
			r, err := decodeRecord(v)
			if err != nil {
				return d, fmt.Errorf("record %d: %w", len(d.records), err)
			}
			d.records = append(d.records, r)
			b = b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return d, fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	return d, nil
}

func decodeRecord(b []byte) (decodedRecord, error) {
	var r decodedRecord
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return r, protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == fieldPartitionKeyIndex && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return r, fmt.Errorf("partition key index: %w", protowire.ParseError(n))
			}
			r.pk, r.hasPK = v, true
			b = b[n:]
		case num == fieldExplicitHashKeyIndex && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return r, fmt.Errorf("explicit hash key index: %w", protowire.ParseError(n))
			}
			r.ehk, r.hasEHK = v, true
			b = b[n:]
		case num == fieldData && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return r, fmt.Errorf("data: %w", protowire.ParseError(n))
			}
			r.data, r.hasData = v, true
			b = b[n:]
		case num == fieldTags && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return r, fmt.Errorf("tag: %w", protowire.ParseError(n))
			}
			if err := checkTag(v); err != nil {
				return r, err
			}
			b = b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return r, fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	switch {
	case !r.hasPK:
		return r, errors.New("required partition_key_index missing")
	case !r.hasData:
		return r, errors.New("required data missing")
	}
	if r.data == nil {
		r.data = []byte{} // present but empty: keep "present" visible to callers
	}
	return r, nil
}

// checkTag validates a Tag message (tags carry nothing sluice uses, but a record with a
// malformed one is malformed).
func checkTag(b []byte) error {
	hasKey := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if num == fieldTagKey && typ == protowire.BytesType {
			hasKey = true
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return fmt.Errorf("tag field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
	}
	if !hasKey {
		return errors.New("tag: required key missing")
	}
	return nil
}

// Aggregator packs user records into one aggregated record. Add records while Size
// stays within the record limit (SizeWith tells the size before adding), then
// AppendTo writes the record's data and PartitionKey names the key to put it with.
//
// An Aggregator keeps references to the data passed to Add until Reset: the caller
// must not modify it meanwhile. The zero value is ready to use; an Aggregator is not
// safe for concurrent use.
type Aggregator struct {
	pkIndex  map[string]uint64
	pks      []string
	ehkIndex map[string]uint64
	ehks     []string
	records  []aggRecord
	msgSize  int // bytes of the AggregatedRecord message so far
}

type aggRecord struct {
	pk, ehk uint64
	hasEHK  bool
	data    []byte
}

// Len returns the number of user records added.
func (a *Aggregator) Len() int { return len(a.records) }

// PartitionKey returns the partition key to put the aggregated record with: the first
// user record's, so that the record lands on the shard of its first user record. It is
// empty while the Aggregator is empty.
func (a *Aggregator) PartitionKey() string {
	if len(a.records) == 0 {
		return ""
	}
	return a.pks[a.records[0].pk]
}

// ExplicitHashKey returns the first user record's explicit hash key, or empty. Put the
// aggregated record with it (when set) so that it lands where that record would.
func (a *Aggregator) ExplicitHashKey() string {
	if len(a.records) == 0 || !a.records[0].hasEHK {
		return ""
	}
	return a.ehks[a.records[0].ehk]
}

// Size returns the size Kinesis counts for the aggregated record as it stands: its
// data (magic, message, digest) plus its partition key. It is 0 while empty.
func (a *Aggregator) Size() int {
	if len(a.records) == 0 {
		return 0
	}
	return Overhead + a.msgSize + len(a.PartitionKey())
}

// SizeWith returns what Size would be after Add(partitionKey, explicitHashKey, data)
// with len(data) == dataLen, without adding anything.
func (a *Aggregator) SizeWith(partitionKey, explicitHashKey string, dataLen int) int {
	grow, _, _ := a.growth(partitionKey, explicitHashKey, dataLen)
	key := a.PartitionKey()
	if len(a.records) == 0 {
		key = partitionKey
	}
	return Overhead + a.msgSize + grow + len(key)
}

// growth returns how many bytes adding a record grows the message by, and the table
// indices its keys would get.
func (a *Aggregator) growth(partitionKey, explicitHashKey string, dataLen int) (grow int, pk, ehk uint64) {
	var ok bool
	if pk, ok = a.pkIndex[partitionKey]; !ok {
		pk = uint64(len(a.pks))
		grow += 1 + protowire.SizeBytes(len(partitionKey))
	}
	body := 1 + protowire.SizeVarint(pk) + 1 + protowire.SizeBytes(dataLen)
	if explicitHashKey != "" {
		if ehk, ok = a.ehkIndex[explicitHashKey]; !ok {
			ehk = uint64(len(a.ehks))
			grow += 1 + protowire.SizeBytes(len(explicitHashKey))
		}
		body += 1 + protowire.SizeVarint(ehk)
	}
	grow += 1 + protowire.SizeBytes(body)
	return grow, pk, ehk
}

// Add appends a user record. explicitHashKey is empty for none. Add does not check any
// limit: use SizeWith first.
func (a *Aggregator) Add(partitionKey, explicitHashKey string, data []byte) {
	grow, pk, ehk := a.growth(partitionKey, explicitHashKey, len(data))
	if pk == uint64(len(a.pks)) {
		if a.pkIndex == nil {
			a.pkIndex = make(map[string]uint64)
		}
		a.pkIndex[partitionKey] = pk
		a.pks = append(a.pks, partitionKey)
	}
	r := aggRecord{pk: pk, data: data}
	if explicitHashKey != "" {
		if ehk == uint64(len(a.ehks)) {
			if a.ehkIndex == nil {
				a.ehkIndex = make(map[string]uint64)
			}
			a.ehkIndex[explicitHashKey] = ehk
			a.ehks = append(a.ehks, explicitHashKey)
		}
		r.ehk, r.hasEHK = ehk, true
	}
	a.records = append(a.records, r)
	a.msgSize += grow
}

// AppendTo appends the aggregated record's data (Magic, message, MD5) to dst and returns
// the extended slice: exactly Size() - len(PartitionKey()) bytes. The message lists the
// key tables first and then the records, in the order they were added, as a
// deterministic protobuf encoder would.
func (a *Aggregator) AppendTo(dst []byte) []byte {
	dst = append(dst, Magic...)
	start := len(dst)
	for _, k := range a.pks {
		dst = protowire.AppendTag(dst, fieldPartitionKeyTable, protowire.BytesType)
		dst = protowire.AppendString(dst, k)
	}
	for _, k := range a.ehks {
		dst = protowire.AppendTag(dst, fieldExplicitHashKeyTable, protowire.BytesType)
		dst = protowire.AppendString(dst, k)
	}
	for _, r := range a.records {
		body := 1 + protowire.SizeVarint(r.pk) + 1 + protowire.SizeBytes(len(r.data))
		if r.hasEHK {
			body += 1 + protowire.SizeVarint(r.ehk)
		}
		dst = protowire.AppendTag(dst, fieldRecords, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(body))
		dst = protowire.AppendTag(dst, fieldPartitionKeyIndex, protowire.VarintType)
		dst = protowire.AppendVarint(dst, r.pk)
		if r.hasEHK {
			dst = protowire.AppendTag(dst, fieldExplicitHashKeyIndex, protowire.VarintType)
			dst = protowire.AppendVarint(dst, r.ehk)
		}
		dst = protowire.AppendTag(dst, fieldData, protowire.BytesType)
		dst = protowire.AppendBytes(dst, r.data)
	}
	sum := md5.Sum(dst[start:])
	return append(dst, sum[:]...)
}

// Reset empties the Aggregator for reuse and drops its references to added data.
func (a *Aggregator) Reset() {
	clear(a.pkIndex)
	clear(a.ehkIndex)
	clear(a.pks) // drop key references
	a.pks = a.pks[:0]
	clear(a.ehks)
	a.ehks = a.ehks[:0]
	clear(a.records) // drop data references
	a.records = a.records[:0]
	a.msgSize = 0
}
