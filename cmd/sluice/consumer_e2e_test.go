package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis"
	"github.com/sluice-siem/sluice/stream/kinesis/kinesistest"
	"github.com/sluice-siem/sluice/stream/kinesis/leases"
	"github.com/sluice-siem/sluice/stream/kinesis/leases/dynamodbtest"
)

// The delivery suite of the Kinesis consumer: real `sluice transform` processes share
// the shards of one stream through a lease table in dynalite, while this test produces
// into kinesalite with the Kinesis producer. Each worker writes to its own data
// directory (the file sink with each document's id, stream/shard/sequence[/sub]), so
// the output says which worker processed which record how often; each worker's JSON
// log says when it took and let go of which lease, at which lease counter (epoch) and
// from which checkpoint.
//
// SLUICE_TEST_LONG=1 produces ten times the events (about 200,000).

// deliveryPeriods are the consumer periods of the suite's workers: short, so that
// failover and balance happen within seconds.
const deliveryPeriods = `
    renew_period: 200ms
    failover_time: 1500ms
    balance_period: 200ms
    checkpoint_period: 200ms
    shard_refresh: 1s
    handoff_timeout: 5s
    idle_wait: 100ms
`

const failoverTime = 1500 * time.Millisecond

// fleet is the workers of the suite and what they share.
type fleet struct {
	t        *testing.T
	bin      string
	config   string
	root     string
	kc       *awskinesis.Client
	stream   string
	leases   *leases.Store
	producer *kinesis.Producer // KPL aggregation on
	plain    *kinesis.Producer // aggregation off: keys stay in order across resharding

	mu      sync.Mutex
	workers map[string]*workerProc
	keyN    map[string]int // next per-key counter
}

// workerProc is one `sluice transform` process.
type workerProc struct {
	id      string
	cmd     *exec.Cmd
	logPath string
	dataDir string
	exited  chan struct{}
	err     error
	killed  time.Time
	addrs   map[string]string // log message -> address, found by fleet.addr
}

