package main

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// testdata/proc/4242 holds a /proc/PID/stat whose command name has spaces and
// parentheses, and a /proc/PID/status, both as Linux writes them.
func TestReadProcSampleFiles(t *testing.T) {
	got, err := readProc("testdata/proc", 4242)
	if err != nil {
		t.Fatal(err)
	}
	// utime 1234 + stime 567 ticks of 10ms.
	want := procSample{CPU: 18010 * time.Millisecond, RSS: 52632 << 10, HWM: 178432 << 10}
	if got != want {
		t.Errorf("readProc = %+v, want %+v", got, want)
	}
	if _, err := readProc("testdata/proc", 4243); err == nil {
		t.Error("readProc of a missing process: no error")
	}
}

func TestParseStatRefusesGarbage(t *testing.T) {
	for _, in := range []string{
		"",
		"4242 sluice S 1",                        // no parentheses
		"4242 (sluice) S 1 2 3",                  // too few fields
		"4242 (sluice) S 1 2 3 4 5 6 7 8 x 9 10", // utime not a number
		"4242 (sluice) S 1 2 3 4 5 6 7 8 -1 9 10",
	} {
		if d, err := parseStat([]byte(in)); err == nil {
			t.Errorf("parseStat(%q) = %v, want an error", in, d)
		}
	}
}

func TestParseStatusRefusesGarbage(t *testing.T) {
	for _, in := range []string{
		"",
		"VmRSS:\t100 kB\n",                  // no VmHWM (a zombie)
		"VmRSS:\t100 kB\nVmHWM:\t100 MB\n",  // unit
		"VmRSS:\tlots kB\nVmHWM:\t100 kB\n", // number
		"VmRSS:\t-5 kB\nVmHWM:\t100 kB\n",   // negative
	} {
		if _, _, err := parseStatus([]byte(in)); err == nil {
			t.Errorf("parseStatus(%q): no error", in)
		}
	}
}

// The parser reads this very process from the real /proc.
func TestReadProcSelf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	s, err := readProc("/proc", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSS <= 0 || s.HWM < s.RSS {
		t.Errorf("readProc(self) = %+v: want 0 < RSS <= HWM", s)
	}
}

func TestReadProcReportsTheFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "7"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "7", "stat"), []byte("7 (x) S"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readProc(dir, 7); err == nil {
		t.Error("readProc of a short stat: no error")
	}
}
