// Package beatsid finds what identifies an event a Beat (Filebeat, Winlogbeat, ...)
// sent, the same each time the Beat sends it again: the gateway's receivers that take
// Beats events (lumberjack, and the _bulk API Beats' elasticsearch output speaks) give
// it as gateway.Event.ID, so that a window or bulk request a Beat resends after a lost
// answer becomes one document downstream, not two.
//
// The identity is the event's @metadata._id when the shipper set one (Filebeat's
// add_id and fingerprint processors do, for this purpose). Otherwise it is where the
// shipper read the line: the agent (agent.id, else host.name), the file (log.file.path,
// with log.file.device_id, log.file.inode, log.file.fingerprint and input.id when
// present), the line's byte offset in the file (log.offset) and the event's
// @timestamp. Agent, path and offset must all be present. Two identical lines at
// different offsets keep different identities; the @timestamp keeps apart the lines of
// a rotated file that reuses a path (and maybe an inode) at offsets read before. A
// Beat resends an event as it first sent it, @timestamp included, so a resend keeps
// its identity; a line read again after the Beat restarts gets a new @timestamp and
// becomes a second document, as it would in Elasticsearch.
//
// The values are gathered while a jsonx.Scanner validates the event (ScanPaths with
// Levels, calling Scan.Member), so that finding them costs no second pass.
package beatsid

import (
	"bytes"
	"encoding/binary"

	"github.com/sluice-siem/sluice/internal/jsonx"
)

// MetadataKey is the object Beats add to every event for the Logstash side (beat
// name, version, index hints, and the _id of add_id); it is not part of the event.
const MetadataKey = "@metadata"

// Levels is how deep the identity's members are (log.file.path): the levels argument
// of jsonx.Scanner.ScanPaths that Scan.Member needs.
const Levels = 3

// Of appends to dst the identity of doc, a Beats event (see the package comment), and
// returns the extended slice: dst unchanged when doc names none. It validates doc with
// sc on the way, and returns why doc is not JSON within sc's limits. s's space is
// reused from event to event; the zero Scan is ready.
func (s *Scan) Of(sc *jsonx.Scanner, doc, dst []byte) ([]byte, error) {
	s.Reset()
	err := sc.ScanPaths(doc, Levels, func(path []jsonx.Key, valueEnd int) { s.Member(doc, path, valueEnd) })
	if err != nil {
		return dst, err
	}
	return s.Append(doc, dst), nil
}

// Append appends the identity of doc, the event s has scanned, to dst and returns the
// extended slice; dst comes back unchanged when the event names none. Call it before
// doc's bytes move: s holds where the values are, not the values.
func (s *Scan) Append(doc, dst []byte) []byte {
	id := &s.id
	if v := id.of[partMetadata].in(doc); isString(v) && len(v) <= maxMetadataID+2 {
		dst = append(dst, 'm')
		return append(dst, text(v)...)
	}
	who, whoTag := id.of[partAgent].in(doc), byte('a')
	if !scalar(who) {
		who, whoTag = id.of[partHost].in(doc), 'h'
	}
	path, offset := id.file.path.in(doc), id.offset.in(doc)
	if !scalar(who) || !scalar(path) || !isNumber(offset) {
		return dst
	}
	dst = append(dst, 'c')
	dst = appendPart(dst, whoTag, who)
	dst = appendPart(dst, 'p', path)
	for _, f := range [...]struct {
		tag byte
		v   span
	}{{'d', id.file.device}, {'i', id.file.inode}, {'f', id.file.fingerprint}} {
		if v := f.v.in(doc); scalar(v) {
			dst = appendPart(dst, f.tag, v)
		}
	}
	if v := id.of[partInput].in(doc); scalar(v) {
		dst = appendPart(dst, 'n', v)
	}
	dst = appendPart(dst, 'o', offset)
	if ts := id.of[partTimestamp].in(doc); len(ts) > 0 {
		dst = appendPart(dst, 't', ts)
	}
	return dst
}

