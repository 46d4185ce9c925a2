package lumberjack

import (
	"encoding/binary"

	"github.com/tidwall/gjson"

	"github.com/sluice-siem/sluice/internal/jsonx"
)

// identity appends to dst what identifies a Beats event, the same each time the
// shipper sends it (gateway.Event.ID), and returns the extended slice; dst comes back
// unchanged when the event names nothing. doc is the event (valid JSON) and members
// its top-level members.
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
func identity(dst, doc []byte, members []jsonx.Member) []byte {
	var meta, agent, host, log, input, ts []byte
	for _, m := range members {
		key := m.Key(doc)
		switch {
		case jsonx.KeyIs(key, metadataKey):
			meta = m.Value(doc)
		case jsonx.KeyIs(key, "agent"):
			agent = m.Value(doc)
		case jsonx.KeyIs(key, "host"):
			host = m.Value(doc)
		case jsonx.KeyIs(key, "log"):
			log = m.Value(doc)
		case jsonx.KeyIs(key, "input"):
			input = m.Value(doc)
		case jsonx.KeyIs(key, "@timestamp"):
			ts = m.Value(doc)
		}
	}
	if v := field(meta, "_id"); v.Type == gjson.String && v.Str != "" && len(v.Str) <= maxMetadataID {
		dst = append(dst, 'm')
		return append(dst, v.Str...)
	}
	who := field(agent, "id")
	whoTag := byte('a')
	if !scalar(who) {
		who, whoTag = field(host, "name"), 'h'
	}
	path, offset := field(log, "file.path"), field(log, "offset")
	if !scalar(who) || !scalar(path) || offset.Type != gjson.Number {
		return dst
	}
	dst = append(dst, 'c')
	dst = appendPart(dst, whoTag, who.Raw)
	dst = appendPart(dst, 'p', path.Raw)
	for _, f := range [...]struct {
		tag  byte
		path string
	}{{'d', "file.device_id"}, {'i', "file.inode"}, {'f', "file.fingerprint"}} {
		if v := field(log, f.path); scalar(v) {
			dst = appendPart(dst, f.tag, v.Raw)
		}
	}
	if v := field(input, "id"); scalar(v) {
		dst = appendPart(dst, 'n', v.Raw)
	}
	dst = appendPart(dst, 'o', offset.Raw)
	if len(ts) > 0 {
		dst = appendPart(dst, 't', string(ts))
	}
	return dst
}

// maxMetadataID bounds an @metadata._id taken as the identity (the engines' _id
// limit); a longer one is ignored in favour of the coordinates.
const maxMetadataID = 512

// field looks up a dotted path in obj, a JSON object's bytes (or nothing).
func field(obj []byte, path string) gjson.Result {
	if len(obj) == 0 || obj[0] != '{' {
		return gjson.Result{}
	}
	return gjson.GetBytes(obj, path)
}

// scalar reports whether v is a non-empty string or a number.
func scalar(v gjson.Result) bool {
	return (v.Type == gjson.String && v.Str != "") || v.Type == gjson.Number
}

// appendPart appends one tagged, length-prefixed part of the coordinates.
func appendPart(dst []byte, tag byte, raw string) []byte {
	dst = append(dst, tag)
	dst = binary.AppendUvarint(dst, uint64(len(raw)))
	return append(dst, raw...)
}