func TestKinesisDeliverySuite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sluice transform processes against kinesalite and dynalite")
	}
	kEndpoint := kinesistest.Endpoint(t)
	dEndpoint := dynamodbtest.Endpoint(t)
	scale := 1
	if os.Getenv("SLUICE_TEST_LONG") == "1" {
		scale = 10
	}
	f := newFleet(t, kEndpoint, dEndpoint)

	var all []string // every message produced
	t.Run("steady state", func(t *testing.T) {
		for _, w := range []string{"w1", "w2", "w3"} {
			f.start(w)
		}
		for range 4 {
			all = append(all, f.produce(f.producer, "steady", 1500*scale, 200)...)
			time.Sleep(150 * time.Millisecond)
		}
		f.waitDelivered(all)
		counts := f.waitBalanced("w1", "w2", "w3")
		t.Logf("shards per worker: %v", counts)
		f.checkOps("w1")
		if d := duplicates(f.docs()); len(d) > 0 {
			t.Errorf("%d records processed more than once in steady state, e.g. %v", len(d), d[:min(5, len(d))])
		}
	})

	t.Run("SIGTERM hands off within seconds", func(t *testing.T) {
		start := time.Now()
		f.terminate("w3")
		f.waitOwners(5*time.Second, "w1", "w2")
		t.Logf("w3's shards taken over %v after SIGTERM (failover time %v)", time.Since(start).Round(time.Millisecond), failoverTime)
		all = append(all, f.produce(f.producer, "handoff", 3000*scale, 200)...)
		f.waitDelivered(all)
		if d := duplicates(f.docs()); len(d) > 0 {
			t.Errorf("%d records processed more than once after a graceful hand-off, e.g. %v", len(d), d[:min(5, len(d))])
		}
	})

	t.Run("kill -9 fails over after the failover time", func(t *testing.T) {
		f.start("w4")
		f.waitBalanced("w1", "w2", "w4")
		held := f.owned("w1")
		var wg sync.WaitGroup
		var produced []string
		wg.Go(func() {
			for i := range 8 {
				produced = append(produced, f.produce(f.producer, fmt.Sprint("kill", i), 500*scale, 200)...)
				time.Sleep(100 * time.Millisecond)
			}
		})
		time.Sleep(300 * time.Millisecond)
		f.kill("w1")
		killed := f.worker("w1").killed
		wg.Wait()
		all = append(all, produced...)
		f.waitOwners(10*time.Second, "w2", "w4")
		f.waitDelivered(all)

		// The others took w1's shards as expired, only after the failover time, each
		// from w1's last checkpoint; only records after it came twice.
		takes := map[string]logEvent{}
		for _, e := range f.logEvents() {
			if e.Msg == "lease taken" && e.PreviousOwner == "w1" && e.How == "expired" {
				takes[e.Shard] = e
				if d := e.Time.Sub(killed); d < failoverTime-200*time.Millisecond {
					t.Errorf("shard %s taken %v after the kill, before the failover time %v", e.Shard, d, failoverTime)
				}
			}
		}
		for _, sh := range held {
			if _, ok := takes[sh]; !ok {
				t.Errorf("w1's shard %s never taken as expired", sh)
			}
		}
		var replayed int
		for _, id := range duplicates(f.docs()) {
			pos := parseID(t, id)
			take, ok := takes[pos.shard]
			if !ok {
				t.Errorf("record %s processed twice, on a shard w1 did not hold", id)
				continue
			}
			if !pos.after(take.Checkpoint, take.SubSequence) {
				t.Errorf("record %s processed twice though at or before w1's checkpoint %s/%d", id, take.Checkpoint, take.SubSequence)
			}
			replayed++
		}
		t.Logf("w1 held %d shards; %d records after its last checkpoints processed again", len(held), replayed)
	})

	t.Run("split and merge keep every record and each key's order", func(t *testing.T) {
		before := duplicates(f.docs())
		shards := kinesistest.Shards(t, f.kc, f.stream)
		sort.Slice(shards, func(i, j int) bool { return shards[i].Start.Cmp(shards[j].Start) < 0 })
		var reshard []string
		reshard = append(reshard, f.produce(f.plain, "reshard0", 1000*scale, 40)...)
		children := kinesistest.SplitShard(t, f.kc, f.stream, shards[0].ID)
		reshard = append(reshard, f.produce(f.plain, "reshard1", 1000*scale, 40)...)
		merged := kinesistest.MergeShards(t, f.kc, f.stream, shards[2].ID, shards[3].ID)
		reshard = append(reshard, f.produce(f.plain, "reshard2", 1000*scale, 40)...)
		all = append(all, reshard...)
		f.waitDelivered(all)
		if d := duplicates(f.docs()); len(d) != len(before) {
			t.Errorf("resharding re-processed %d records", len(d)-len(before))
		}

		// Parents before children: every child lease was taken after all its parents'
		// shards were finished.
		finished, firstTaken := map[string]time.Time{}, map[string]time.Time{}
		for _, e := range f.logEvents() {
			switch e.Msg {
			case "shard finished":
				finished[e.Shard] = e.Time
			case "lease taken":
				if _, ok := firstTaken[e.Shard]; !ok {
					firstTaken[e.Shard] = e.Time
				}
			}
		}
		parents := map[string][]string{merged: {shards[2].ID, shards[3].ID}}
		for _, c := range children {
			parents[c] = []string{shards[0].ID}
		}
		for child, ps := range parents {
			for _, p := range ps {
				fin, ok := finished[p]
				switch {
				case !ok:
					t.Errorf("parent %s never finished", p)
				case !firstTaken[child].After(fin):
					t.Errorf("child %s taken at %v, before its parent %s finished at %v", child, firstTaken[child], p, fin)
				}
			}
		}
		// Each key's events, in stream order (parents before children, then by
		// sequence), carry its counter in the order produced.
		rank := map[string]int{}
		for c := range parents {
			rank[c] = 1
		}
		byKey := map[string][]doc{}
		phase := map[string]bool{}
		for _, m := range reshard {
			phase[m] = true
		}
		for _, d := range f.docs() {
			if phase[d.Message] {
				byKey[d.Key] = append(byKey[d.Key], d)
			}
		}
		for key, ds := range byKey {
			slices.SortFunc(ds, func(a, b doc) int {
				pa, pb := parseID(t, a.ID), parseID(t, b.ID)
				if r := rank[pa.shard] - rank[pb.shard]; r != 0 {
					return r
				}
				return pa.cmp(pb)
			})
			for i := 1; i < len(ds); i++ {
				if ds[i].N <= ds[i-1].N {
					t.Fatalf("key %s: event %d (%s) follows event %d (%s)", key, ds[i].N, ds[i].ID, ds[i-1].N, ds[i-1].ID)
				}
			}
		}
	})

	t.Run("restart all: resume from checkpoints", func(t *testing.T) {
		before := f.docs()
		seen := map[string]bool{}
		for _, d := range before {
			seen[d.ID] = true
		}
		f.terminate("w2")
		f.terminate("w4")
		for _, w := range []string{"w5", "w6", "w7"} {
			f.start(w)
		}
		fresh := f.produce(f.producer, "restart", 2000*scale, 200)
		all = append(all, fresh...)
		f.waitDelivered(all)
		for _, d := range f.docs() {
			if (d.Worker == "w5" || d.Worker == "w6" || d.Worker == "w7") && seen[d.ID] {
				t.Errorf("record %s processed again after the restart", d.ID)
			}
		}
		for _, e := range f.logEvents() {
			if e.Msg == "lease taken" && (e.Worker == "w5" || e.Worker == "w6" || e.Worker == "w7") && e.Checkpoint == "" && e.How != "handed over" {
				// A shard that never held a record (a child made by the resharding
				// that its key range left empty) has no checkpoint; others must.
				if f.shardHasRecords(before, e.Shard) {
					t.Errorf("%s took shard %s without a checkpoint", e.Worker, e.Shard)
				}
			}
		}
	})

	// Across the whole run: the lease epochs of each shard never overlap.
	f.checkEpochs()
	t.Logf("%d events produced, %d documents written", len(all), len(f.docs()))
}

