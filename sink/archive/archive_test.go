package archive

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/sluice-siem/sluice/internal/awsclient"
	"github.com/sluice-siem/sluice/internal/bytesize"
	"github.com/sluice-siem/sluice/sink"
	"github.com/sluice-siem/sluice/stream"
)

// endpoint returns the S3-compatible test server (scripts/s3.sh), or skips.
func endpoint(t testing.TB) string {
	t.Helper()
	e := os.Getenv("SLUICE_TEST_S3_ENDPOINT")
	if e == "" {
		t.Skip("SLUICE_TEST_S3_ENDPOINT is not set: start the S3 test server with eval \"$(scripts/s3.sh env)\" (scripts/test.sh does)")
	}
	return e
}

var bucketSeq atomic.Int64

// newArchive returns an archive on a fresh bucket of the test server.
func newArchive(t testing.TB, mutate func(*Config), opts Options) (*Archive, *s3.Client) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Endpoint = endpoint(t)
	cfg.PathStyle = true
	cfg.Region = "us-east-1"
	cfg.Credentials = awsclient.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}
	cfg.Bucket = fmt.Sprintf("sluice-archive-%d-%d", time.Now().UnixNano()%1e9, bucketSeq.Add(1))
	cfg.Prefix = "lake"
	cfg.RetryBase, cfg.RetryMax = 50*time.Millisecond, 200*time.Millisecond
	cfg.UploadTimeout = 10 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	a, err := New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	direct, err := newClient(context.Background(), cfg, nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := direct.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(cfg.Bucket)}); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Shutdown(context.Background()) })
	return a, direct
}

// run is one processing of a shard, as transform/consume gives it: a context that
// ends when the processing does, and a Deferral whose stop functions run at its end.
type run struct {
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	stops  map[any]func()
	acked  atomic.Int64
}

func newRun() *run {
	ctx, cancel := context.WithCancel(context.Background())
	return &run{ctx: ctx, cancel: cancel, stops: map[any]func(){}}
}

type runDeferral struct {
	r     *run
	taken bool
}

func (d *runDeferral) Defer() func() {
	d.taken = true
	var once sync.Once
	return func() { once.Do(func() { d.r.acked.Add(1) }) }
}

func (d *runDeferral) OnStop(key any, f func()) {
	d.r.mu.Lock()
	d.r.stops[key] = f
	d.r.mu.Unlock()
}

// write hands one batch to the tee as the consumer would; it reports whether the
// acknowledgement was deferred.
func (r *run) write(t *testing.T, tee *Tee, docs []sink.Document) {
	t.Helper()
	d := &runDeferral{r: r}
	if err := tee.Write(stream.WithDeferral(r.ctx, d), docs); err != nil {
		t.Fatal(err)
	}
	if !d.taken {
		r.acked.Add(1)
	}
}

// stop runs the stop functions and waits until want batches are acknowledged.
func (r *run) stop(t *testing.T, want int64, within time.Duration) {
	t.Helper()
	r.mu.Lock()
	for _, f := range r.stops {
		f()
	}
	r.mu.Unlock()
	waitAcked(t, r, want, within)
	r.cancel()
}