// span is where a value is in the event: doc[start:end], empty for none. Offsets
// rather than slices keep the Scan free of pointers, so that resetting it for each
// event and moving its values is plain memory work, without the garbage collector's
// write barriers (BENCHMARKS.md: what a Beat's identity through _bulk costs).
type span struct{ start, end int }

// in returns the value sp locates in doc.
func (sp span) in(doc []byte) []byte { return doc[sp.start:sp.end] }

// valueSpan returns where the value of m, a member of doc, is.
func valueSpan(doc []byte, m jsonx.Member) span {
	i := jsonx.SkipSpace(doc, m.KeyEnd) // at the colon
	return span{jsonx.SkipSpace(doc, i+1), m.ValueEnd}
}

// idParts are where the values an event's identity is made of are, as written, empty
// when the event has none: @metadata._id, agent.id, host.name, input.id, log.offset,
// log.file's path, device_id, inode and fingerprint, and @timestamp. Where a member
// is repeated, the last one counts, its parent objects' too.
type idParts struct {
	// of holds, by part, the one value the identity takes of it: the member named
	// partMember[part] of the top-level object, or @timestamp itself; log's is unused.
	of     [numParts]span
	offset span
	file   fileParts
}

// partMember names the member of each top-level object the identity takes, but log's
// (offset and file) and @timestamp's (a string, taken whole).
var partMember = [numParts]string{partMetadata: "_id", partAgent: "id", partHost: "name", partInput: "id"}

// fileParts are the members of log.file in an identity.
type fileParts struct{ path, device, inode, fingerprint span }

// Scan is what is kept of an event's identity while a jsonx.Scanner scans the event:
// the members of the objects within it arrive before the top-level member they are
// part of (jsonx.Scanner.ScanPaths), so each level's values wait in cur and file
// until their parent's member ends, and count only if that parent is one of the
// identity's. The zero Scan is ready; Reset readies it for the next event.
type Scan struct {
	id   idParts
	cur  idParts   // of the top-level member being scanned
	file fileParts // of the log.file member being scanned
	// dirty is set when cur holds something.
	dirty bool
	// parent is the top-level key of the nested members being scanned and
	// parentPart which part it is (partOf), looked up once for all of them.
	parent     jsonx.Key
	parentPart int
}

// Reset readies s for the next event.
func (s *Scan) Reset() { *s = Scan{} }

// Member takes the member of doc at path (its key and those around it) whose value
// ends at valueEnd: the callback of jsonx.Scanner.ScanPaths with Levels. For a
// top-level member it returns which part of the identity it is, PartMetadata for
// @metadata (which a receiver may cut), -1 for one the identity does not use; for
// a nested one, -1.
func (s *Scan) Member(doc []byte, path []jsonx.Key, valueEnd int) int {
	if len(path) > 1 {
		s.nested(doc, path, valueEnd)
		return -1
	}
	m := jsonx.Member{KeyStart: path[0].Start, KeyEnd: path[0].End, ValueEnd: valueEnd}
	part := partOf(m.Key(doc))
	s.top(part, m, doc)
	return part
}

// top takes the values kept for the top-level member m of doc that has just ended,
// at part (partOf; -1 for members that are not part of the identity).
func (s *Scan) top(part int, m jsonx.Member, doc []byte) {
	switch part {
	case -1:
	case partLog:
		s.id.offset, s.id.file = s.cur.offset, s.cur.file
	case partTimestamp:
		s.id.of[part] = valueSpan(doc, m)
	default:
		s.id.of[part] = s.cur.of[part]
	}
	if s.dirty {
		s.cur, s.dirty = idParts{}, false
	}
}

