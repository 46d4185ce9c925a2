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
// memory.max of cgroup v2, else memory/memory.limit_in_bytes of v1. ok is false when
// there is no limit or no cgroup file; an unreadable number is an error.
func Container(root string) (limit int64, ok bool, err error) {
	for _, name := range []string{"memory.max", filepath.Join("memory", "memory.limit_in_bytes")} {
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(data))
		if s == "max" {
			return 0, false, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return 0, false, fmt.Errorf("%s: %q is not a memory limit", filepath.Join(root, name), s)
		}
		if n >= unlimited {
			return 0, false, nil
		}
		return n, true, nil
	}
	return 0, false, nil
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
