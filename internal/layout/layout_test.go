// Package layout_test keeps the package graph in the shape of the data path (see
// README.md, "Layout"): gateway -> stream -> transform -> sink, each step a folder.
// The steps meet only through the contracts: a step's packages import their own step,
// the contracts and the helpers below the data path, never another step's
// implementation, in either direction (the order is the reader's: the rule needs
// none); cmd/ and config, which wire the steps, import anything. It checks what the packages import, not their tests: a test may run its
// code against the real neighbour of another step (a receiver against the embedded
// stream, the Kinesis reader under the real consumer).
package layout_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/sluice-siem/sluice/"

// steps are the steps of the data path, in order: a package belongs to the step whose
// folder it is in.
var steps = []string{"gateway", "stream", "transform", "sink"}

// contracts may be imported by every package: what travels between the steps (stream:
// the record, its envelope, the shard reader's and the lease's types; sink: the
// document) and the helpers and wire formats below the data path. A contract imports
// only contracts. A pattern ending in /... matches the folder and everything under it.
var contracts = []string{"stream", "sink", "internal/...", "proto/..."}

// outside the data path are the packages that wire the steps together (the binaries,
// their configuration) and deploy them: they may import any package, and no step
// imports them.
var outside = []string{"cmd/...", "config", "deploy"}

// exceptions are imports the rules above forbid that are known and tracked; each says
// where. An exception that is no longer needed fails the test, so that it goes.
var exceptions = map[string]string{}

func TestStepsMeetOnlyThroughContracts(t *testing.T) {
	imports := packageImports(t)
	used := map[string]bool{}
	for pkg, deps := range imports {
		from := group(pkg)
		if from == "" {
			t.Errorf("%s is in no folder of the tables of this test (steps, contracts, outside): add its folder to one", pkg)
			continue
		}
		for _, dep := range deps {
			to := group(dep)
			if allowed(from, to) {
				continue
			}
			edge := pkg + " -> " + dep
			if _, ok := exceptions[edge]; ok {
				used[edge] = true
				continue
			}
			t.Errorf("%s (%s) imports %s (%s): steps meet only through the contracts %v; move what both need into one of them, or let cmd/sluice wire the two",
				pkg, from, dep, to, contracts)
		}
	}
	for edge, why := range exceptions {
		if !used[edge] {
			t.Errorf("exception %q (%s) is no longer needed: delete it from this test", edge, why)
		}
	}
}

// allowed reports whether a package of group from may import one of group to.
func allowed(from, to string) bool {
	switch {
	case from == "outside":
		return true
	case to == "contract":
		return true
	case from == "contract":
		return false
	default:
		return from == to
	}
}

// group returns "contract", "outside", the step of pkg (a path relative to the module),
// or "" for a package in none of them.
func group(pkg string) string {
	if matchAny(pkg, contracts) {
		return "contract"
	}
	if matchAny(pkg, outside) {
		return "outside"
	}
	for _, s := range steps {
		if match(pkg, s+"/...") {
			return s
		}
	}
	return ""
}

func matchAny(pkg string, patterns []string) bool {
	for _, p := range patterns {
		if match(pkg, p) {
			return true
		}
	}
	return false
}

func match(pkg, pattern string) bool {
	if dir, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == dir || strings.HasPrefix(pkg, dir+"/")
	}
	return pkg == pattern
}

// packageImports lists the module's packages and, for each, the packages of the module
// its non-test files import, all as paths relative to the module.
func packageImports(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f",
		`{{.ImportPath}}	{{.Dir}}	{{join .GoFiles " "}}	{{join .Imports " "}}`, module+"...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	graph := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 4 {
			t.Fatalf("go list: unexpected line %q", sc.Text())
		}
		pkg, ok := strings.CutPrefix(fields[0], module)
		if !ok {
			continue
		}
		watch(t, fields[1], strings.Fields(fields[2]))
		graph[pkg] = nil
		for _, dep := range strings.Fields(fields[3]) {
			if dep, ok := strings.CutPrefix(dep, module); ok {
				graph[pkg] = append(graph[pkg], dep)
			}
		}
	}
	if len(graph) < len(steps) {
		t.Fatalf("go list found %d packages: is the test run inside the module?", len(graph))
	}
	return graph
}

// watch opens a package's directory and stats its files. go test caches a passing
// result until a file the test opened changes; go list reads the packages in another
// process, so without this an import added later would not run the test again.
func watch(t *testing.T, dir string, files []string) {
	t.Helper()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		f, err := os.Open(d)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	for _, name := range files {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReadmeNamesEveryPackage: README.md's "Layout" section names every package of the
// module, by its path or by its last element (kpl/, awsclient), so that a new package
// lands with the line that says what it is for.
func TestReadmeNamesEveryPackage(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Layout\n")
	if !ok {
		t.Fatal(`README.md has no "## Layout" section`)
	}
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	words := map[string]bool{}
	for _, w := range strings.FieldsFunc(section, func(r rune) bool {
		return !(r == '/' || r == '-' || r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		w = strings.Trim(w, "/.")
		words[w] = true
		words[filepath.Base(w)] = true
	}
	for pkg := range packageImports(t) {
		if !words[pkg] && !words[filepath.Base(pkg)] {
			t.Errorf("README.md's Layout section does not name package %s", pkg)
		}
	}
}
