package consume

import (
	"context"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/stream"
)

func cpAt(seq string) stream.Checkpoint { return stream.Checkpoint{Sequence: seq} }

func TestCheckpointerInOrder(t *testing.T) {
	c := newCheckpointer(100, 1<<30, cpAt("5"))
	if pos, _, idle := c.position(); pos != cpAt("5") || !idle {
		t.Fatalf("fresh position = %v idle %v, want the start and idle", pos, idle)
	}
	a := c.track(2, 2, 0, cpAt("7"))
	b := c.track(1, 1, 0, cpAt("8"))
	c.ack(a)
	if pos, acked, idle := c.position(); pos != cpAt("7") || acked != 2 || idle {
		t.Fatalf("after first ack: %v %d %v", pos, acked, idle)
	}
	c.ack(b)
	if pos, acked, idle := c.position(); pos != cpAt("8") || acked != 3 || !idle {
		t.Fatalf("after both acks: %v %d %v", pos, acked, idle)
	}
}

// TestCheckpointerOutOfOrder acknowledges spans out of order, leaving a gap: the
// position moves only over the contiguous acknowledged prefix.
func TestCheckpointerOutOfOrder(t *testing.T) {
	c := newCheckpointer(100, 1<<30, stream.Checkpoint{})
	ids := make([]uint64, 5)
	for i := range ids {
		ids[i] = c.track(1, 1, 0, cpAt(string(rune('a'+i))))
	}
	steps := []struct {
		ack  int
		want stream.Checkpoint
	}{
		{4, stream.Checkpoint{}}, // last first: nothing contiguous
		{2, stream.Checkpoint{}}, // still a gap at 0 and 1
		{0, cpAt("a")},           // 0 done, gap at 1
		{3, cpAt("a")},           // 2..4 acked but 1 is not
		{1, cpAt("e")},           // the gap closes: everything
	}
	for _, st := range steps {
		c.ack(ids[st.ack])
		if pos, _, _ := c.position(); pos != st.want {
			t.Fatalf("after ack of span %d: position %v, want %v", st.ack, pos, st.want)
		}
	}
	if u := c.unackedUnits(); u != 0 {
		t.Errorf("unacked units = %d, want 0", u)
	}
}

// TestCheckpointerIdempotent acknowledges spans again, and unknown ids: nothing moves
// twice and units are released once.
func TestCheckpointerIdempotent(t *testing.T) {
	c := newCheckpointer(10, 1<<30, stream.Checkpoint{})
	a := c.track(3, 3, 0, cpAt("1"))
	b := c.track(4, 4, 0, cpAt("2"))
	c.ack(b)
	c.ack(b)
	if u := c.unackedUnits(); u != 7 {
		t.Fatalf("unacked after double ack of a later span = %d, want 7", u)
	}
	c.ack(a)
	c.ack(a)
	c.ack(b)
	c.ack(12345) // never tracked
	if u := c.unackedUnits(); u != 0 {
		t.Fatalf("unacked = %d, want 0", u)
	}
	read, acked := c.counts()
	if read != 7 || acked != 7 {
		t.Errorf("counts = %d read %d acked, want 7 7", read, acked)
	}
	d := c.track(1, 1, 0, cpAt("3"))
	if d != b+1 {
		t.Errorf("next id = %d, want %d", d, b+1)
	}
	c.ack(a) // an old id must not acknowledge the new span
	if pos, _, _ := c.position(); pos != cpAt("2") {
		t.Errorf("stale ack moved the position to %v", pos)
	}
}

// TestCheckpointerSubSequences follows an aggregated record cut over batches: the
// position is partial inside the record and whole after its last user record.
func TestCheckpointerSubSequences(t *testing.T) {
	var recs []stream.Delivered
	recs = append(recs, stream.Delivered{Sequence: "10"})
	for i := range 5 {
		recs = append(recs, stream.Delivered{Sequence: "11", SubSequence: i, Aggregated: true})
	}
	recs = append(recs, stream.Delivered{Sequence: "12"})
	batches := cut(recs, 3)
	want := []struct {
		n, units int
		end      stream.Checkpoint
	}{
		{3, 1, stream.Checkpoint{Sequence: "11", Partial: true, SubSequence: 1}}, // "10", 11/0, 11/1
		{3, 1, stream.Checkpoint{Sequence: "11"}},                                // 11/2..11/4: "11" complete
		{1, 1, stream.Checkpoint{Sequence: "12"}},
	}
	if len(batches) != len(want) {
		t.Fatalf("cut into %d batches, want %d", len(batches), len(want))
	}
	for i, b := range batches {
		if len(b.records) != want[i].n || b.units != want[i].units || b.end != want[i].end {
			t.Errorf("batch %d: %d records, %d units, end %+v; want %d, %d, %+v",
				i, len(b.records), b.units, b.end, want[i].n, want[i].units, want[i].end)
		}
	}
	c := newCheckpointer(10, 1<<30, stream.Checkpoint{})
	var ids []uint64
	for _, b := range batches {
		ids = append(ids, c.track(b.units, len(b.records), b.bytes, b.end))
	}
	c.ack(ids[0])
	if pos, _, _ := c.position(); pos != batches[0].end {
		t.Errorf("position %+v, want partial %+v", pos, batches[0].end)
	}
	c.ack(ids[2])
	c.ack(ids[1])
	if pos, _, _ := c.position(); pos != cpAt("12") {
		t.Errorf("position %+v, want 12", pos)
	}
	// Units: three stream records.
	total := 0
	for _, b := range batches {
		total += b.units
	}
	if total != 3 {
		t.Errorf("units over the page = %d, want 3 stream records", total)
	}
}

