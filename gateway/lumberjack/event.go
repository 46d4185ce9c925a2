package lumberjack

import (
	"fmt"

	"github.com/sluice-siem/sluice/gateway/internal/beatsid"
	"github.com/sluice-siem/sluice/internal/jsonx"
)

// metadataKey is the object Beats add to every event for the Logstash side.
const metadataKey = beatsid.MetadataKey

// scanner checks event documents in one pass, without decoding them: jsonx's Scanner
// validates the JSON within the nesting limit (limits.max_depth) and reports the
// top-level members, among which the scanner finds those named @metadata, which it can
// cut out in place, and those that say which line of which file the event is. A
// connection owns one scanner and reuses it, so scanning allocates nothing. The zero
// scanner applies jsonx.DefaultMaxDepth.
type scanner struct {
	json *jsonx.Scanner
	// members are the top-level members of the event being scanned.
	members []jsonx.Member
	cutter  jsonx.Cutter
	doc     []byte // the document being scanned
	// ids gathers the values that identify the event (beatsid).
	ids beatsid.Scan
}

func newScanner(maxDepth int) scanner { return scanner{json: jsonx.NewScanner(maxDepth)} }

// event checks that doc is one JSON object (whitespace around it allowed) and, unless
// keepMetadata is set, removes its top-level "@metadata" members by moving the rest of
// the bytes in place. It returns the object, a subslice of doc, or why doc is not an
// event. doc's bytes are modified only when a member is removed.
func (s *scanner) event(doc []byte, keepMetadata bool) ([]byte, error) {
	obj, _, err := s.eventID(doc, keepMetadata, nil)
	return obj, err
}

// eventID is event that also appends to ids what identifies the event (see beatsid)
// and returns the extended slice, unchanged when the event names no identity.
func (s *scanner) eventID(doc []byte, keepMetadata bool, ids []byte) (obj, ext []byte, err error) {
	obj, ext, _, err = s.scanEvent(doc, keepMetadata, ids, nil, false)
	return obj, ext, err
}

// eventTop is eventID that also appends the object's top-level members to top (their
// offsets into obj, for gateway.Event.Top) and returns the extended slice.
func (s *scanner) eventTop(doc []byte, keepMetadata bool, ids []byte, top []jsonx.Member) (obj, ext []byte, topExt []jsonx.Member, err error) {
	return s.scanEvent(doc, keepMetadata, ids, top, true)
}

// scanEvent is eventID, and eventTop when withTop is set.
func (s *scanner) scanEvent(doc []byte, keepMetadata bool, ids []byte, top []jsonx.Member, withTop bool) (obj, ext []byte, topExt []jsonx.Member, err error) {
	if s.json == nil {
		s.json = jsonx.NewScanner(jsonx.DefaultMaxDepth)
	}
	b := doc
	i := jsonx.SkipSpace(b, 0)
	if i == len(b) {
		return nil, ids, top, fmt.Errorf("event is empty")
	}
	if b[i] != '{' {
		return nil, ids, top, fmt.Errorf("event is not a JSON object (starts with %q)", b[i])
	}
	start := i
	s.members, s.doc = s.members[:0], b
	s.ids.Reset()
	err = s.json.ScanPaths(b, beatsid.Levels, s.member)
	s.doc = nil
	if err != nil {
		return nil, ids, top, fmt.Errorf("invalid JSON: %w", err)
	}
	end := len(b)
	for end > start && b[end-1] != '}' {
		end-- // trailing whitespace
	}
	ids = s.ids.Append(b, ids) // before the cut moves the bytes
	if keepMetadata {
		for k := range s.members {
			s.members[k].Drop = false
		}
	}
	obj = s.cutter.Cut(b[:end], start, s.members)
	if withTop {
		top = s.cutter.Rebase(s.members, start, top)
	}
	return obj, ids, top, nil
}

// member records a top-level member, marked for dropping when it is @metadata, and
// keeps the values of those at path that identify the event (see beatsid).
func (s *scanner) member(path []jsonx.Key, valueEnd int) {
	part := s.ids.Member(s.doc, path, valueEnd)
	if len(path) > 1 {
		return
	}
	m := jsonx.Member{KeyStart: path[0].Start, KeyEnd: path[0].End, ValueEnd: valueEnd, Drop: part == beatsid.PartMetadata}
	s.members = append(s.members, m)
}
