package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestProfile: with SLUICE_PROFILE_DIR, a run leaves a CPU, a peak heap, a heap and an
// allocation profile there (gzipped, as pprof writes them), named by role and process;
// without it, nothing is written and stop is a no-op.
func TestProfile(t *testing.T) {
	off, err := startProfile(func(string) (string, bool) { return "", false }, "gateway")
	if err != nil {
		t.Fatal(err)
	}
	if files, err := off.stop(); err != nil || len(files) != 0 {
		t.Fatalf("profiling off: stop = %v, %v; want nothing", files, err)
	}

	dir := filepath.Join(t.TempDir(), "profiles")
	p, err := startProfile(func(k string) (string, bool) { return dir, k == profileEnv }, "gateway")
	if err != nil {
		t.Fatal(err)
	}
	sink := 0
	for i := range 2_000_000 { // some CPU and some allocations to profile
		sink += len(strings.Repeat("x", i%7))
	}
	// The peak watcher writes its profile at its first reading after a collection.
	runtime.GC()
	peak := filepath.Join(dir, "heap-peak-gateway-"+strconv.Itoa(os.Getpid())+".pprof")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(peakInterval / 4) {
		if _, err := os.Stat(peak); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no peak heap profile %s after 10s", peak)
		}
	}
	files, err := p.stop()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 4 {
		t.Fatalf("files %v, want the cpu, peak heap, heap and allocs profiles", files)
	}
	for i, kind := range []string{"cpu", "heap-peak", "heap", "allocs"} {
		name := filepath.Base(files[i])
		if !strings.HasPrefix(name, kind+"-gateway-") || !strings.HasSuffix(name, ".pprof") {
			t.Errorf("profile %d is %s, want %s-gateway-PID.pprof", i, name, kind)
		}
		data, err := os.ReadFile(files[i])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
			t.Errorf("%s: not a gzipped profile (%d bytes)", name, len(data))
		}
	}
	if sink == 0 {
		t.Fatal("nothing was computed")
	}
	if files, err := p.stop(); err != nil || len(files) != 0 {
		t.Errorf("a second stop: %v, %v; want a no-op", files, err)
	}
}