// fleetOptions vary a fleet between suites; the zero value is the delivery suite's.
type fleetOptions struct {
	// shards of the stream; 8 when 0.
	shards int
	// sink is the YAML of the workers' sink: section (indented by two spaces); empty:
	// the file sink with each document's id.
	sink string
	// extra is more top-level YAML of the workers' configuration, such as
	// sample_pipelines.
	extra string
	// periods are the consumer's periods (YAML under stream.consumer, indented by four
	// spaces); deliveryPeriods when empty.
	periods string
}

func newFleet(t *testing.T, kEndpoint, dEndpoint string) *fleet {
	return newFleetWith(t, kEndpoint, dEndpoint, fleetOptions{})
}

// newFleetWith builds the binary once, creates the stream and the lease table and
// writes the workers' configuration; start runs workers on it.
func newFleetWith(t *testing.T, kEndpoint, dEndpoint string, opts fleetOptions) *fleet {
	if opts.shards == 0 {
		opts.shards = 8
	}
	if opts.periods == "" {
		opts.periods = deliveryPeriods
	}
	if opts.sink == "" {
		opts.sink = "  kind: file\n  file:\n    id_field: _id\n"
	}
	root := t.TempDir()
	bin := sluiceBinary(t)
	f := &fleet{t: t, bin: bin, root: root, kc: kinesistest.Client(t, kEndpoint), workers: map[string]*workerProc{}, keyN: map[string]int{}}
	f.stream = kinesistest.CreateStream(t, f.kc, opts.shards)
	table := dynamodbtest.TableName(t)
	t.Cleanup(func() { dynamodbtest.DeleteTable(t, dEndpoint, table) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var err error
	f.leases, err = leases.New(ctx, dynamodbtest.Config(dEndpoint, table))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.leases.Close)

	f.config = filepath.Join(root, "transform.yaml")
	yaml := fmt.Sprintf(`
http:
  addr: 127.0.0.1:0
stream:
  kind: kinesis
  kinesis:
    region: %[1]s
    endpoint: %[2]s
    credentials: {access_key_id: %[3]s, secret_access_key: %[4]s}
  consumer:
    streams: [%[5]s]
%[6]s
  leases:
    store: dynamodb
    dynamodb:
      table: %[7]s
      region: %[1]s
      endpoint: %[8]s
      credentials: {access_key_id: %[3]s, secret_access_key: %[4]s}
sink:
%[9]sshutdown:
  timeout: 10s
  drain_delay: 0s
log:
  level: info
  format: json
%[10]s`, kinesistest.Region, kEndpoint, kinesistest.AccessKeyID, kinesistest.SecretAccessKey, f.stream, opts.periods, table, dEndpoint, opts.sink, opts.extra)
	if err := os.WriteFile(f.config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	pcfg := kinesis.DefaultConfig()
	pcfg.Region, pcfg.Endpoint = kinesistest.Region, kEndpoint
	pcfg.Credentials = kinesis.Credentials{AccessKeyID: kinesistest.AccessKeyID, SecretAccessKey: kinesistest.SecretAccessKey}
	pcfg.Linger = 5 * time.Millisecond
	for _, agg := range []bool{true, false} {
		pcfg.Aggregation = agg
		p, err := kinesis.New(context.Background(), pcfg, kinesis.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_ = p.Close(ctx)
		})
		if agg {
			f.producer = p
		} else {
			f.plain = p
		}
	}
	t.Cleanup(f.stopAll)
	t.Cleanup(func() {
		if t.Failed() {
			f.mu.Lock()
			defer f.mu.Unlock()
			for id, w := range f.workers {
				t.Logf("end of %s's log:\n%s", id, tail(w.logPath))
			}
		}
	})
	return f
}

// start runs a `sluice transform` worker named id.
func (f *fleet) start(id string) *workerProc {
	f.t.Helper()
	dataDir := filepath.Join(f.root, "data", id)
	return f.run(id, dataDir, "transform", "-c", f.config, "--data-dir", dataDir)
}

// run starts the binary with args as the process named id (a worker, or another role
// such as a gateway), its output in the log file id.log; stopAll kills it at the end.
func (f *fleet) run(id, dataDir string, args ...string) *workerProc {
	f.t.Helper()
	w := &workerProc{id: id, logPath: filepath.Join(f.root, id+".log"), dataDir: dataDir, exited: make(chan struct{}), addrs: map[string]string{}}
	logFile, err := os.Create(w.logPath)
	if err != nil {
		f.t.Fatal(err)
	}
	w.cmd = exec.Command(f.bin, args...)
	w.cmd.Env = append(os.Environ(), "SLUICE_STREAM_CONSUMER_WORKER_ID="+id)
	w.cmd.Stderr, w.cmd.Stdout = logFile, logFile
	if err := w.cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	go func() {
		w.err = w.cmd.Wait()
		logFile.Close()
		close(w.exited)
	}()
	f.mu.Lock()
	f.workers[id] = w
	f.mu.Unlock()
	return w
}

func (f *fleet) worker(id string) *workerProc {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.workers[id]
}

// terminate stops a worker with SIGTERM and waits for a clean exit.
func (f *fleet) terminate(id string) {
	f.t.Helper()
	w := f.worker(id)
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		f.t.Fatal(err)
	}
	select {
	case <-w.exited:
		if w.err != nil {
			f.t.Errorf("%s exited with %v after SIGTERM; log:\n%s", id, w.err, tail(w.logPath))
		}
	case <-time.After(20 * time.Second):
		f.t.Fatalf("%s did not exit within 20s of SIGTERM", id)
	}
}