// nested keeps the value of a member of an object within the event (path: its key
// and those around it, valueEnd: the offset past its value) when it is one of the
// identity's: a member of a top-level object, or of log.file.
func (s *Scan) nested(doc []byte, path []jsonx.Key, valueEnd int) {
	if path[0] != s.parent {
		s.parent, s.parentPart = path[0], partOf(doc[path[0].Start+1:path[0].End-1])
	}
	if s.parentPart < 0 {
		return
	}
	k := path[len(path)-1]
	m := jsonx.Member{KeyStart: k.Start, KeyEnd: k.End, ValueEnd: valueEnd}
	key := m.Key(doc)
	if len(path) == 3 {
		if s.parentPart == partLog && keyIs(doc[path[1].Start+1:path[1].End-1], "file") {
			s.inFile(key, valueSpan(doc, m))
		}
		return
	}
	switch {
	case s.parentPart == partLog && keyIs(key, "offset"):
		s.cur.offset, s.dirty = valueSpan(doc, m), true
	case s.parentPart == partLog && keyIs(key, "file"):
		s.cur.file, s.file, s.dirty = s.file, fileParts{}, true
	case partMember[s.parentPart] != "" && keyIs(key, partMember[s.parentPart]):
		s.cur.of[s.parentPart], s.dirty = valueSpan(doc, m), true
	}
}

// inFile keeps v, where the value of the member key of log.file is, when the identity
// uses it.
func (s *Scan) inFile(key []byte, v span) {
	switch {
	case keyIs(key, "path"):
		s.file.path = v
	case keyIs(key, "device_id"):
		s.file.device = v
	case keyIs(key, "inode"):
		s.file.inode = v
	case keyIs(key, "fingerprint"):
		s.file.fingerprint = v
	}
}

// keyIs reports whether key, as written, is want: compared as is, and unescaped
// only when it may hold an escape (an escaped key is longer than what it says).
func keyIs(key []byte, want string) bool {
	return string(key) == want || len(key) > len(want) && jsonx.Escaped(key) && jsonx.KeyIs(key, want)
}

// maxMetadataID bounds an @metadata._id taken as the identity (the engines' _id
// limit); a longer one is ignored in favour of the coordinates.
const maxMetadataID = 512

// PartMetadata is what Scan.Member returns for the top-level @metadata member.
const PartMetadata = partMetadata

// The top-level members the identity is made of (partOf).
const (
	partMetadata = iota
	partAgent
	partHost
	partLog
	partInput
	partTimestamp
	numParts
)

// partOf returns which part the top-level member of key (raw, still escaped) is, or -1.
func partOf(key []byte) int {
	switch string(key) { // compared without a copy
	case MetadataKey:
		return partMetadata
	case "agent":
		return partAgent
	case "host":
		return partHost
	case "log":
		return partLog
	case "input":
		return partInput
	case "@timestamp":
		return partTimestamp
	}
	if !jsonx.Escaped(key) {
		return -1
	}
	for i, name := range [numParts]string{MetadataKey, "agent", "host", "log", "input", "@timestamp"} {
		if jsonx.KeyIs(key, name) {
			return i
		}
	}
	return -1
}

// isString reports whether v, a JSON value as written, is a non-empty string.
func isString(v []byte) bool { return len(v) > 2 && v[0] == '"' }

// isNumber reports whether v, a JSON value as written, is a number.
func isNumber(v []byte) bool { return len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9') }

// scalar reports whether v is a non-empty string or a number.
func scalar(v []byte) bool { return isString(v) || isNumber(v) }

// text is a string value's contents when it has no escapes, else the value as
// written: either way the same bytes each time the event is sent.
func text(v []byte) []byte {
	if isString(v) && bytes.IndexByte(v, '\\') < 0 {
		return v[1 : len(v)-1]
	}
	return v
}

// appendPart appends one tagged, length-prefixed part of the coordinates.
func appendPart(dst []byte, tag byte, raw []byte) []byte {
	dst = append(dst, tag)
	dst = binary.AppendUvarint(dst, uint64(len(raw)))
	return append(dst, raw...)
}