func waitAcked(t *testing.T, r *run, want int64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for r.acked.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%d batches acknowledged after %s, want %d", r.acked.Load(), within, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var received = time.Date(2026, 12, 6, 10, 15, 0, 0, time.UTC)

// docs makes documents of the firewall stream's shard 0 at sequences from..to.
func docs(from, to int, pad string) []sink.Document {
	var out []sink.Document
	for i := from; i <= to; i++ {
		event := fmt.Sprintf(`{"message":"fw event %d%s"}`, i, pad)
		pos := fmt.Sprintf("siem-firewall/shardId-000000000000/%020d", i)
		out = append(out, sink.Document{Type: "firewall", Time: received, ID: fmt.Sprintf("id-%d", i), Position: pos,
			Body:     []byte(fmt.Sprintf(`{"@timestamp":"2026-12-06T10:15:00Z","message":"fw event %d","event":{"dataset":"firewall"}}`, i)),
			Original: stream.AppendEnvelope(nil, "firewall", fmt.Sprintf("id-%d", i), received.Add(time.Duration(i)*time.Millisecond), []byte(event))})
	}
	return out
}

// objects returns the bucket's objects, key -> decompressed lines.
func objects(t *testing.T, c *s3.Client, bucket string) map[string][]string {
	t.Helper()
	ctx := context.Background()
	out := map[string][]string{}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range list.Contents {
		got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(got.Body)
		got.Body.Close()
		var r io.Reader
		if strings.HasSuffix(*o.Key, ".gz") {
			gz, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			r = gz
		} else {
			zr, err := zstd.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer zr.Close()
			r = zr
		}
		plain, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("decompress %s: %v", *o.Key, err)
		}
		out[*o.Key] = strings.Split(strings.TrimSuffix(string(plain), "\n"), "\n")
	}
	return out
}

// allLines returns every line of every object, sorted.
func allLines(objs map[string][]string) []string {
	var all []string
	for _, l := range objs {
		all = append(all, l...)
	}
	slices.Sort(all)
	return all
}

func wantLines(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, rawLine(i))
	}
	slices.Sort(out)
	return out
}

// rawLine is the archived line of docs' event i: the event as shipped, then its
// position, id and time of receipt.
func rawLine(i int) string {
	return fmt.Sprintf(`{"message":"fw event %d","_sluice":{"position":"siem-firewall/shardId-000000000000/%020d","id":"id-%d","received":%q}}`,
		i, i, i, received.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano))
}

func TestKeysAndContents(t *testing.T) {
	for _, compression := range []string{CompressionZstd, CompressionGzip} {
		t.Run(compression, func(t *testing.T) {
			a, c := newArchive(t, func(cfg *Config) { cfg.Compression = compression }, Options{})
			tee := NewTee(nil, a)
			r := newRun()
			r.write(t, tee, docs(1, 4, ""))
			r.write(t, tee, docs(5, 9, ""))
			if n := r.acked.Load(); n != 0 {
				t.Fatalf("%d batches acknowledged before their object was uploaded", n)
			}
			r.stop(t, 2, 10*time.Second)
			objs := objects(t, c, a.cfg.Bucket)
			ext := extension(compression)
			want := "lake/type=firewall/dt=2026-12-06/hour=10/siem-firewall-shardId-000000000000-00000000000000000001-00000000000000000009" + ext
			if len(objs) != 1 || objs[want] == nil {
				t.Fatalf("objects %v, want one, %s", slices.Collect(mapKeys(objs)), want)
			}
			if got := objs[want]; !slices.Equal(got, func() []string {
				var w []string
				for i := 1; i <= 9; i++ {
					w = append(w, rawLine(i))
				}
				return w
			}()) {
				t.Fatalf("lines %q", got)
			}
		})
	}
}

// TestObjectEndsBeforeConsumerBounds: an object ends once its batches hold
// max_object_records documents, or stream records of max_object_record_bytes, so the
// batches it holds are acknowledged before the consumer's bounds on unacknowledged
// records and bytes stop the shard's reading; nothing else (size, age, a stop) would
// end it here.
func TestObjectEndsBeforeConsumerBounds(t *testing.T) {
	var twoDocs int
	for _, d := range docs(1, 2, "") {
		twoDocs += len(d.Original)
	}
	for name, mutate := range map[string]func(*Config){
		"records": func(cfg *Config) { cfg.MaxObjectRecords = 4 },
		"bytes":   func(cfg *Config) { cfg.MaxObjectRecordBytes = bytesize.Size(2*twoDocs - 1) },
	} {
		t.Run(name, func(t *testing.T) {
			a, c := newArchive(t, mutate, Options{})
			tee := NewTee(nil, a)
			r := newRun()
			r.write(t, tee, docs(1, 2, ""))
			if n := r.acked.Load(); n != 0 {
				t.Fatalf("%d batches acknowledged with the object open", n)
			}
			r.write(t, tee, docs(3, 4, "")) // reaches the bound: the object ends
			waitAcked(t, r, 2, 10*time.Second)
			r.write(t, tee, docs(5, 6, ""))
			r.stop(t, 3, 10*time.Second)
			objs := objects(t, c, a.cfg.Bucket)
			if len(objs) != 2 {
				t.Fatalf("objects %v, want two: 1-4 and 5-6", slices.Collect(mapKeys(objs)))
			}
			if got := allLines(objs); !slices.Equal(got, wantLines(1, 6)) {
				t.Errorf("lines %q, want events 1 to 6", got)
			}
		})
	}
}

