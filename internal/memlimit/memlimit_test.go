package memlimit

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// cgroup writes a cgroup file tree under a temporary root: path -> content.
func cgroup(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestContainer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   map[string]string
		want    int64
		ok, err bool
	}{
		{"v2 limit", map[string]string{"memory.max": "2147483648\n"}, 2147483648, true, false},
		{"v2 no limit", map[string]string{"memory.max": "max\n"}, 0, false, false},
		{"v1 limit", map[string]string{"memory/memory.limit_in_bytes": "1073741824\n"}, 1073741824, true, false},
		{"v1 no limit", map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712\n"}, 0, false, false},
		{"v2 before v1", map[string]string{"memory.max": "536870912", "memory/memory.limit_in_bytes": "1073741824"}, 536870912, true, false},
		{"v1 parent limit", map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712\n",
			"memory/memory.stat": "cache 0\nhierarchical_memory_limit 2147483648\nhierarchical_memsw_limit 9223372036854771712\n"}, 2147483648, true, false},
		{"v1 own limit below the parent's", map[string]string{"memory/memory.limit_in_bytes": "1073741824",
			"memory/memory.stat": "hierarchical_memory_limit 2147483648\n"}, 1073741824, true, false},
		{"v1 no limit anywhere", map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712",
			"memory/memory.stat": "hierarchical_memory_limit 9223372036854771712\n"}, 0, false, false},
		{"v1 garbage in memory.stat", map[string]string{"memory/memory.stat": "hierarchical_memory_limit lots\n"}, 0, false, true},
		{"no cgroup", map[string]string{}, 0, false, false},
		{"garbage", map[string]string{"memory.max": "lots"}, 0, false, true},
		{"negative", map[string]string{"memory.max": "-1"}, 0, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := Container(cgroup(t, tc.files))
			if got != tc.want || ok != tc.ok || (err != nil) != tc.err {
				t.Errorf("Container = %d, %v, %v; want %d, %v, error %v", got, ok, err, tc.want, tc.ok, tc.err)
			}
		})
	}
}

// Set applies 90% of the container's limit to the runtime, leaves a GOMEMLIMIT the
// runtime already applied alone, and sets nothing without a limit.
func TestSet(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	noEnv := func(string) (string, bool) { return "", false }

	root := cgroup(t, map[string]string{"memory.max": "2147483648"})
	limit, source, err := Set(root, noEnv)
	if err != nil || limit != 1932735283 || !strings.Contains(source, "90%") {
		t.Fatalf("Set = %d, %q, %v", limit, source, err)
	}
	if got := debug.SetMemoryLimit(-1); got != limit {
		t.Errorf("runtime limit %d, want %d", got, limit)
	}

	debug.SetMemoryLimit(123 << 20) // as GOMEMLIMIT=123MiB would have at start
	limit, source, err = Set(root, func(k string) (string, bool) { return "123MiB", k == "GOMEMLIMIT" })
	if err != nil || limit != 123<<20 || source != "GOMEMLIMIT" {
		t.Errorf("with GOMEMLIMIT: Set = %d, %q, %v", limit, source, err)
	}
	if got := debug.SetMemoryLimit(-1); got != 123<<20 {
		t.Errorf("with GOMEMLIMIT the runtime limit changed to %d", got)
	}

	debug.SetMemoryLimit(math.MaxInt64)
	limit, _, err = Set(cgroup(t, map[string]string{"memory.max": "max"}), noEnv)
	if err != nil || limit != 0 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Errorf("no limit: Set = %d, %v, runtime %d", limit, err, debug.SetMemoryLimit(-1))
	}
}
