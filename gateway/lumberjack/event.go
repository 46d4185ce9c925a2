package lumberjack

import (
	"fmt"

	"github.com/sluice-siem/sluice/internal/jsonx"
)

// metadataKey is the object Beats add to every event for the Logstash side (beat name,
// version, index hints); it is not part of the event.
const metadataKey = "@metadata"

// scanner checks event documents in one pass, without decoding them: jsonx's Scanner
// validates the JSON within the nesting limit (limits.max_depth) and reports the
// top-level members, among which the scanner finds those named @metadata, which it can
// cut out in place. A connection owns one scanner and reuses it, so scanning allocates
// nothing. The zero scanner applies jsonx.DefaultMaxDepth.
type scanner struct {
	json *jsonx.Scanner
	// members are the top-level members of the event being scanned.
	members []member
	// cuts are the byte ranges of doc to delete, in order and disjoint.
	cuts []cut
}

type member struct {
	keyStart, valueEnd int
	meta               bool
}

type cut struct{ from, to int }

func newScanner(maxDepth int) scanner { return scanner{json: jsonx.NewScanner(maxDepth)} }

// event checks that doc is one JSON object (whitespace around it allowed) and, unless
// keepMetadata is set, removes its top-level "@metadata" members by moving the rest of
// the bytes in place. It returns the object, a subslice of doc, or why doc is not an
// event. doc's bytes are modified only when a member is removed.
func (s *scanner) event(doc []byte, keepMetadata bool) ([]byte, error) {
	if s.json == nil {
		s.json = jsonx.NewScanner(jsonx.DefaultMaxDepth)
	}
	b := doc
	i := jsonx.SkipSpace(b, 0)
	if i == len(b) {
		return nil, fmt.Errorf("event is empty")
	}
	if b[i] != '{' {
		return nil, fmt.Errorf("event is not a JSON object (starts with %q)", b[i])
	}
	start := i
	s.members, s.cuts = s.members[:0], s.cuts[:0]
	var onMember func(keyStart, keyEnd, valueEnd int)
	if !keepMetadata {
		onMember = func(keyStart, keyEnd, valueEnd int) {
			meta := jsonx.KeyIs(b[keyStart+1:keyEnd-1], metadataKey)
			s.members = append(s.members, member{keyStart: keyStart, valueEnd: valueEnd, meta: meta})
		}
	}
	if err := s.json.Scan(b, onMember); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	end := len(b)
	for end > start && b[end-1] != '}' {
		end-- // trailing whitespace
	}
	s.planCuts()
	return s.apply(b[:end], start), nil
}

// planCuts turns the runs of consecutive @metadata members into cuts, each taking the
// comma that joins the run to its neighbours: ',"@metadata":{..}' after another member,
// '"@metadata":{..},' before one, or the run alone when it is all the object holds.
func (s *scanner) planCuts() {
	m := s.members
	for a := 0; a < len(m); a++ {
		if !m[a].meta {
			continue
		}
		z := a
		for z+1 < len(m) && m[z+1].meta {
			z++
		}
		switch {
		case a > 0:
			s.cuts = append(s.cuts, cut{m[a-1].valueEnd, m[z].valueEnd})
		case z+1 < len(m):
			s.cuts = append(s.cuts, cut{m[a].keyStart, m[z+1].keyStart})
		default:
			s.cuts = append(s.cuts, cut{m[a].keyStart, m[z].valueEnd})
		}
		a = z
	}
}

// apply deletes the recorded cuts from obj[start:] in place and returns the result.
func (s *scanner) apply(obj []byte, start int) []byte {
	if len(s.cuts) == 0 {
		return obj[start:]
	}
	w := s.cuts[0].from
	for k, c := range s.cuts {
		next := len(obj)
		if k+1 < len(s.cuts) {
			next = s.cuts[k+1].from
		}
		w += copy(obj[w:], obj[c.to:next])
	}
	return obj[start:w]
}