func mapKeys(m map[string][]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestContentDocumentAndBoth(t *testing.T) {
	for _, content := range []string{ContentDocument, ContentBoth} {
		t.Run(content, func(t *testing.T) {
			a, c := newArchive(t, func(cfg *Config) { cfg.Content = content }, Options{})
			d := docs(1, 1, "")
			if err := NewTee(nil, a).Write(context.Background(), d); err != nil { // no Deferral: waits for the upload
				t.Fatal(err)
			}
			lines := allLines(objects(t, c, a.cfg.Bucket))
			want := string(d[0].Body)
			if content == ContentBoth {
				want = `{"position":"` + d[0].Position + `","id":"id-1","received":"2026-12-06T10:15:00.001Z","raw":{"message":"fw event 1"},"document":` + string(d[0].Body) + `}`
			}
			if len(lines) != 1 || lines[0] != want {
				t.Fatalf("lines %q, want %q", lines, want)
			}
		})
	}
}

// A shard processed again from an earlier checkpoint (a failover, a replay) writes
// the same objects again: none more, none with an event twice.
func TestReplayOverwrites(t *testing.T) {
	a, c := newArchive(t, nil, Options{})
	tee := NewTee(nil, a)
	first := newRun()
	first.write(t, tee, docs(1, 5, ""))
	first.stop(t, 1, 10*time.Second) // object 1-5
	second := newRun()
	second.write(t, tee, docs(6, 8, ""))
	second.write(t, tee, docs(9, 10, ""))
	second.stop(t, 2, 10*time.Second) // object 6-10
	before := objects(t, c, a.cfg.Bucket)
	if len(before) != 2 {
		t.Fatalf("objects %v, want 2", slices.Collect(mapKeys(before)))
	}

	// From the very start, in other batches: the same two objects, overwritten.
	again := newRun()
	again.write(t, tee, docs(1, 7, ""))
	again.write(t, tee, docs(8, 10, ""))
	again.write(t, tee, docs(11, 12, ""))
	again.stop(t, 3, 10*time.Second)
	after := objects(t, c, a.cfg.Bucket)
	if len(after) != 3 {
		t.Fatalf("objects after replay %v, want the 2 again and one for 11-12", slices.Collect(mapKeys(after)))
	}
	for k, lines := range before {
		if !slices.Equal(after[k], lines) {
			t.Errorf("object %s: %q after replay, was %q", k, after[k], lines)
		}
	}
	if got := allLines(after); !slices.Equal(got, wantLines(1, 12)) {
		t.Fatalf("lines %q, want 1 to 12 once each", got)
	}

	// From a checkpoint inside an object (its batch straddled two objects): the events
	// the object holds are skipped, the next object is written again.
	mid := newRun()
	mid.write(t, tee, docs(4, 9, ""))
	mid.write(t, tee, docs(10, 12, ""))
	mid.stop(t, 2, 10*time.Second)
	final := objects(t, c, a.cfg.Bucket)
	if len(final) != 3 {
		t.Fatalf("objects after a replay from 4: %v, want 3", slices.Collect(mapKeys(final)))
	}
	if got := allLines(final); !slices.Equal(got, wantLines(1, 12)) {
		t.Fatalf("lines %q, want 1 to 12 once each", got)
	}
}

// randomPad returns n bytes of incompressible text.
func randomPad(n int) string {
	b := make([]byte, n*3/4)
	_, _ = rand.Read(b)
	return base64.RawStdEncoding.EncodeToString(b)
}

func TestMultipartAbortOnFailure(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	a, c := newArchive(t, func(cfg *Config) {
		cfg.PartSize = 5 * bytesize.MiB
		cfg.MaxBufferedBytes = 64 * bytesize.MiB
	}, Options{})
	a.failPart = func(part int32) error {
		if part == 2 && fail.Swap(false) {
			return errors.New("injected failure of part 2")
		}
		return nil
	}
	tee := NewTee(nil, a)
	r := newRun()
	var batch []sink.Document
	for i := 1; i <= 120; i++ { // ~7.5 MiB, incompressible: two parts
		batch = append(batch, docs(i, i, randomPad(64<<10))...)
	}
	r.write(t, tee, batch)
	r.stop(t, 1, 30*time.Second)
	if fail.Load() {
		t.Fatal("part 2 was never uploaded")
	}
	ups, err := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(a.cfg.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Fatalf("%d incomplete multipart uploads left", len(ups.Uploads))
	}
	objs := objects(t, c, a.cfg.Bucket)
	if n := len(allLines(objs)); len(objs) != 1 || n != 120 {
		t.Fatalf("objects %v with %d lines, want one with 120", slices.Collect(mapKeys(objs)), n)
	}
}

// switchable sends requests to a closed port while down: S3 is unreachable.
type switchable struct {
	down atomic.Bool
	next http.RoundTripper
}

func (s *switchable) RoundTrip(req *http.Request) (*http.Response, error) {
	if s.down.Load() {
		req = req.Clone(req.Context())
		req.URL.Host = "127.0.0.1:1" // nothing listens: connection refused
		req.Host = req.URL.Host
	}
	return s.next.RoundTrip(req)
}

func TestOutageHoldsAcknowledgement(t *testing.T) {
	sw := &switchable{next: http.DefaultTransport.(*http.Transport).Clone()}
	a, c := newArchive(t, nil, Options{Transport: sw})
	tee := NewTee(nil, a)
	r := newRun()
	r.write(t, tee, docs(1, 3, "")) // lists the bucket while S3 answers
	sw.down.Store(true)
	r.write(t, tee, docs(4, 6, ""))
	r.mu.Lock()
	for _, f := range r.stops {
		f()
	}
	r.mu.Unlock()
	time.Sleep(time.Second)
	if n := r.acked.Load(); n != 0 {
		t.Fatalf("%d batches acknowledged while S3 was down", n)
	}
	sw.down.Store(false)
	waitAcked(t, r, 2, 10*time.Second)
	r.cancel()
	if got := allLines(objects(t, c, a.cfg.Bucket)); !slices.Equal(got, wantLines(1, 6)) {
		t.Fatalf("lines %q after the outage, want 1 to 6", got)
	}
}

// A lost lease (the run's context ends) drops what the shard held: never acknowledged,
// never uploaded by this worker.
func TestLostRunDropsHeld(t *testing.T) {
	a, c := newArchive(t, nil, Options{})
	tee := NewTee(nil, a)
	r := newRun()
	r.write(t, tee, docs(1, 3, ""))
	r.cancel()
	time.Sleep(200 * time.Millisecond)
	if n := r.acked.Load(); n != 0 {
		t.Fatalf("%d batches acknowledged after the run ended", n)
	}
	if objs := objects(t, c, a.cfg.Bucket); len(objs) != 0 {
		t.Fatalf("objects %v uploaded for a lost run", slices.Collect(mapKeys(objs)))
	}
}