// kill stops a worker with SIGKILL.
func (f *fleet) kill(id string) {
	w := f.worker(id)
	w.killed = time.Now()
	_ = w.cmd.Process.Kill()
	<-w.exited
}

// stopAll kills what still runs, at the end of the test.
func (f *fleet) stopAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, w := range f.workers {
		select {
		case <-w.exited:
		default:
			_ = w.cmd.Process.Kill()
			<-w.exited
		}
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// produce puts n events through p, spread over keys partition keys, each with its
// key's counter, and returns their messages.
func (f *fleet) produce(p *kinesis.Producer, tag string, n, keys int) []string {
	f.t.Helper()
	var msgs []string
	recs := make([]stream.Record, 0, 500)
	flush := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := p.Put(ctx, f.stream, recs); err != nil {
			f.t.Errorf("put: %v", err)
		}
		recs = recs[:0]
	}
	for i := range n {
		key := "key-" + strconv.Itoa(i%keys)
		f.mu.Lock()
		seq := f.keyN[key]
		f.keyN[key]++
		f.mu.Unlock()
		msg := tag + "-" + strconv.Itoa(i)
		ev := fmt.Sprintf(`{"message":%q,"key":%q,"n":%d}`, msg, key, seq)
		recs = append(recs, stream.Record{PartitionKey: key, Data: stream.AppendEnvelope(nil, "firewall", "", time.Now(), []byte(ev))})
		msgs = append(msgs, msg)
		if len(recs) == cap(recs) {
			flush()
		}
	}
	if len(recs) > 0 {
		flush()
	}
	return msgs
}

// doc is one document a worker wrote.
type doc struct {
	ID      string `json:"_id"`
	Message string `json:"message"`
	Key     string `json:"key"`
	N       int    `json:"n"`
	Worker  string `json:"-"`
}

