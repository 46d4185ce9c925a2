package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/sink/search/searchtest"
)

// TestReplayFromArchive indexes events with sluice dev into OpenSearch while the
// archive keeps them in the S3 test server, deletes the data stream, and re-indexes
// it from the archive with the sluice binary (`sluice replay --from-archive`): the
// same documents under the same ids come back, and a second replay duplicates
// nothing.
func TestReplayFromArchive(t *testing.T) {
	url := searchtest.OpenSearchURL(t)
	b := newS3Bucket(t, "sluice-replay")
	ns, typ := searchtest.Name("ra"), searchtest.Name("rat")
	index := "logs-" + typ + "-" + ns
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "sluice.yaml")
	yaml := fmt.Sprintf(`
http: {addr: "127.0.0.1:0"}
grpc: {addr: ""}
lumberjack: {addr: ""}
sink:
  file: {dir: %s}
  search: {addresses: [%s], namespace: %s}
  archive:
    bucket: %s
    prefix: lake
    region: us-east-1
    endpoint: %s
    path_style: true
    credentials: {access_key_id: test, secret_access_key: test}
sample_pipelines: false
shutdown: {timeout: 20s, drain_delay: 0s}
`, filepath.Join(dir, "data"), url, ns, b.name, b.endpoint)
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.RoleDev, cfgPath, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	a, stop := startDev(t, cfg)
	var events []string
	for i := range 20 {
		events = append(events, fmt.Sprintf(`{"message":"archived %d","source":{"port":%d}}`, i, 1000+i))
	}
	postOK(t, "http://"+a.httpLn.Addr().String()+"/v1/events?type="+typ, "application/json",
		[]byte("["+strings.Join(events, ",")+"]"), `"accepted":20`)
	// docIDs, not searchtest.Count: the data stream does not exist until the first
	// document is indexed, and Count fails on a 404.
	waitFor(t, 30*time.Second, "20 documents indexed", func() bool { return len(docIDs(t, url, index)) == 20 })
	if err := stop(); err != nil { // uploads the open objects
		t.Fatal(err)
	}
	before := docIDs(t, url, index)

	req, _ := http.NewRequest(http.MethodDelete, url+"/_data_stream/"+index, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("delete the data stream: %v %v", resp, err)
	}

	bin := sluiceBinary(t)
	for i, want := range []string{"indexed 20, conflicts (already present) 0", "indexed 0, conflicts (already present) 20"} {
		cmd := exec.Command(bin, "replay", "--role", "dev", "-c", cfgPath, "--from-archive", "s3://"+b.name+"/lake", "--since", "1h")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err != nil || !strings.Contains(stdout.String(), "from s3://"+b.name+"/lake") || !strings.Contains(stdout.String(), "read 20, matched 20, "+want) {
			t.Fatalf("replay %d: %v, want %q\nstdout: %s\nstderr: %s", i+1, err, want, stdout.String(), stderr.String())
		}
		if err := refresh(url, index); err != nil {
			t.Fatal(err)
		}
		if after := docIDs(t, url, index); !slices.Equal(after, before) {
			t.Fatalf("after replay %d: ids %v, want the first indexing's %v", i+1, after, before)
		}
	}
}

// docIDs returns the sorted _id of every document of an index pattern.
func docIDs(t *testing.T, url, index string) []string {
	t.Helper()
	if err := refresh(url, index); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(url + "/" + index + "/_search?size=1000&_source=false")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Hits struct {
			Hits []struct {
				ID string `json:"_id"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range out.Hits.Hits {
		ids = append(ids, h.ID)
	}
	slices.Sort(ids)
	return ids
}

func refresh(url, index string) error {
	resp, err := http.Post(url+"/"+index+"/_refresh", "application/json", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
