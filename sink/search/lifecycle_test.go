package search_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/sink/search"
)

var update = flag.Bool("update", false, "rewrite testdata/lifecycle/*.json from the policies the sink writes")

// policyServer emulates the lifecycle policy endpoints of an engine, and nothing else
// (GET _data_stream answers that there is none yet):
// GET and PUT of an ILM policy (Elasticsearch, _ilm/policy) or of an ISM policy
// (OpenSearch, _plugins/_ism/policies, with if_seq_no and if_primary_term on updates).
// No engine with a lifecycle API can run here: the OpenSearch of the tests has no ISM
// plugin (which is not on Maven Central) and the Elasticsearch integ-test-zip no ILM
// (an X-Pack module it does not ship). It stores the
// policy with the fields the engines add when they answer (dates, versions, retry
// defaults), so it proves the sink's read-compare-write logic, not the engines'
// behavior.
type policyServer struct {
	es bool
	// absent answers as an engine without the API: 400 "no handler found".
	absent bool

	mu          sync.Mutex
	policy      map[string]any
	seqNo       int64
	primaryTerm int64
	// writes are the request URIs of the PUTs answered 2xx; conflicts of those
	// answered 409.
	writes, conflicts []string
	bodies            [][]byte
	// race, when set, makes the next PUT find the policy changed by another task.
	race bool
}

func (p *policyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w.Header().Set("X-Elastic-Product", "Elasticsearch") // go-elasticsearch's product check
	w.Header().Set("Content-Type", "application/json")
	answer := func(status int, v any) {
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	prefix := "/_plugins/_ism/policies/"
	if p.es {
		prefix = "/_ilm/policy/"
	}
	if strings.HasPrefix(r.URL.Path, "/_data_stream/") { // the sweeper's start check: none yet
		answer(http.StatusNotFound, map[string]any{"error": map[string]any{"type": "index_not_found_exception"}, "status": 404})
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, prefix)
	if p.absent || !ok {
		answer(http.StatusBadRequest, map[string]any{"error": "no handler found for uri [" + r.URL.Path + "] and method [" + r.Method + "]"})
		return
	}
	switch r.Method {
	case http.MethodGet:
		if p.policy == nil {
			answer(http.StatusNotFound, map[string]any{"error": map[string]any{"type": "resource_not_found_exception", "reason": "policy not found"}, "status": 404})
			return
		}
		if p.es {
			answer(http.StatusOK, map[string]any{name: map[string]any{"version": p.seqNo + 1, "modified_date": "2026-11-26T10:00:00.000Z", "policy": p.policy, "in_use_by": map[string]any{}}})
			return
		}
		answer(http.StatusOK, map[string]any{"_id": name, "_version": p.seqNo + 1, "_seq_no": p.seqNo, "_primary_term": p.primaryTerm, "policy": p.policy})
	case http.MethodPut:
		body, _ := io.ReadAll(r.Body)
		var in struct {
			Policy map[string]any `json:"policy"`
		}
		if err := json.Unmarshal(body, &in); err != nil || in.Policy == nil {
			answer(http.StatusBadRequest, map[string]any{"error": "bad policy"})
			return
		}
		if !p.es {
			if p.race && p.policy != nil {
				p.race = false
				p.seqNo++ // another task wrote the policy since the sink read it
			}
			q := r.URL.Query()
			seq, term := q.Get("if_seq_no"), q.Get("if_primary_term")
			if (p.policy != nil && (seq != strconv.FormatInt(p.seqNo, 10) || term != strconv.FormatInt(p.primaryTerm, 10))) ||
				(p.policy == nil && (seq != "" || term != "")) {
				p.conflicts = append(p.conflicts, r.URL.RequestURI())
				answer(http.StatusConflict, map[string]any{"error": map[string]any{"type": "version_conflict_engine_exception"}, "status": 409})
				return
			}
		}
		created := p.policy == nil
		if !created {
			p.seqNo++
		}
		p.policy = p.decorate(name, in.Policy)
		p.writes = append(p.writes, r.URL.RequestURI())
		p.bodies = append(p.bodies, body)
		if p.es {
			answer(http.StatusOK, map[string]any{"acknowledged": true})
		} else if created {
			answer(http.StatusCreated, map[string]any{"_id": name, "_seq_no": p.seqNo, "_primary_term": p.primaryTerm, "policy": map[string]any{"policy": p.policy}})
		} else {
			answer(http.StatusOK, map[string]any{"_id": name, "_seq_no": p.seqNo, "_primary_term": p.primaryTerm, "policy": map[string]any{"policy": p.policy}})
		}
	default:
		answer(http.StatusMethodNotAllowed, map[string]any{"error": "method"})
	}
}

// decorate adds what the engine adds to a stored policy.
func (p *policyServer) decorate(name string, policy map[string]any) map[string]any {
	if p.es {
		if del, ok := policy["phases"].(map[string]any)["delete"].(map[string]any); ok {
			del["actions"].(map[string]any)["delete"] = map[string]any{"delete_searchable_snapshot": true}
		}
		return policy
	}
	policy["policy_id"] = name
	policy["schema_version"] = 21
	policy["last_updated_time"] = 1795687896961
	policy["error_notification"] = nil
	for _, st := range policy["states"].([]any) {
		for _, a := range st.(map[string]any)["actions"].([]any) {
			a.(map[string]any)["retry"] = map[string]any{"count": 3, "backoff": "exponential", "delay": "1m"}
		}
	}
	for _, t := range policy["ism_template"].([]any) {
		t.(map[string]any)["last_updated_time"] = 1795687896961
	}
	return policy
}

// state returns copies of what the emulator recorded and holds.
func (p *policyServer) state() (writes, conflicts []string, bodies [][]byte, policy map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.writes...), append([]string(nil), p.conflicts...), append([][]byte(nil), p.bodies...), p.policy
}