// docs reads every worker's output. A killed worker's last line may be cut short; it
// is skipped.
func (f *fleet) docs() []doc {
	f.t.Helper()
	var out []doc
	_ = filepath.WalkDir(filepath.Join(f.root, "data"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".ndjson") {
			return nil
		}
		rel, _ := filepath.Rel(filepath.Join(f.root, "data"), path)
		worker, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
		file, err := os.Open(path)
		if err != nil {
			f.t.Fatal(err)
		}
		defer file.Close()
		sc := bufio.NewScanner(file)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var dc doc
			if err := json.Unmarshal(sc.Bytes(), &dc); err != nil {
				continue // a line cut by kill -9
			}
			dc.Worker = worker
			out = append(out, dc)
		}
		return nil
	})
	return out
}

// duplicates returns the ids written more than once, over all workers.
func duplicates(docs []doc) []string {
	n := map[string]int{}
	for _, d := range docs {
		n[d.ID]++
	}
	var out []string
	for id, c := range n {
		if c > 1 {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// waitDelivered waits until every message was written by some worker.
func (f *fleet) waitDelivered(msgs []string) {
	f.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := map[string]bool{}
		for _, d := range f.docs() {
			got[d.Message] = true
		}
		missing := 0
		for _, m := range msgs {
			if !got[m] {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%d of %d events never processed", missing, len(msgs))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// owners returns the owner of each unfinished lease.
func (f *fleet) owners() map[string]string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leases, err := f.leases.List(ctx)
	if err != nil {
		f.t.Fatalf("list leases: %v", err)
	}
	out := map[string]string{}
	for _, l := range leases {
		if !l.Finished {
			out[l.Shard] = l.Owner
		}
	}
	return out
}

// owned returns the shards a worker owns.
func (f *fleet) owned(worker string) []string {
	var out []string
	for sh, o := range f.owners() {
		if o == worker {
			out = append(out, sh)
		}
	}
	return out
}

// waitOwners waits until every unfinished lease is owned by one of workers.
func (f *fleet) waitOwners(within time.Duration, workers ...string) {
	f.t.Helper()
	deadline := time.Now().Add(within)
	for {
		all := f.owners()
		ok := len(all) > 0
		for _, o := range all {
			if !slices.Contains(workers, o) {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("leases not all owned by %v within %v: %v", workers, within, all)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitBalanced waits until the workers own every lease, within one of each other.
func (f *fleet) waitBalanced(workers ...string) map[string]int {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		all := f.owners()
		counts := map[string]int{}
		ok := len(all) > 0
		for _, o := range all {
			ok = ok && slices.Contains(workers, o)
			counts[o]++
		}
		lo, hi := 1<<30, 0
		for _, w := range workers {
			lo, hi = min(lo, counts[w]), max(hi, counts[w])
		}
		if ok && hi-lo <= 1 {
			return counts
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("leases not balanced over %v within 30s: %v", workers, all)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logEvent is a lease change in a worker's log.
type logEvent struct {
	Time          time.Time `json:"time"`
	Msg           string    `json:"msg"`
	Worker        string    `json:"worker"`
	Shard         string    `json:"shard"`
	Counter       int64     `json:"counter"`
	How           string    `json:"how"`
	PreviousOwner string    `json:"previous_owner"`
	Checkpoint    string    `json:"checkpoint"`
	SubSequence   int       `json:"sub_sequence"`
	To            string    `json:"to"`
}

// logEvents reads the lease changes of every worker's log, in time order.
func (f *fleet) logEvents() []logEvent {
	f.mu.Lock()
	var paths []string
	for _, w := range f.workers {
		paths = append(paths, w.logPath)
	}
	f.mu.Unlock()
	var out []logEvent
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			var e logEvent
			if json.Unmarshal([]byte(line), &e) != nil || e.Shard == "" {
				continue
			}
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// checkEpochs replays each shard's lease changes in counter order: a lease is taken
// only when nobody holds it (released, handed off, finished) or when its holder was
// killed; so no two workers ever held a shard in the same epoch.
//
// A take whose write failed without a conflict ("take lease", a warning with the
// counter it would have written) may have been applied all the same: that worker then
// holds the lease without having logged it, until it adopts it (a take) or releases it
// at shutdown (a release one counter later).
func (f *fleet) checkEpochs() {
	f.t.Helper()
	byShard := map[string][]logEvent{}
	for _, e := range f.logEvents() {
		switch e.Msg {
		case "lease taken", "lease released", "lease handed off", "shard finished", "take lease":
			byShard[e.Shard] = append(byShard[e.Shard], e)
		}
	}
	for shard, es := range byShard {
		sort.SliceStable(es, func(i, j int) bool { return es[i].Counter < es[j].Counter })
		holder := ""
		var unsure *logEvent // a take of the free lease that may have been applied
		for _, e := range es {
			if e.Msg == "take lease" {
				if holder == "" {
					unsure = &e
				}
				continue
			}
			if unsure != nil && holder == "" && e.Msg != "lease taken" && e.Worker == unsure.Worker && e.Counter == unsure.Counter+1 {
				holder = unsure.Worker
			}
			unsure = nil
			switch e.Msg {
			case "lease taken":
				if holder != "" && !(e.How == "handed over" && holder == e.Worker) {
					w := f.worker(holder)
					if e.How != "expired" || e.PreviousOwner != holder || w == nil || w.killed.IsZero() {
						f.t.Errorf("shard %s: %s took the lease (counter %d, %s) while %s held it", shard, e.Worker, e.Counter, e.How, holder)
					}
				}
				holder = e.Worker
			default:
				if e.Worker != holder {
					f.t.Errorf("shard %s: %s let go of a lease (%s, counter %d) held by %q", shard, e.Worker, e.Msg, e.Counter, holder)
				}
				// A hand-off names the next holder, who resumes the lease (or, if it
				// is stopping, releases it).
				holder = e.To
			}
		}
	}
}

// shardHasRecords reports whether any document came from the shard.
func (f *fleet) shardHasRecords(docs []doc, shard string) bool {
	for _, d := range docs {
		if strings.Contains(d.ID, "/"+shard+"/") {
			return true
		}
	}
	return false
}

// position is a record's place in a shard, from its document id.
type position struct {
	shard string
	seq   *big.Int
	sub   int // -1 for a plain record
}

func parseID(t testing.TB, id string) position {
	parts := strings.Split(id, "/")
	if len(parts) < 3 {
		t.Fatalf("document id %q is not stream/shard/sequence", id)
	}
	seq, ok := new(big.Int).SetString(parts[2], 10)
	if !ok {
		t.Fatalf("document id %q: bad sequence", id)
	}
	p := position{shard: parts[1], seq: seq, sub: -1}
	if len(parts) == 4 {
		p.sub, _ = strconv.Atoi(parts[3])
	}
	return p
}

func (p position) cmp(o position) int {
	if c := p.seq.Cmp(o.seq); c != 0 {
		return c
	}
	return p.sub - o.sub
}

// after reports whether p lies after a checkpoint (sequence, and sub-sequence or -1
// for a whole record). An empty checkpoint is before everything.
func (p position) after(checkpoint string, sub int) bool {
	if checkpoint == "" {
		return true
	}
	cp, _ := new(big.Int).SetString(checkpoint, 10)
	if c := p.seq.Cmp(cp); c != 0 {
		return c > 0
	}
	return sub >= 0 && p.sub > sub
}

// checkOps reads a worker's HTTP address from its log and checks its operations
// endpoints: alive, ready, and the consumer's lease gauge among its metrics.
func (f *fleet) checkOps(id string) {
	f.t.Helper()
	addr := f.addr(id, "http listening", 0)
	get := func(path string) string {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			f.t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			f.t.Fatalf("%s of worker %s: %d %s", path, id, resp.StatusCode, b)
		}
		return string(b)
	}
	get("/healthz")
	get("/readyz")
	if m := get("/metrics"); !strings.Contains(m, "sluice_consumer_leases_owned") {
		f.t.Errorf("worker %s /metrics lacks the consumer's lease gauge sluice_consumer_leases_owned", id)
	}
}

// addr returns the address a process logged with msg (such as "http listening"),
// waiting up to within for the line to appear.
func (f *fleet) addr(id, msg string, within time.Duration) string {
	f.t.Helper()
	w := f.worker(id)
	f.mu.Lock()
	addr, ok := w.addrs[msg]
	f.mu.Unlock()
	if ok {
		return addr
	}
	deadline := time.Now().Add(within)
	for {
		logs, _ := os.ReadFile(w.logPath)
		for line := range strings.Lines(string(logs)) {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg && rec.Addr != "" {
				f.mu.Lock()
				w.addrs[msg] = rec.Addr
				f.mu.Unlock()
				return rec.Addr
			}
		}
		select {
		case <-w.exited:
			f.t.Fatalf("%s exited (%v) before logging %q; log:\n%s", id, w.err, msg, tail(w.logPath))
		default:
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s logged no %q within %v; log:\n%s", id, msg, within, tail(w.logPath))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
