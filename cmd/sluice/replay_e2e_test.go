package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/sink"
	"github.com/sluice-siem/sluice/sink/deadletter"
	"github.com/sluice-siem/sluice/sink/search"
	"github.com/sluice-siem/sluice/sink/search/searchtest"
	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/kinesis/kinesistest"
)

// replayPipeline is a changed pipeline that repairs the refused event: the port name
// the template's long field refused moves to a keyword field.
const replayPipeline = `
pipelines:
  %s:
    processors:
      - rename: {field: source.port, target_field: labels.port_name}
`

// getDoc returns the _source of the document with the engine id of a sink document
// id, or nil.
func getDoc(t *testing.T, url, pattern, id string) map[string]any {
	t.Helper()
	q := fmt.Sprintf(`{"query":{"ids":{"values":[%q]}}}`, search.DocumentID(&sink.Document{ID: id}))
	resp, err := http.Post(url+"/"+pattern+"/_search", "application/json", strings.NewReader(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res struct {
		Hits struct {
			Hits []struct {
				Source map[string]any `json:"_source"`
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		t.Fatal(err)
	}
	if len(res.Hits.Hits) != 1 {
		return nil
	}
	return res.Hits.Hits[0].Source
}

// readLetters reads every dead letter of a Kinesis stream.
func readLetters(t *testing.T, kc *awskinesis.Client, name string) []deadletter.Letter {
	t.Helper()
	var out []deadletter.Letter
	for _, rec := range kinesistest.ReadAll(t, kc, name) {
		for _, u := range rec.Users {
			l, err := deadletter.Parse(u.Data)
			if err != nil {
				t.Fatalf("dead letter %s: %v\n%s", rec.Sequence, err, u.Data)
			}
			if u.PartitionKey != l.ID {
				t.Errorf("dead letter partition key %q, want its document id %q", u.PartitionKey, l.ID)
			}
			out = append(out, l)
		}
	}
	return out
}

// TestDeadLettersToKinesisThenReplay runs `sluice transform` on kinesalite and
// OpenSearch: a document the engine refuses (a mapping conflict) lands in the Kinesis
// dead-letter stream with its reason and original event. `sluice replay` re-indexing
// the stored document is refused again (exit 1, written back marked as replayed, not
// read back by the same replay); `sluice replay --pipeline` with a repaired pipeline
// indexes it; replaying three times leaves the document count unchanged. A record the
// transformer could not decode is a dead letter too, and stays one (with its id).
func TestDeadLettersToKinesisThenReplay(t *testing.T) {
	url := searchtest.OpenSearchURL(t)
	endpoint := kinesistest.Endpoint(t)
	kc := kinesistest.Client(t, endpoint)
	src := kinesistest.CreateStream(t, kc, 1)
	dlq := kinesistest.CreateStream(t, kc, 2)
	ns, typ := searchtest.Name("dl"), searchtest.Name("dlt")
	index := "logs-" + typ + "-" + ns

	dir := t.TempDir()
	base := fmt.Sprintf(`
http: {addr: "127.0.0.1:0"}
stream:
  kind: kinesis
  kinesis:
    endpoint: %s
    region: %s
    credentials: {access_key_id: %s, secret_access_key: %s}
    linger: 5ms
  consumer: {streams: [%s], idle_wait: 100ms, checkpoint_period: 1s, handoff_timeout: 5s}
  leases: {store: memory}
sink:
  file: {dir: %s}
  search: {addresses: [%s], namespace: %s}
  dead_letters: {kind: kinesis, stream: %s}
shutdown: {timeout: 20s, drain_delay: 0s}
sample_pipelines: false
`, endpoint, kinesistest.Region, kinesistest.AccessKeyID, kinesistest.SecretAccessKey, src, filepath.Join(dir, "data"), url, ns, dlq)
	oldCfg := filepath.Join(dir, "old.yaml")
	newCfg := filepath.Join(dir, "new.yaml")
	if err := os.WriteFile(oldCfg, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(newCfg, []byte(base+fmt.Sprintf(replayPipeline, typ)), 0o600); err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) (string, bool) { return "", false }
	cfg, err := config.Load(config.RoleTransform, oldCfg, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	a, stop := startApp(t, cfg, config.RoleTransform)

	now := time.Now()
	good := stream.AppendEnvelope(nil, typ, "", now, []byte(`{"message":"good","source":{"port":80}}`))
	bad := stream.AppendEnvelope(nil, typ, "", now, []byte(`{"message":"bad","source":{"port":"http"}}`))
	corrupt := []byte(`{"v":1,"type":"` + typ + `","event":"not an object"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := kc.PutRecords(ctx, &awskinesis.PutRecordsInput{StreamName: aws.String(src), Records: []types.PutRecordsRequestEntry{
		{PartitionKey: aws.String("k"), Data: good}, {PartitionKey: aws.String("k"), Data: bad}, {PartitionKey: aws.String("k"), Data: corrupt},
	}})
	if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("put records: %v", err)
	}
	badID := src + "/" + aws.ToString(out.Records[1].ShardId) + "/" + aws.ToString(out.Records[1].SequenceNumber)
	corruptID := src + "/" + aws.ToString(out.Records[2].ShardId) + "/" + aws.ToString(out.Records[2].SequenceNumber)

	var letters []deadletter.Letter
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if letters = readLetters(t, kc, dlq); len(letters) > 1 && searchtest.Count(t, url, index) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s: %d dead letters, want 2", len(letters))
		}
	}
	resp, err := http.Get("http://" + a.httpLn.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf(`sluice_dead_letters_written_total{destination="kinesis",stream=%q} 2`, dlq); !bytes.Contains(metrics, []byte(want)) {
		t.Errorf("/metrics lacks %s", want)
	}
	if err := stop(); err != nil {
		t.Fatalf("transform stopped with: %v", err)
	}
	// Search sink, dead letters in Kinesis: nothing is written to local disk, and the
	// file sink's directory is never made.
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Errorf("the search sink's transform made the file sink's directory: %v", err)
	}
	byID := map[string]deadletter.Letter{}
	for _, l := range letters {
		byID[l.ID] = l
	}
	if len(letters) != 2 || len(byID) != 2 {
		t.Fatalf("%d dead letters, want 2: %+v", len(letters), letters)
	}
	if c := byID[corruptID]; c.ErrorType != deadletter.ErrorTypeTransform || !bytes.Equal(c.Original, corrupt) || c.Document != nil {
		t.Errorf("dead letter of the undecodable record = %+v", c)
	}
	l := byID[badID]
	if l.ErrorType != "mapper_parsing_exception" || !strings.Contains(l.Reason, "source.port") || l.Status != 400 {
		t.Errorf("dead letter error = %s %d %q, want mapper_parsing_exception 400 naming source.port", l.ErrorType, l.Status, l.Reason)
	}
	if l.LogType != typ || l.Index != index || l.ID != badID {
		t.Errorf("dead letter type %q index %q id %q, want %q %q %q", l.LogType, l.Index, l.ID, typ, index, badID)
	}
	if p := l.Position; p == nil || p.Stream != src || p.Sequence != aws.ToString(out.Records[1].SequenceNumber) {
		t.Errorf("dead letter position = %+v", p)
	}
	if !bytes.Equal(l.Original, bad) {
		t.Errorf("dead letter original = %s\nwant %s", l.Original, bad)
	}
	if !bytes.Contains(l.Document, []byte(`"port":"http"`)) || l.Time.IsZero() || l.At.IsZero() {
		t.Errorf("dead letter document %s, time %v, at %v", l.Document, l.Time, l.At)
	}

	// The stored document is refused again: written back, marked, and not read back.
	// The undecodable record has no stored document: skipped.
	code, stdout, stderr := cli(t, "", nil, "replay", "-c", oldCfg)
	if code != 1 || !strings.Contains(stdout, "read 2, matched 2, indexed 0, conflicts (already present) 0, refused again 1, dropped by pipeline 0, skipped 1") {
		t.Fatalf("replay of the stored document: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	// The undecodable record fails the pipeline again: written back with its id.
	code, stdout, stderr = cli(t, "", nil, "replay", "-c", newCfg, "--pipeline", "--error-type", deadletter.ErrorTypeTransform)
	if code != 1 || !strings.Contains(stdout, "read 3, matched 1, indexed 0, conflicts (already present) 0, refused again 1") {
		t.Fatalf("replay of the undecodable record: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	letters = readLetters(t, kc, dlq)
	marked := map[string]int{}
	for _, l := range letters {
		want := map[string][]byte{badID: bad, corruptID: corrupt}[l.ID]
		if want == nil || !bytes.Equal(l.Original, want) {
			t.Errorf("dead letter lost its original or id: %+v", l)
		}
		if !l.ReplayedAt.IsZero() {
			marked[l.ID]++
		}
	}
	if len(letters) != 4 || marked[badID] != 1 || marked[corruptID] != 1 {
		t.Fatalf("after the refused replays: %d dead letters, %v marked replayed; want 4, one of each marked", len(letters), marked)
	}

	// A dry run writes nothing.
	code, stdout, stderr = cli(t, "", nil, "replay", "-c", newCfg, "--pipeline", "--dry-run", "--error-type", "mapper_parsing_exception")
	if code != 0 || !strings.Contains(stdout, "would index 2") || searchtest.Count(t, url, index) != 1 {
		t.Fatalf("dry run: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}

	// The repaired pipeline indexes it, once, however often it is replayed. Both dead
	// letters (the first and the one written back) name the same document.
	for i, want := range []string{"indexed 1, conflicts (already present) 1", "indexed 0, conflicts (already present) 2", "indexed 0, conflicts (already present) 2"} {
		code, stdout, stderr = cli(t, "", nil, "replay", "-c", newCfg, "--pipeline", "--type", typ, "--error-type", "mapper_parsing_exception")
		if code != 0 || !strings.Contains(stdout, "read 4, matched 2, "+want+", refused again 0") {
			t.Fatalf("replay %d: exit %d, want 0 and %q\nstdout: %s\nstderr: %s", i+1, code, want, stdout, stderr)
		}
		if !strings.Contains(stderr, "replay: read 4") {
			t.Errorf("replay %d: no progress on stderr: %s", i+1, stderr)
		}
		t.Logf("replay %d: %s", i+1, strings.TrimSpace(stdout))
		if n := searchtest.Count(t, url, index); n != 2 {
			t.Fatalf("after replay %d: %d documents, want 2", i+1, n)
		}
	}
	doc := getDoc(t, url, index, badID)
	if doc == nil || doc["message"] != "bad" || doc["labels"].(map[string]any)["port_name"] != "http" {
		t.Errorf("replayed document = %v", doc)
	}

	// Filters: nothing of another type or error type is replayed.
	code, stdout, _ = cli(t, "", nil, "replay", "-c", newCfg, "--pipeline", "--error-type", "version_conflict_engine_exception")
	if code != 0 || !strings.Contains(stdout, "read 4, matched 0, indexed 0") {
		t.Errorf("replay with a filter matching nothing: exit %d: %s", code, stdout)
	}
	code, stdout, _ = cli(t, "", nil, "replay", "-c", newCfg, "--pipeline", "--limit", "1", "--error-type", "mapper_parsing_exception")
	if code != 0 || !strings.Contains(stdout, "matched 1, indexed 0, conflicts (already present) 1") {
		t.Errorf("replay --limit 1: exit %d: %s", code, stdout)
	}
}

// TestDevDeadLettersToFilesThenReplay runs `sluice dev` into OpenSearch: the document
// the engine refuses is a dead letter in the file sink's _dead_letter directory with
// its reason and original, and `sluice replay --role dev --pipeline` with a repaired
// pipeline reads it from there (the default source in dev) and indexes it once,
// however often it runs.
func TestDevDeadLettersToFilesThenReplay(t *testing.T) {
	url := searchtest.OpenSearchURL(t)
	ns, typ := searchtest.Name("dd"), searchtest.Name("ddt")
	index := "logs-" + typ + "-" + ns
	dir := t.TempDir()
	base := fmt.Sprintf(`
http: {addr: "127.0.0.1:0"}
grpc: {addr: ""}
lumberjack: {addr: ""}
sink:
  file: {dir: %s}
  search: {addresses: [%s], namespace: %s}
sample_pipelines: false
`, filepath.Join(dir, "data"), url, ns)
	oldCfg, newCfg := filepath.Join(dir, "old.yaml"), filepath.Join(dir, "new.yaml")
	if err := os.WriteFile(oldCfg, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(newCfg, []byte(base+fmt.Sprintf(replayPipeline, typ)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.RoleDev, oldCfg, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Sink.DeadLetters.Kind != "file" {
		t.Fatalf("dev dead letters default to %q, want file", cfg.Sink.DeadLetters.Kind)
	}
	a, stop := startDev(t, cfg)
	postOK(t, "http://"+a.httpLn.Addr().String()+"/v1/events?type="+typ, "application/json",
		[]byte(`[{"message":"good","source":{"port":22}},{"message":"bad","source":{"port":"ssh"}}]`), `"accepted":2`)
	var lines [][]byte
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		files, _ := filepath.Glob(filepath.Join(deadletter.Dir(cfg.Sink.File.Dir), "*.ndjson"))
		lines = nil
		for _, f := range files {
			data, _ := os.ReadFile(f)
			lines = append(lines, bytes.Split(bytes.TrimSpace(data), []byte("\n"))...)
		}
		if len(lines) > 0 && searchtest.Count(t, url, index) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20s: %d dead letter lines", len(lines))
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 {
		t.Fatalf("%d dead letters, want 1", len(lines))
	}
	l, err := deadletter.Parse(lines[0])
	if err != nil {
		t.Fatal(err)
	}
	env, err := stream.ParseEnvelope(l.Original)
	if err != nil || !strings.Contains(string(env.Event), `"ssh"`) || l.ErrorType != "mapper_parsing_exception" || l.LogType != typ {
		t.Fatalf("dead letter: %s %s, original %s (%v)", l.ErrorType, l.LogType, l.Original, err)
	}

	for i, want := range []string{"indexed 1, conflicts (already present) 0", "indexed 0, conflicts (already present) 1", "indexed 0, conflicts (already present) 1"} {
		code, stdout, stderr := cli(t, "", nil, "replay", "--role", "dev", "-c", newCfg, "--pipeline", "--since", "1h")
		if code != 0 || !strings.Contains(stdout, "from file:"+cfg.Sink.File.Dir) || !strings.Contains(stdout, "read 1, matched 1, "+want+", refused again 0") {
			t.Fatalf("replay %d: exit %d, want 0 and %q\nstdout: %s\nstderr: %s", i+1, code, want, stdout, stderr)
		}
		if n := searchtest.Count(t, url, index); n != 2 {
			t.Fatalf("after replay %d: %d documents, want 2", i+1, n)
		}
	}
}

// TestReplayUsageErrors: bad flags are refused with a clear message before anything
// is read.
func TestReplayUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", "s3:bucket"}, `unknown source "s3"`},
		{[]string{"--from", "kinesis:bad/name"}, "not a Kinesis stream name"},
		{[]string{"--since", "yesterday"}, "neither an RFC 3339 time"},
		{[]string{"--since", "1h", "--until", "2h"}, "--since is after --until"},
		{[]string{"--limit", "-1"}, "--limit must be 0 or more"},
		{[]string{"--role", "gateway"}, "--role must be transform or dev"},
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"--from-archive", "bucket/prefix", "--since", "1h"}, "want s3://BUCKET[/PREFIX]"},
		{[]string{"--from-archive", "s3://bucket"}, "needs --since"},
		{[]string{"--from-archive", "s3://bucket", "--since", "1h", "--from", "file:/tmp"}, "choose one source"},
		{[]string{"--from-archive", "s3://bucket", "--since", "1h", "--error-type", "x"}, "archived events have no error"},
		{[]string{"--from-archive", "s3://bucket", "--since", "1h", "--type", "Bad Type"}, "not a log type"},
	} {
		code, _, stderr := cli(t, "", nil, append([]string{"replay"}, c.args...)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("replay %v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
	// Without a search engine there is nothing to replay into.
	code, _, stderr := cli(t, "", nil, "replay", "--role", "dev")
	if code != 1 || !strings.Contains(stderr, "set sink.search.addresses") {
		t.Errorf("replay without a search sink: exit %d, stderr %q", code, stderr)
	}
}

// TestTransformRefusesAMissingDeadLetterStream: a dead-letter stream that does not
// exist fails the start of `sluice transform`, not the first refused document.
func TestTransformRefusesAMissingDeadLetterStream(t *testing.T) {
	url := searchtest.OpenSearchURL(t)
	endpoint := kinesistest.Endpoint(t)
	kc := kinesistest.Client(t, endpoint)
	cfg := config.Default(config.RoleTransform)
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Stream.Consumer.Streams = []string{kinesistest.CreateStream(t, kc, 1)}
	cfg.Stream.Leases.Store = "memory"
	k := &cfg.Stream.Kinesis
	k.Endpoint, k.Region = endpoint, kinesistest.Region
	k.Credentials.AccessKeyID, k.Credentials.SecretAccessKey = kinesistest.AccessKeyID, kinesistest.SecretAccessKey
	cfg.Sink.File.Dir = t.TempDir()
	cfg.Sink.Search.Addresses = []string{url}
	cfg.Sink.Search.Namespace = searchtest.Name("ms")
	cfg.Sink.DeadLetters.Stream = kinesistest.StreamName(t)
	if err := cfg.Validate(config.RoleTransform); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := newApp(ctx, cfg, config.RoleTransform, slog.New(slog.DiscardHandler))
	if err == nil {
		_ = a.shutdown(ctx)
		t.Fatal("sluice transform started without its dead-letter stream")
	}
	if !strings.Contains(err.Error(), "sink.dead_letters.stream") || !strings.Contains(err.Error(), cfg.Sink.DeadLetters.Stream) {
		t.Errorf("start error = %v, want one naming sink.dead_letters.stream and the stream", err)
	}
}
