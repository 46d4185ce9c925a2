package main

import (
	"context"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis/kinesistest"
	"github.com/sluice-siem/sluice/stream/kinesis/leases/dynamodbtest"
)

// The archive's guarantees with real processes: `sluice transform` workers share a
// kinesalite stream through dynalite leases and archive to the S3 test server, while
// this test produces, kills a worker or cuts S3 off.

// archiveSink is the workers' sink: section: the file sink (each document's id says
// which worker processed which record) and the archive into b through endpoint, with
// more archive settings in extra (indented by four spaces).
func archiveSink(b *s3Bucket, endpoint, extra string) string {
	return fmt.Sprintf(`  kind: file
  file:
    id_field: _id
  archive:
    bucket: %s
    prefix: lake
    region: us-east-1
    endpoint: %s
    path_style: true
    credentials: {access_key_id: test, secret_access_key: test}
%s`, b.name, endpoint, extra)
}

// TestArchiveExactlyOnceAcrossKill kills a worker with SIGKILL while events flow: it
// has objects open (objects end every second) and objects uploaded but not yet
// checkpointed (checkpoints every 3 s). The worker that takes its shards over reads
// them again from the checkpoint; afterwards the objects of the bucket hold every
// event produced exactly once, and each shard's objects cover disjoint ranges.
func TestArchiveExactlyOnceAcrossKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sluice transform processes against kinesalite, dynalite and the S3 test server")
	}
	b := newS3Bucket(t, "sluice-failover")
	f := newFleetWith(t, kinesistest.Endpoint(t), dynamodbtest.Endpoint(t), fleetOptions{
		shards:  2,
		sink:    archiveSink(b, b.endpoint, "    max_age: 1s\n"),
		periods: strings.Replace(deliveryPeriods, "checkpoint_period: 200ms", "checkpoint_period: 3s", 1),
	})
	f.start("w1")

	var (
		mu     sync.Mutex
		all    []string
		flows  atomic.Bool
		doneCh = make(chan struct{})
	)
	flows.Store(true)
	go func() {
		defer close(doneCh)
		for i := 0; flows.Load(); i++ {
			msgs := f.produce(f.producer, "flow"+strconv.Itoa(i), 200, 20)
			mu.Lock()
			all = append(all, msgs...)
			mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	}()

	waitFor(t, 30*time.Second, "w1's first objects", func() bool { return len(b.archived(t)) >= 2 })
	time.Sleep(1500 * time.Millisecond) // more uploads, not all of them checkpointed
	before := len(b.archived(t))
	f.kill("w1")
	f.start("w2")
	f.waitOwners(10*time.Second, "w2")
	time.Sleep(2 * time.Second) // w2 reads the rest of w1's work and the new events
	flows.Store(false)
	<-doneCh
	mu.Lock()
	produced := slices.Clone(all)
	mu.Unlock()

	var objs []archivedObject
	waitFor(t, 60*time.Second, "every event in the archive", func() bool {
		objs = b.archived(t)
		n := 0
		for _, o := range objs {
			n += len(o.messages)
		}
		return n >= len(produced)
	})
	f.terminate("w2")
	objs = b.archived(t)

	count := map[string]int{}
	for _, o := range objs {
		for _, m := range o.messages {
			count[m]++
		}
	}
	var missing, twice []string
	for _, m := range produced {
		switch count[m] {
		case 0:
			missing = append(missing, m)
		case 1:
		default:
			twice = append(twice, m)
		}
		delete(count, m)
	}
	if len(missing) > 0 || len(twice) > 0 || len(count) > 0 {
		t.Fatalf("of %d events produced, %d are not in the archive (e.g. %v), %d are in it more than once (e.g. %v), %d were never produced",
			len(produced), len(missing), missing[:min(5, len(missing))], len(twice), twice[:min(5, len(twice))], len(count))
	}
	checkDisjoint(t, objs)

	// The kill must have mattered: w2 processed again events that w1 had processed
	// (those of w1's open objects at least), yet archived them once.
	again := duplicates(f.docs())
	if len(again) == 0 {
		t.Fatal("no event was processed by both workers: the kill came when nothing was pending, so the test proved nothing")
	}
	t.Logf("%d events in %d objects (%d uploaded before the kill); w2 processed %d events again that w1 had processed", len(produced), len(objs), before, len(again))
}

// checkDisjoint fails if two objects of a shard and type overlap in stream positions:
// a position archived twice, under different keys.
func checkDisjoint(t *testing.T, objs []archivedObject) {
	t.Helper()
	byShard := map[string][]archivedObject{}
	for _, o := range objs {
		byShard[o.typ+"/"+o.shard] = append(byShard[o.typ+"/"+o.shard], o)
	}
	for sh, os := range byShard {
		slices.SortFunc(os, func(a, b archivedObject) int { return keyPosCmp(t, a.first, b.first) })
		for i := 1; i < len(os); i++ {
			if keyPosCmp(t, os[i-1].last, os[i].first) >= 0 {
				t.Errorf("%s: object %s ends at or after the start of %s", sh, os[i-1].key, os[i].key)
			}
		}
	}
}

