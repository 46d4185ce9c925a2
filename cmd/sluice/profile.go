package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
)

// profileEnv names the directory a serving role writes its profiles to: a CPU profile
// of the whole run (cpu-ROLE-PID.pprof) and, at shutdown, the heap in use and every
// allocation since the start (heap-ROLE-PID.pprof, allocs-ROLE-PID.pprof), for
// `go tool pprof`. scripts/bench.sh --profile sets it for each subject. Unset: no
// profiling and no cost.
const profileEnv = "SLUICE_PROFILE_DIR"

// profiler is a running profile; the zero profiler (profiling off) does nothing.
type profiler struct {
	dir, suffix string
	cpu         *os.File
}

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
	return p, nil
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
	runtime.GC() // the heap profile shows the heap as of the last collection
	for _, name := range []string{"heap", "allocs"} {
		path := filepath.Join(p.dir, name+"-"+p.suffix)
		f, err := os.Create(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, pprof.Lookup(name).WriteTo(f, 0), f.Close())
		files = append(files, path)
	}
	if err := errors.Join(errs...); err != nil {
		return files, fmt.Errorf("write profiles: %w", err)
	}
	return files, nil
}
