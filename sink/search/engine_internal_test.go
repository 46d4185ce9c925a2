package search

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// An item's error keeps its causes (Elasticsearch names what went wrong only there) and
// each reason is cut to maxReasonBytes at a character's start, whatever the engine
// quotes.
func TestEngineErrorText(t *testing.T) {
	long := strings.Repeat("é", 2*maxReasonBytes) // two bytes a character
	e := &engineError{Type: "document_parsing_exception", Reason: "failed to parse [a]: '" + long + "'",
		CausedBy: &engineError{Type: "illegal_argument_exception", Reason: "Document contains at least one immense term",
			CausedBy: &engineError{Type: "max_bytes_length_exceeded_exception", Reason: "bytes can be at most 32766"}}}
	got := e.text()
	if !utf8.ValidString(got) {
		t.Errorf("text is not valid UTF-8: %q", got)
	}
	first, rest, ok := strings.Cut(got, "; caused by ")
	if !ok || len(first) > maxReasonBytes+len("...") || !strings.HasSuffix(first, "...") {
		t.Errorf("first reason of %d bytes (%q...), want it cut to %d bytes and marked", len(first), first[:40], maxReasonBytes)
	}
	want := "illegal_argument_exception: Document contains at least one immense term; caused by max_bytes_length_exceeded_exception: bytes can be at most 32766"
	if rest != want {
		t.Errorf("causes %q, want %q", rest, want)
	}
	deep := &engineError{Reason: "top"}
	for c, n := deep, 0; n < 10; n++ {
		c.CausedBy = &engineError{Type: "t", Reason: "r"}
		c = c.CausedBy
	}
	if n := strings.Count(deep.text(), "; caused by "); n != maxCauses {
		t.Errorf("%d causes kept of 10, want %d", n, maxCauses)
	}
}
