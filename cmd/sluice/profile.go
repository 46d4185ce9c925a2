package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"time"
)

// profileEnv names the directory a serving role writes its profiles to: a CPU profile
// of the whole run (cpu-ROLE-PID.pprof); the live heap at its peak during the run
// (heap-peak-ROLE-PID.pprof, rewritten whenever the live heap after a collection
// passes its previous peak by a tenth: what a peak RSS is made of); and, at shutdown,
// the heap in use and every allocation since the start (heap-ROLE-PID.pprof,
// allocs-ROLE-PID.pprof), for `go tool pprof`. scripts/bench.sh --profile sets it for
// each subject. Unset: no profiling and no cost.
const profileEnv = "SLUICE_PROFILE_DIR"

// profiler is a running profile; the zero profiler (profiling off) does nothing.
type profiler struct {
	dir, suffix string
	cpu         *os.File
	// stopPeak ends the peak watcher; peakDone is closed when it has, with peakErr
	// (the first failure to write the peak profile) and peakWritten set.
	stopPeak    chan struct{}
	peakDone    chan struct{}
	peakErr     error
	peakWritten bool
}

// peakInterval is how often the peak watcher reads the live heap. The live heap
// changes only at a collection, which under load comes several times a second.
const peakInterval = 200 * time.Millisecond

// startProfile starts profiling into the directory env names, if any.
func startProfile(env func(string) (string, bool), role string) (*profiler, error) {
	dir, ok := env(profileEnv)
	if !ok || dir == "" {
		return &profiler{}, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", profileEnv, err)
	}
	p := &profiler{dir: dir, suffix: role + "-" + strconv.Itoa(os.Getpid()) + ".pprof"}
	f, err := os.Create(filepath.Join(dir, "cpu-"+p.suffix))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", profileEnv, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: start the CPU profile: %w", profileEnv, err)
	}
	p.cpu = f
	p.stopPeak, p.peakDone = make(chan struct{}), make(chan struct{})
	go p.watchPeak(filepath.Join(dir, "heap-peak-"+p.suffix))
	return p, nil
}

// watchPeak writes the heap profile to path each time the live heap, as the last
// collection found it, is a tenth above the peak written before, until stopPeak.
func (p *profiler) watchPeak(path string) {
	defer close(p.peakDone)
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var peak uint64
	tick := time.NewTicker(peakInterval)
	defer tick.Stop()
	for {
		select {
		case <-p.stopPeak:
			return
		case <-tick.C:
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return // not in this runtime: no peak profile
		}
		live := sample[0].Value.Uint64()
		if live <= peak+peak/10 {
			continue
		}
		peak = live
		if err := writeProfile(path, "heap"); err != nil {
			if p.peakErr == nil {
				p.peakErr = err
			}
			continue
		}
		p.peakWritten = true
	}
}

// writeProfile writes the named runtime profile to path.
func writeProfile(path, name string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// stop ends the CPU profile and writes the heap and allocation profiles; it returns
// the files written.
func (p *profiler) stop() ([]string, error) {
	if p.cpu == nil {
		return nil, nil
	}
	pprof.StopCPUProfile()
	files := []string{p.cpu.Name()}
	errs := []error{p.cpu.Close()}
	p.cpu = nil
	close(p.stopPeak)
	<-p.peakDone
	if p.peakWritten {
		files = append(files, filepath.Join(p.dir, "heap-peak-"+p.suffix))
	}
	errs = append(errs, p.peakErr)
	runtime.GC() // the heap profile shows the heap as of the last collection
	for _, name := range []string{"heap", "allocs"} {
		path := filepath.Join(p.dir, name+"-"+p.suffix)
		if err := writeProfile(path, name); err != nil {
			errs = append(errs, err)
			continue
		}
		files = append(files, path)
	}
	if err := errors.Join(errs...); err != nil {
		return files, fmt.Errorf("write profiles: %w", err)
	}
	return files, nil
}
