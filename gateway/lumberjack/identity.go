package lumberjack

import (
	"bytes"
	"encoding/binary"

	"github.com/sluice-siem/sluice/internal/jsonx"
)

// identity appends to dst what identifies a Beats event, the same each time the
// shipper sends it (gateway.Event.ID), and returns the extended slice; dst comes back
// unchanged when the event names nothing. It reads the parts of the event the
// scanner has just scanned (s.parts).
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
func (s *scanner) identity(dst []byte) []byte {
	meta, agent, host, log, input, ts := s.parts[partMetadata], s.parts[partAgent], s.parts[partHost],
		s.parts[partLog], s.parts[partInput], s.parts[partTimestamp]
	if v := get(meta, "_id"); isString(v) && len(v) <= maxMetadataID+2 {
		dst = append(dst, 'm')
		return append(dst, text(v)...)
	}
	who, whoTag := get(agent, "id"), byte('a')
	if !scalar(who) {
		who, whoTag = get(host, "name"), 'h'
	}
	lv := lookup(log, "file", "offset")
	file, offset := lv[0], lv[1]
	fv := lookup(file, "path", "device_id", "inode", "fingerprint")
	path, device, inode, fingerprint := fv[0], fv[1], fv[2], fv[3]
	if !scalar(who) || !scalar(path) || !isNumber(offset) {
		return dst
	}
	dst = append(dst, 'c')
	dst = appendPart(dst, whoTag, who)
	dst = appendPart(dst, 'p', path)
	for _, f := range [...]struct {
		tag byte
		v   []byte
	}{{'d', device}, {'i', inode}, {'f', fingerprint}} {
		if scalar(f.v) {
			dst = appendPart(dst, f.tag, f.v)
		}
	}
	if v := get(input, "id"); scalar(v) {
		dst = appendPart(dst, 'n', v)
	}
	dst = appendPart(dst, 'o', offset)
	if len(ts) > 0 {
		dst = appendPart(dst, 't', ts)
	}
	return dst
}

// maxMetadataID bounds an @metadata._id taken as the identity (the engines' _id
// limit); a longer one is ignored in favour of the coordinates.
const maxMetadataID = 512

// The top-level members the identity is made of, in scanner.parts.
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
	if bytes.IndexByte(key, '\\') < 0 {
		switch string(key) { // compared without a copy
		case metadataKey:
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
		return -1
	}
	for i, name := range [numParts]string{metadataKey, "agent", "host", "log", "input", "@timestamp"} {
		if jsonx.KeyIs(key, name) {
			return i
		}
	}
	return -1
}

// maxLookup is the most members lookup finds in one pass.
const maxLookup = 4

// lookup returns the values of obj's top-level members keys[i] (the last of repeated
// ones) as written, nil for a member obj has not or when obj is not an object, in one
// pass over obj. obj is part of a document the scanner has validated; looking at it
// allocates nothing, and its state is on the stack: kept in the scanner, resetting it
// for each of an event's five lookups was a quarter of the identity's time in write
// barriers.
func lookup(obj []byte, keys ...string) (vals [maxLookup][]byte) {
	if len(obj) == 0 || obj[0] != '{' {
		return vals
	}
	keys = keys[:min(len(keys), maxLookup)]
	jsonx.Members(obj, func(keyStart, keyEnd, valueEnd int) { // validated by Scan
		key := obj[keyStart+1 : keyEnd-1]
		plain := bytes.IndexByte(key, '\\') < 0
		for i, want := range keys {
			if plain && string(key) == want || !plain && jsonx.KeyIs(key, want) {
				vals[i] = jsonx.Member{KeyStart: keyStart, KeyEnd: keyEnd, ValueEnd: valueEnd}.Value(obj)
			}
		}
	})
	return vals
}

// get is lookup of one key.
func get(obj []byte, key string) []byte {
	return lookup(obj, key)[0]
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
