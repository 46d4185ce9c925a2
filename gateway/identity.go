package gateway

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/zeebo/xxh3"
)

// An event's identity is what makes a resent event the same event: the gateway writes
// it into the record's envelope (stream.Envelope.ID) and the search sink makes the
// document _id of it, so that an event the shipper sends twice (after a lost
// acknowledgement, a killed gateway, a stalled stream) becomes one document, at
// whatever stream positions its copies landed. routing.id and routing.ids say, per log
// type, where the identity comes from:
//
//   - auto (the default): what the source says identifies the event (Event.ID: a
//     client's idempotency key, the _bulk action's _id, Beats' @metadata._id or the
//     shipper's coordinates of the line, over lumberjack or _bulk); an event without
//     one has no identity, and is named by its stream position downstream, as before
//     ids.
//   - stream_position: never an identity; every copy of an event is a document.
//   - content: a hash of the event as received, whatever the source says. Two events
//     that are byte for byte the same become one document, which is wrong for sources
//     that legitimately log the same line twice; hence opt-in.
//   - field:<path>: the value of one field of the event (a dotted path, as
//     partition_key_field); an event without the field has no identity.
//
// The identity is a 128-bit hash (XXH3-128) of the source's key, seeded with a hash of
// the mode, the log type and the API key's name, written as 22 characters of unpadded
// base64url. Scoping it
// by log type and API key means that no sender can take an identity from another key's
// events. 128 bits make a chance collision negligible: among 10^12 events of one log
// type (years of a busy site) the chance that any two share an id is about 10^-15.
// XXH3 is not a cryptographic hash: a sender who knows another event's exact bytes in
// advance could make a colliding one, but such a sender can as well send that event's
// coordinates or key, which is why identities are scoped by API key.

// ID modes of routing.id and routing.ids.
const (
	IDAuto           = "auto"
	IDStreamPosition = "stream_position"
	IDContent        = "content"
	IDFieldPrefix    = "field:"
)

// MaxIDBytes bounds an identity a client gives (the engines' limit on a document _id);
// receivers reject a longer one with CheckID. Coordinates a receiver derives may be
// longer: only their hash travels.
const MaxIDBytes = 512

// CheckID reports why a client-given identity cannot be used, or nil.
func CheckID(id []byte) error {
	switch {
	case len(id) == 0:
		return Errorf(KindInvalid, "empty id: omit it, or give 1 to %d bytes", MaxIDBytes)
	case len(id) > MaxIDBytes:
		return Errorf(KindInvalid, "id is %d bytes, limit is %d", len(id), MaxIDBytes)
	}
	return nil
}

// idMode is a parsed ID mode.
type idMode struct {
	kind  byte      // 'a'uto, 'p'osition, 'c'ontent, 'f'ield
	field fieldPath // the path of field:<path>
}

// parseIDMode reads one ID mode of the configuration.
func parseIDMode(s string) (idMode, error) {
	switch {
	case s == IDAuto || s == "":
		return idMode{kind: 'a'}, nil
	case s == IDStreamPosition:
		return idMode{kind: 'p'}, nil
	case s == IDContent:
		return idMode{kind: 'c'}, nil
	case strings.HasPrefix(s, IDFieldPrefix):
		path := strings.TrimSpace(s[len(IDFieldPrefix):])
		if path == "" {
			return idMode{}, fmt.Errorf("field: needs a field path, such as field:event.id")
		}
		return idMode{kind: 'f', field: newFieldPath(path)}, nil
	}
	return idMode{}, fmt.Errorf("must be auto, stream_position, content or field:<path>, not %q", s)
}

// idModes are the ID modes of each log type.
type idModes struct {
	def    idMode
	byType map[string]idMode
}

func newIDModes(r Routing) idModes {
	m := idModes{byType: map[string]idMode{}}
	m.def, _ = parseIDMode(r.ID) // Validate has checked them
	for typ, s := range r.IDs {
		m.byType[typ], _ = parseIDMode(s)
	}
	return m
}

func (m idModes) of(typ string) idMode {
	if mode, ok := m.byType[typ]; ok {
		return mode
	}
	return m.def
}

// idHasher makes identities; one serves one Ingest call. A batch is nearly always one
// scope (mode, log type, API key): the scope's seed is computed once and kept.
type idHasher struct {
	kind        byte
	typ, caller string
	seed        uint64
	ok          bool // kind, typ, caller and seed hold a scope
	out         [22]byte
}

// id returns the identity of ev, of log type typ sent with the API key named
// principal, under mode, or nil for none. It is h's own bytes, valid until the next
// call: the envelope copies it, and a string per event was an allocation per event.
func (h *idHasher) id(mode idMode, typ, principal string, ev *Event) []byte {
	var key []byte
	switch mode.kind {
	case 'a':
		key = ev.ID
	case 'c':
		key = ev.Doc
	case 'f':
		v := mode.field.get(ev.Doc)
		switch v.Type {
		case gjson.String:
			key = []byte(v.Str)
		case gjson.Number, gjson.True, gjson.False:
			key = []byte(v.Raw)
		}
	}
	if len(key) == 0 {
		return nil
	}
	if !h.ok || h.kind != mode.kind || h.typ != typ || h.caller != principal {
		// The scope seeds the key's hash, so that the key (a whole event, in content
		// mode) is hashed where it lies.
		pre := append([]byte("sluice-id-1"), mode.kind)
		pre = binary.AppendUvarint(pre, uint64(len(typ)))
		pre = append(pre, typ...)
		pre = binary.AppendUvarint(pre, uint64(len(principal)))
		pre = append(pre, principal...)
		h.kind, h.typ, h.caller, h.seed, h.ok = mode.kind, typ, principal, xxh3.Hash(pre), true
	}
	sum := xxh3.Hash128Seed(key, h.seed).Bytes()
	base64.RawURLEncoding.Encode(h.out[:], sum[:])
	return h.out[:]
}