// TestCheckpointerBound checks the bound on unacknowledged units: waitRoom blocks at the
// bound and returns as soon as an acknowledgement makes room.
func TestCheckpointerBound(t *testing.T) {
	c := newCheckpointer(4, 1<<30, stream.Checkpoint{})
	if n, err := c.waitRoom(context.Background()); err != nil || n != 4 {
		t.Fatalf("waitRoom = %d, %v; want 4", n, err)
	}
	a := c.track(3, 30, 0, cpAt("1"))
	if n, _ := c.waitRoom(context.Background()); n != 1 {
		t.Fatalf("room = %d, want 1", n)
	}
	c.track(1, 1, 0, cpAt("2"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.waitRoom(ctx); err == nil {
		t.Fatal("waitRoom returned at the bound")
	}
	got := waitRoomLater(c)
	select {
	case n := <-got:
		t.Fatalf("waitRoom returned %d before any ack", n)
	case <-time.After(20 * time.Millisecond):
	}
	c.ack(a)
	select {
	case n := <-got:
		if n != 3 {
			t.Errorf("room after ack = %d, want 3", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waitRoom did not wake on ack")
	}
}

// waitRoomLater calls c.waitRoom in a goroutine and hands over the room it returns.
func waitRoomLater(c *checkpointer) <-chan int {
	got := make(chan int, 1)
	go func() {
		n, _ := c.waitRoom(context.Background())
		got <- n
	}()
	return got
}

// TestCheckpointerByteBound checks the bound on unacknowledged bytes: waitRoom blocks
// once the bytes reach it, even with units to spare, and returns when an
// acknowledgement brings them below it; a read may pass it (the bound is checked
// before a read, not within one).
func TestCheckpointerByteBound(t *testing.T) {
	c := newCheckpointer(100, 1000, stream.Checkpoint{})
	a := c.track(1, 1, 600, cpAt("1"))
	if n, err := c.waitRoom(context.Background()); err != nil || n != 99 {
		t.Fatalf("waitRoom below the byte bound = %d, %v; want 99", n, err)
	}
	b := c.track(1, 1, 900, cpAt("2")) // 1,500 bytes: past the bound
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.waitRoom(ctx); err == nil {
		t.Fatal("waitRoom returned with 1500 of 1000 bytes unacknowledged")
	}
	got := waitRoomLater(c)
	c.ack(b) // acknowledged out of order: nothing released, still 1,500 bytes held
	select {
	case n := <-got:
		t.Fatalf("waitRoom returned %d while the first span still held the bytes", n)
	case <-time.After(20 * time.Millisecond):
	}
	c.ack(a)
	select {
	case n := <-got:
		if n != 100 {
			t.Errorf("room after both acks = %d, want 100", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waitRoom did not wake when the bytes were released")
	}
}

func TestCutPlainRecords(t *testing.T) {
	var recs []stream.Delivered
	for i := range 7 {
		recs = append(recs, stream.Delivered{Sequence: string(rune('a' + i)),
			Record: stream.Record{PartitionKey: "k", Data: make([]byte, 10*(i+1))}})
	}
	bs := cut(recs, 3)
	if len(bs) != 3 || bs[0].units != 3 || bs[2].units != 1 || bs[2].end != cpAt("g") {
		t.Errorf("cut = %+v", bs)
	}
	// Data 10+20+30 and 70 bytes, a byte of partition key each.
	if bs[0].bytes != 63 || bs[2].bytes != 71 {
		t.Errorf("cut bytes %d and %d, want 63 and 71", bs[0].bytes, bs[2].bytes)
	}
	if len(cut(nil, 3)) != 0 {
		t.Error("cut of nothing made batches")
	}
}
