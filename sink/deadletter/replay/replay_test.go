package replay_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/sink"
	"github.com/sluice-siem/sluice/sink/deadletter"
	"github.com/sluice-siem/sluice/sink/deadletter/replay"
	"github.com/sluice-siem/sluice/sink/search"
	"github.com/sluice-siem/sluice/stream"
)

// indexer records what it is given and answers like an engine that already holds the
// ids in present (409) and refuses those in refuse. The engine itself is exercised by
// cmd/sluice's replay tests against OpenSearch; this one checks the engine's
// bookkeeping.
type indexer struct {
	batches         [][]sink.Document
	present, refuse map[string]bool
}

func (x *indexer) WriteStats(_ context.Context, docs []sink.Document) (search.Stats, error) {
	x.batches = append(x.batches, slices.Clone(docs))
	var st search.Stats
	for _, d := range docs {
		switch {
		case x.present[d.ID]:
			st.Conflicts++
		case x.refuse[d.ID]:
			st.DeadLettered++
		default:
			st.Indexed++
		}
	}
	return st, nil
}

func letter(id, typ, errType string) deadletter.Letter {
	return deadletter.Letter{ID: id, LogType: typ, ErrorType: errType, Document: []byte(`{"id":"` + id + `"}`),
		At: time.Unix(100, 0), Original: []byte(`{"v":1}`), Source: "test:" + id}
}

func TestFiltersBatchesAndCounts(t *testing.T) {
	start := time.Unix(1000, 0)
	idx := &indexer{present: map[string]bool{"s/0/2": true}, refuse: map[string]bool{"s/0/3": true}}
	var progress []replay.Counts
	r := replay.New(replay.Options{Types: []string{"fw"}, ErrorTypes: []string{"mapper_parsing_exception"}, Start: start,
		Index: idx, Batch: 2, Progress: func(c replay.Counts) { progress = append(progress, c) }})
	ctx := context.Background()
	visit := r.Visitor(ctx)
	own := letter("s/0/9", "fw", "mapper_parsing_exception")
	own.ReplayedAt = start.Add(time.Second) // refused again by this replay: not read back
	earlier := letter("s/0/4", "fw", "mapper_parsing_exception")
	earlier.ReplayedAt = start.Add(-time.Hour) // refused by an earlier replay: replayed
	noDoc := letter("s/0/5", "fw", "mapper_parsing_exception")
	noDoc.Document = nil
	for _, l := range []deadletter.Letter{
		letter("s/0/1", "fw", "mapper_parsing_exception"),
		letter("s/0/2", "fw", "mapper_parsing_exception"),
		letter("s/0/3", "fw", "mapper_parsing_exception"),
		letter("x/0/1", "ids", "mapper_parsing_exception"), // other type
		letter("x/0/2", "fw", "version_conflict"),          // other error type
		own, earlier, noDoc,
	} {
		if err := visit(l, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := visit(deadletter.Letter{Source: "f:9"}, errors.New("bad json")); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := r.Counts()
	want := replay.Counts{Read: 9, Matched: 5, Indexed: 2, Conflicts: 1, Refused: 1, Skipped: 1, Unreadable: 1}
	if got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
	if !got.Failed() {
		t.Error("refused, skipped and unreadable letters do not fail the replay")
	}
	var ids []string
	for _, b := range idx.batches {
		if len(b) > 2 {
			t.Errorf("batch of %d, want at most 2", len(b))
		}
		for _, d := range b {
			ids = append(ids, d.ID)
			if d.Type != "fw" || string(d.Body) != `{"id":"`+d.ID+`"}` || !d.Time.Equal(time.Unix(100, 0)) {
				t.Errorf("document %+v is not the stored one", d)
			}
		}
	}
	if want := []string{"s/0/1", "s/0/2", "s/0/3", "s/0/4"}; !slices.Equal(ids, want) {
		t.Errorf("indexed ids %q, want %q (each letter's own id)", ids, want)
	}
	if len(progress) == 0 {
		t.Error("no progress reported")
	}
}

// A stored document whose log type could not name an index is skipped, not indexed.
func TestInvalidTypeSkipped(t *testing.T) {
	idx := &indexer{}
	r := replay.New(replay.Options{Index: idx})
	if err := r.Visitor(context.Background())(letter("s/0/6", "../fw", "e"), nil); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := r.Counts(); c.Skipped != 1 || len(idx.batches) != 0 {
		t.Errorf("counts %+v, batches %d", c, len(idx.batches))
	}
}

func TestLimitStopsReading(t *testing.T) {
	r := replay.New(replay.Options{Limit: 2})
	visit := r.Visitor(context.Background())
	for i, id := range []string{"s/0/1", "s/0/2", "s/0/3"} {
		err := visit(letter(id, "fw", "e"), nil)
		if i < 2 && err != nil || i == 2 && !errors.Is(err, deadletter.ErrStop) {
			t.Fatalf("letter %d: %v", i, err)
		}
	}
	// A dry run (no Index) counts what it would index.
	if c := r.Counts(); c.Matched != 2 || c.WouldIndex != 2 || c.Indexed != 0 {
		t.Errorf("counts %+v", c)
	}
}

// With a Transform, the original event goes through it at the position the letter's
// id names, and what the pipeline drops is counted, not indexed.
func TestTransformRunsTheOriginal(t *testing.T) {
	var seen []stream.Delivered
	idx := &indexer{}
	r := replay.New(replay.Options{Index: idx, Transform: func(_ context.Context, rec stream.Delivered) (sink.Document, bool, error) {
		seen = append(seen, rec)
		if rec.Sequence == "2" {
			return sink.Document{}, false, nil
		}
		return sink.Document{Type: "fw", Body: []byte(`{"t":1}`)}, true, nil
	}})
	ctx := context.Background()
	visit := r.Visitor(ctx)
	noOriginal := letter("s/1/3", "fw", "e")
	noOriginal.Original = nil
	for _, l := range []deadletter.Letter{letter("s/1/1/7", "fw", "e"), letter("s/1/2", "fw", "e"), noOriginal} {
		if err := visit(l, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0].Stream != "s" || seen[0].Shard != "1" || seen[0].Sequence != "1" || !seen[0].Aggregated || seen[0].SubSequence != 7 ||
		string(seen[0].Data) != `{"v":1}` {
		t.Fatalf("transformed %+v", seen)
	}
	if c := r.Counts(); c.Indexed != 1 || c.Dropped != 1 || c.Skipped != 1 {
		t.Errorf("counts %+v", c)
	}
	d := idx.batches[0][0]
	if d.ID != "s/1/1/7" || string(d.Original) != `{"v":1}` || string(d.Body) != `{"t":1}` {
		t.Errorf("document %+v: want the pipeline's body under the letter's id, with the original", d)
	}
}
