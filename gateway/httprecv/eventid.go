package httprecv

import (
	"bytes"

	"github.com/tidwall/gjson"

	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/internal/jsonx"
)

// idKey is the member of an event sent to /v1/events that carries its client-chosen
// identity. The engines keep _id out of documents (it is metadata there too), so no
// event loses data by the member's removal.
const idKey = "_id"

// idTaker finds and removes the _id member of events; one serves one request.
type idTaker struct {
	sc      *jsonx.Scanner
	doc     []byte
	members []jsonx.Member
	cutter  jsonx.Cutter
}

// take returns doc (a valid JSON object) without its top-level _id members, in place,
// and the identity the last of them names, or nil when there is none. An _id that is
// not a string of 1 to gateway.MaxIDBytes bytes is an error for the event.
func (t *idTaker) take(doc []byte) (obj, id []byte, err error) {
	if !bytes.Contains(doc, []byte(idKey)) && !bytes.Contains(doc, []byte(`\u`)) {
		return doc, nil, nil // the common case: nothing to look for
	}
	t.members, t.doc = t.members[:0], doc
	err = t.sc.Scan(doc, t.member)
	t.doc = nil
	if err != nil {
		return doc, nil, gateway.Errorf(gateway.KindInvalid, "invalid JSON: %v", err)
	}
	var last *jsonx.Member
	for k := range t.members {
		if t.members[k].Drop {
			last = &t.members[k]
		}
	}
	if last == nil {
		return doc, nil, nil
	}
	v := gjson.ParseBytes(last.Value(doc))
	if v.Type != gjson.String {
		return doc, nil, gateway.Errorf(gateway.KindInvalid, "_id must be a string (the event's idempotency key)")
	}
	id = []byte(v.Str)
	if err := gateway.CheckID(id); err != nil {
		return doc, nil, err
	}
	start := jsonx.SkipSpace(doc, 0)
	end := len(doc)
	for end > start && doc[end-1] != '}' {
		end--
	}
	return t.cutter.Cut(doc[:end], start, t.members), id, nil
}

func (t *idTaker) member(keyStart, keyEnd, valueEnd int) {
	drop := jsonx.KeyIs(t.doc[keyStart+1:keyEnd-1], idKey)
	t.members = append(t.members, jsonx.Member{KeyStart: keyStart, KeyEnd: keyEnd, ValueEnd: valueEnd, Drop: drop})
}
