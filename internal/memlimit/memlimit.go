// Package memlimit gives the Go runtime a soft memory limit below the container's: a
// task on ECS Fargate or a pod with a memory limit is killed when it goes over, and
// Go's garbage collector, which by default lets the heap grow to twice what is live,
// does not know the limit unless told. Kubernetes manifests can set GOMEMLIMIT by hand;
// Set derives it from the cgroup, so every deployment gets it.
package memlimit

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// Fraction is the share of the container's memory the Go runtime aims to stay under;
// the rest is for what the runtime does not count (stacks of cgo threads, the
// binary's pages) and headroom.
const Fraction = 0.9

// unlimited is where cgroup v1 reports "no limit": a page-rounded maximum int64.
const unlimited = 1 << 62

// Container returns the memory limit, in bytes, of the cgroup this process sees at root
// (normally /sys/fs/cgroup, which in a container is the container's own cgroup):
// memory.max of cgroup v2; with cgroup v1, the lower of memory/memory.limit_in_bytes
// and the hierarchical_memory_limit of memory/memory.stat, which also counts the
// limits of the parent cgroups (an ECS task's memory, set for the task and not for
// its container, is such a parent's). ok is false when there is no limit or no cgroup
// file; an unreadable number is an error.
func Container(root string) (limit int64, ok bool, err error) {
	v2 := filepath.Join(root, "memory.max")
	if data, err := os.ReadFile(v2); err == nil {
		s := strings.TrimSpace(string(data))
		if s == "max" {
			return 0, false, nil
		}
		return parseLimit(v2, s)
	}
	v1 := filepath.Join(root, "memory", "memory.limit_in_bytes")
	if data, err := os.ReadFile(v1); err == nil {
		limit, ok, err = parseLimit(v1, strings.TrimSpace(string(data)))
		if err != nil {
			return 0, false, err
		}
	}
	stat := filepath.Join(root, "memory", "memory.stat")
	data, serr := os.ReadFile(stat)
	if serr != nil {
		return limit, ok, nil
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		value, found := strings.CutPrefix(line, "hierarchical_memory_limit ")
		if !found {
			continue
		}
		h, hok, err := parseLimit(stat, strings.TrimSpace(value))
		if err != nil {
			return 0, false, err
		}
		if hok && (!ok || h < limit) {
			return h, true, nil
		}
		break
	}
	return limit, ok, nil
}

// parseLimit reads a limit in bytes from file; ok is false for "no limit".
func parseLimit(file, s string) (int64, bool, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, false, fmt.Errorf("%s: %q is not a memory limit", file, s)
	}
	if n >= unlimited {
		return 0, false, nil
	}
	return n, true, nil
}

// Set sets the Go runtime's soft memory limit to Fraction of the container's limit
// (Container at root), unless GOMEMLIMIT is set, which the runtime has then applied
// itself and which wins. It returns the limit in force from either source (0: none)
// and where it came from, for the start-up log.
func Set(root string, getenv func(string) (string, bool)) (limit int64, source string, err error) {
	if v, ok := getenv("GOMEMLIMIT"); ok && v != "" {
		return debug.SetMemoryLimit(-1), "GOMEMLIMIT", nil
	}
	c, ok, err := Container(root)
	if err != nil || !ok {
		return 0, "", err
	}
	limit = int64(float64(c) * Fraction)
	debug.SetMemoryLimit(limit)
	return limit, fmt.Sprintf("%.0f%% of the container's %d bytes", Fraction*100, c), nil
}
