package samples

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/transform/event"
	"github.com/sluice-siem/sluice/transform/pipeline"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the pipelines' output, and enriched/*.mmdb from their generator")

// received is when the gateway received the sample events: it gives year-less syslog
// dates their year.
var received = time.Date(2026, 11, 26, 7, 0, 5, 0, time.UTC)

func build(t testing.TB) *pipeline.Set {
	t.Helper()
	cfgs, err := Pipelines()
	if err != nil {
		t.Fatal(err)
	}
	set, err := pipeline.Build(cfgs, pipeline.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestGolden runs every line of testdata/NAME.log through the sample pipeline NAME
// and compares the documents with testdata/NAME.golden (go test -update rewrites it);
// the enriched firewall sample, with the sample lookups, goes to
// testdata/firewall-enriched.golden. A dropped event is written as {"_dropped": true}.
func TestGolden(t *testing.T) {
	set, enriched := build(t), enrichedSet(t)
	for _, g := range []struct {
		golden, name string
		set          *pipeline.Set
	}{
		{"firewall", "firewall", set}, {"ids", "ids", set}, {"waf", "waf", set},
		{"firewall-enriched", "firewall", enriched},
	} {
		name := g.name
		t.Run(g.golden, func(t *testing.T) {
			p := g.set.Get(name)
			if p == nil {
				t.Fatalf("no sample pipeline %s", name)
			}
			in, err := os.ReadFile(filepath.Join("testdata", name+".log"))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			sc := bufio.NewScanner(bytes.NewReader(in))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				e := &event.Event{Type: name, Received: received, Fields: map[string]any{"message": sc.Text()}}
				if err := p.Process(context.Background(), e); err != nil {
					t.Fatal(err)
				}
				var doc any = e.Fields
				if e.Dropped {
					doc = map[string]bool{"_dropped": true}
				}
				enc := json.NewEncoder(&out)
				enc.SetEscapeHTML(false)
				enc.SetIndent("", "  ")
				if err := enc.Encode(doc); err != nil {
					t.Fatal(err)
				}
			}
			golden := filepath.Join("testdata", g.golden+".golden")
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("%s differs from the pipeline's output (go test -update rewrites it):\n%s", golden, lineDiff(string(want), out.String()))
			}
		})
	}
}

// lineDiff shows the first lines where two texts differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 20; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  - %s\n  + %s\n", i+1, wl, gl)
			shown++
		}
	}
	return b.String()
}

// TestCases runs the samples' NAME.test.yaml cases, as `sluice test` does.
func TestCases(t *testing.T) {
	cfgs, err := Pipelines()
	if err != nil {
		t.Fatal(err)
	}
	runCases(t, FS(), build(t), cfgs)
}

// TestEnrichedCases runs the enriched samples' test cases with the sample lookups.
func TestEnrichedCases(t *testing.T) {
	cfgs, err := Enriched()
	if err != nil {
		t.Fatal(err)
	}
	runCases(t, EnrichedFS(), enrichedSet(t), cfgs)
}

// runCases runs the test case files of fsys with the pipelines of set; every pipeline
// of cfgs, the samples of fsys, must have its own file.
func runCases(t *testing.T, fsys fs.FS, set *pipeline.Set, cfgs map[string]pipeline.Config) {
	t.Helper()
	names, err := pipeline.TestFiles(fsys)
	if err != nil {
		t.Fatal(err)
	}
	tested := map[string]bool{}
	for _, name := range names {
		tested[strings.TrimSuffix(path.Base(name), ".test.yaml")] = true
	}
	for typ := range cfgs {
		if !tested[typ] {
			t.Errorf("sample pipeline %s has no %s.test.yaml (test files: %v)", typ, typ, names)
		}
	}
	for _, name := range names {
		tf, err := pipeline.LoadTestFile(fsys, name, name)
		if err != nil {
			t.Fatal(err)
		}
		p := set.Get(tf.Pipeline)
		if p == nil {
			t.Fatalf("%s: no pipeline %s", name, tf.Pipeline)
		}
		for _, c := range tf.Cases {
			diff, err := c.Run(context.Background(), p, tf.Received)
			if err != nil {
				t.Fatalf("%s: %s: %v", name, c.Name, err)
			}
			if diff != "" {
				t.Errorf("%s: %s:\n%s", name, c.Name, diff)
			}
		}
	}
}

// TestConcurrentUse runs every sample line through one set of pipelines from several
// goroutines at once (go test -race checks the sharing) and gets the same documents
// as one at a time.
func TestConcurrentUse(t *testing.T) {
	set := build(t)
	type input struct{ typ, line string }
	var inputs []input
	for _, name := range []string{"firewall", "ids", "waf"} {
		data, err := os.ReadFile(filepath.Join("testdata", name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			inputs = append(inputs, input{name, l})
		}
	}
	run := func(in input) string {
		e := &event.Event{Type: in.typ, Received: received, Fields: map[string]any{"message": in.line}}
		_ = set.Pipeline(in.typ).Process(context.Background(), e)
		b, _ := json.Marshal(e.Fields)
		return fmt.Sprint(e.Dropped, string(b))
	}
	want := make([]string, len(inputs))
	for i, in := range inputs {
		want[i] = run(in)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			for n := range 50 {
				i := (g*7 + n) % len(inputs)
				if got := run(inputs[i]); got != want[i] {
					errs <- got
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("concurrent result differs: %s", e)
	}
}