// keyPosCmp orders two positions as object keys write them: sequence[_sub].
func keyPosCmp(t *testing.T, a, b string) int {
	parse := func(s string) (*big.Int, int) {
		seq, sub, agg := strings.Cut(s, "_")
		n, ok := new(big.Int).SetString(seq, 10)
		if !ok {
			t.Fatalf("position %q in a key is not a sequence number", s)
		}
		if !agg {
			return n, -1
		}
		k, err := strconv.Atoi(sub)
		if err != nil {
			t.Fatalf("position %q in a key: bad sub-sequence", s)
		}
		return n, k
	}
	as, asub := parse(a)
	bs, bsub := parse(b)
	if c := as.Cmp(bs); c != 0 {
		return c
	}
	return asub - bsub
}

// waitFor polls cond every 200 ms until it holds, failing after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// outageDuration is how long TestArchiveOutage keeps S3 away.
const outageDuration = 30 * time.Second

// TestArchiveOutage cuts a worker off S3 for 30 seconds (a proxy in front of the S3
// test server answers 503 to everything) while events keep coming: the shard's
// checkpoint holds, its reading stops at stream.consumer.max_unacked_records
// (backpressure), and once S3 answers again everything drains into the archive, each
// event once.
func TestArchiveOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a sluice transform process against kinesalite, dynalite and the S3 test server")
	}
	b := newS3Bucket(t, "sluice-outage")
	target, err := url.Parse(b.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	var refused atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			refused.Add(1)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>the test cut S3 off</Message></Error>`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	const unacked = 2000
	f := newFleetWith(t, kinesistest.Endpoint(t), dynamodbtest.Endpoint(t), fleetOptions{
		shards:  1,
		sink:    archiveSink(b, srv.URL, "    max_age: 1s\n    retry_max: 2s\n"),
		periods: deliveryPeriods + "    max_unacked_records: " + strconv.Itoa(unacked) + "\n",
	})
	f.start("w1")
	all := f.produce(f.producer, "before", 500, 20)
	f.waitDelivered(all)
	waitFor(t, 30*time.Second, "the first events in the archive", func() bool { return len(b.archived(t)) > 0 })
	waitFor(t, 30*time.Second, "a checkpoint over the archived events", func() bool { return !strings.HasSuffix(f.checkpoint(), "@") })

	down.Store(true)
	start := time.Now()
	checkpoint := f.checkpoint()
	// Without KPL aggregation, so that an event is a stream record: the bound counts
	// records.
	during := f.produce(f.plain, "during", 3*unacked, 20)
	all = append(all, during...)
	for time.Since(start) < outageDuration {
		time.Sleep(time.Second)
		if cp := f.checkpoint(); cp != checkpoint {
			// Only what was uploaded before the outage may still be checkpointed.
			if time.Since(start) > 5*time.Second {
				t.Fatalf("the checkpoint moved from %v to %v %v into the outage", checkpoint, cp, time.Since(start).Round(time.Second))
			}
			checkpoint = cp
		}
	}
	// Backpressure: of the events sent during the outage, the worker processed (wrote to
	// the file sink) no more than its bound of unacknowledged records allows.
	processed := 0
	for _, d := range f.docs() {
		if strings.HasPrefix(d.Message, "during-") {
			processed++
		}
	}
	if processed == 0 || processed > unacked {
		t.Errorf("the worker processed %d of the %d events sent during the outage, want 1 to max_unacked_records %d", processed, len(during), unacked)
	}
	if refused.Load() == 0 {
		t.Fatal("the worker made no S3 request during the outage")
	}
	down.Store(false)
	t.Logf("outage of %v: %d S3 requests refused, %d of %d events processed, checkpoint held at %v", outageDuration, refused.Load(), processed, len(during), checkpoint)

	var objs []archivedObject
	waitFor(t, 60*time.Second, "the archive drained after the outage", func() bool {
		objs = b.archived(t)
		n := 0
		for _, o := range objs {
			n += len(o.messages)
		}
		return n >= len(all)
	})
	got := map[string]int{}
	for _, o := range objs {
		for _, m := range o.messages {
			got[m]++
		}
	}
	for _, m := range all {
		if got[m] != 1 {
			t.Fatalf("event %s is in the archive %d times after the outage", m, got[m])
		}
	}
	checkDisjoint(t, objs)
	if cp := f.checkpoint(); cp == checkpoint {
		t.Errorf("the checkpoint stayed at %v after the archive drained", cp)
	}
}

// checkpoint returns the checkpoints of the fleet's leases, as one comparable string.
func (f *fleet) checkpoint() string {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ls, err := f.leases.List(ctx)
	if err != nil {
		f.t.Fatalf("list leases: %v", err)
	}
	var out []string
	for _, l := range ls {
		out = append(out, fmt.Sprintf("%s@%s", l.Shard, checkpointString(l.Checkpoint)))
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func checkpointString(c stream.Checkpoint) string {
	if c.Partial {
		return c.Sequence + "_" + strconv.Itoa(c.SubSequence)
	}
	return c.Sequence
}