// startPolicyServer starts an emulator; es picks Elasticsearch's ILM endpoints.
func startPolicyServer(t *testing.T, es bool) (*policyServer, search.Config) {
	t.Helper()
	p := &policyServer{es: es, primaryTerm: 1}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	cfg := search.DefaultConfig()
	cfg.Addresses = []string{srv.URL}
	cfg.Template = false // the emulator has no template endpoint: the real-engine tests cover it
	if es {
		cfg.Engine = search.EngineElasticsearch
	}
	return p, cfg
}

func start(t *testing.T, cfg search.Config, log *slog.Logger) (*search.Sink, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := search.New(ctx, cfg, search.Options{DeadLetters: &deadLetters{}, Logger: log})
	if err == nil {
		t.Cleanup(func() { _ = s.Close() })
	}
	return s, err
}

// The ISM policy is created when absent, left alone when the same (starting again
// writes nothing, whatever fields ISM added), and updated with if_seq_no and
// if_primary_term when the configuration changed; an update that loses a race with
// another task reads the policy again and succeeds.
func TestISMPolicyInstall(t *testing.T) {
	p, cfg := startPolicyServer(t, false)
	cfg.Lifecycle.Mode = search.LifecycleEngine
	s, err := start(t, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Lifecycle() != "ism" {
		t.Errorf("Lifecycle = %q, want ism", s.Lifecycle())
	}
	if writes, _, _, _ := p.state(); writes[0] != "/_plugins/_ism/policies/sluice-logs-default" {
		t.Errorf("create %s, want no if_seq_no on a new policy", writes[0])
	}
	for range 2 {
		if _, err := start(t, cfg, nil); err != nil {
			t.Fatal(err)
		}
	}
	if w, c, _, _ := p.state(); len(w) != 1 || len(c) != 0 {
		t.Fatalf("after three starts: writes %q, conflicts %q, want 1 write", w, c)
	}

	cfg.Lifecycle.Retention = search.Age(30 * 24 * time.Hour)
	if _, err := start(t, cfg, nil); err != nil {
		t.Fatal(err)
	}
	w, _, _, policy := p.state()
	if len(w) != 2 || w[1] != "/_plugins/_ism/policies/sluice-logs-default?if_seq_no=0&if_primary_term=1" {
		t.Fatalf("writes %q, want an update at seq_no 0, term 1", w)
	}
	if got := deleteAge(policy); got != "30d" {
		t.Errorf("stored policy deletes after %q, want 30d", got)
	}

	p.race = true
	cfg.Lifecycle.Retention = search.Age(45 * 24 * time.Hour)
	if _, err := start(t, cfg, nil); err != nil {
		t.Fatal(err)
	}
	w, c, _, policy := p.state()
	if len(w) != 3 || len(c) != 1 || !strings.Contains(w[2], "if_seq_no=2&") {
		t.Fatalf("writes %q, conflicts %q: want one conflict, then the update at seq_no 2", w, c)
	}
	if got := deleteAge(policy); got != "45d" {
		t.Errorf("stored policy deletes after %q, want 45d", got)
	}
}

// deleteAge is the min_index_age of the transition to state delete of a stored ISM
// policy.
func deleteAge(policy map[string]any) string {
	for _, st := range policy["states"].([]any) {
		for _, tr := range st.(map[string]any)["transitions"].([]any) {
			if tr := tr.(map[string]any); tr["state_name"] == "delete" {
				s, _ := tr["conditions"].(map[string]any)["min_index_age"].(string)
				return s
			}
		}
	}
	return ""
}

// The ILM policy is written when absent or changed and left alone otherwise, although
// Elasticsearch adds fields to it.
func TestILMPolicyInstall(t *testing.T) {
	p, cfg := startPolicyServer(t, true)
	for range 2 {
		s, err := start(t, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if s.Lifecycle() != "ilm" {
			t.Errorf("Lifecycle = %q, want ilm", s.Lifecycle())
		}
	}
	if w, _, _, _ := p.state(); len(w) != 1 {
		t.Fatalf("after two starts: writes %q, want 1", w)
	}
	cfg.Lifecycle.RolloverMaxAge = search.Age(12 * time.Hour)
	if _, err := start(t, cfg, nil); err != nil {
		t.Fatal(err)
	}
	if w, _, bodies, _ := p.state(); len(w) != 2 || !bytes.Contains(bodies[1], []byte(`"max_age":"12h"`)) {
		t.Fatalf("writes %q, bodies %s: want the changed rollover written", w, bodies)
	}
}

// Without the lifecycle API, mode auto falls back to the sweeper with a log line saying
// so, and mode engine refuses to start.
func TestLifecycleAPIAbsent(t *testing.T) {
	for _, es := range []bool{false, true} {
		p, cfg := startPolicyServer(t, es)
		p.absent = true
		var logs bytes.Buffer
		s, err := start(t, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if s.Lifecycle() != "sweeper" || !strings.Contains(logs.String(), "no lifecycle API") {
			t.Errorf("es=%v: Lifecycle = %q, logs %q: want the sweeper and a log line", es, s.Lifecycle(), logs.String())
		}
		cfg.Lifecycle.Mode = search.LifecycleEngine
		if _, err := start(t, cfg, nil); err == nil || !strings.Contains(err.Error(), "no lifecycle API") {
			t.Errorf("es=%v: mode engine without the API: %v, want an error", es, err)
		}
	}
}

// The policy bodies, as sent, match the golden files (go test -run TestPolicyGolden
// -update rewrites them).
func TestPolicyGolden(t *testing.T) {
	for _, engine := range []string{search.EngineOpenSearch, search.EngineElasticsearch} {
		for _, layout := range []string{search.LayoutDataStream, search.LayoutDaily} {
			p, cfg := startPolicyServer(t, engine == search.EngineElasticsearch)
			cfg.Layout = layout
			if _, err := start(t, cfg, nil); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			_, _, bodies, _ := p.state()
			if err := json.Indent(&got, bodies[0], "", "  "); err != nil {
				t.Fatal(err)
			}
			got.WriteByte('\n')
			path := filepath.Join("testdata", "lifecycle", engine+"-"+layout+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("%s: policy\n%s\nwant\n%s", path, got.Bytes(), want)
			}
		}
	}
}

func TestLifecycleConfig(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"90d": 90 * 24 * time.Hour, "1.5d": 36 * time.Hour, "36h": 36 * time.Hour, "15m": 15 * time.Minute,
		"1500000001nanos": 1500000001,
	} {
		got, err := search.ParseAge(in)
		if err != nil || time.Duration(got) != want {
			t.Errorf("ParseAge(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "-1d", "90 days", "1w"} {
		if _, err := search.ParseAge(in); err == nil {
			t.Errorf("ParseAge(%q): no error", in)
		}
	}
	for age, want := range map[search.Age]string{
		search.Age(90 * 24 * time.Hour): "90d", search.Age(36 * time.Hour): "36h", search.Age(90 * time.Second): "90s",
		search.Age(1500 * time.Millisecond): "1500ms", search.Age(1500000001): "1500000001nanos",
	} {
		if got := age.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int64(age), got, want)
		}
	}

	var c search.Config
	if err := yaml.Unmarshal([]byte("lifecycle: {mode: sluice, retention: 30d, rollover_max_age: 12h, rollover_max_primary_shard_size: 10GiB}"), &c); err != nil {
		t.Fatal(err)
	}
	if c.Lifecycle.Retention.String() != "30d" || c.Lifecycle.RolloverMaxAge.String() != "12h" || c.Lifecycle.Mode != search.LifecycleSluice {
		t.Errorf("decoded %+v", c.Lifecycle)
	}
	if err := yaml.Unmarshal([]byte("lifecycle: {retention: 3 months}"), &c); err == nil || !strings.Contains(err.Error(), "3 months") {
		t.Errorf("bad retention: %v, want an error naming it", err)
	}

	bad := search.DefaultConfig()
	bad.Addresses = []string{"http://127.0.0.1:9200"}
	bad.Lifecycle = search.LifecycleConfig{Mode: "curator", Retention: search.Age(time.Minute)}
	err := bad.Validate()
	for _, want := range []string{"lifecycle.mode", "lifecycle.retention", "lifecycle.rollover_max_age",
		"lifecycle.rollover_max_primary_shard_size", "lifecycle.sweep_interval"} {
		if err == nil || !strings.Contains(err.Error(), want+":") {
			t.Errorf("Validate = %v, want a problem at %s", err, want)
		}
	}
	bad.Lifecycle.Mode = search.LifecycleOff
	if err := bad.Validate(); err != nil {
		t.Errorf("mode off ignores the other settings: %v", err)
	}
	if got := fmt.Sprint(search.DefaultLifecycleConfig().Retention); got != "90d" {
		t.Errorf("default retention %s, want 90d", got)
	}
}
