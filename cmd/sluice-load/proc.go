package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is the unit of the CPU times in /proc/PID/stat: USER_HZ, which Linux fixes at
// 100 ticks per second on every architecture Go runs on.
const userHZ = 100

// procSample is what /proc says about a process at one moment.
type procSample struct {
	// CPU is user plus system time of all the process's threads.
	CPU time.Duration
	// RSS is the resident set now, HWM its peak since the process started (VmHWM).
	RSS, HWM int64
}

// parseStat reads the user and system CPU time from the content of /proc/PID/stat. The
// command name (field 2) is in parentheses and may itself hold spaces and parentheses,
// so the fields are counted from the last ')'.
func parseStat(data []byte) (time.Duration, error) {
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return 0, errors.New("no ')' after the command name")
	}
	fields := strings.Fields(string(data[end+1:]))
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(fields))
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("CPU time %q is not a tick count", f)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// parseStatus reads VmRSS and VmHWM, in bytes, from the content of /proc/PID/status.
func parseStatus(data []byte) (rss, hwm int64, err error) {
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("%s: want \"N kB\", not %q", key, strings.TrimSpace(val))
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || n < 0 {
			return 0, 0, fmt.Errorf("%s: %q is not a size", key, f[0])
		}
		if key == "VmRSS" {
			rss = n << 10
		} else {
			hwm = n << 10
		}
		found++
	}
	if found != 2 {
		return 0, 0, errors.New("VmRSS or VmHWM missing (a kernel thread, or a zombie?)")
	}
	return rss, hwm, nil
}

// readProc samples process pid from the proc file system rooted at root ("/proc").
func readProc(root string, pid int) (procSample, error) {
	dir := filepath.Join(root, strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return procSample{}, fmt.Errorf("read CPU time of process %d: %w", pid, err)
	}
	cpu, err := parseStat(stat)
	if err != nil {
		return procSample{}, fmt.Errorf("parse %s/stat: %w", dir, err)
	}
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return procSample{}, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	rss, hwm, err := parseStatus(status)
	if err != nil {
		return procSample{}, fmt.Errorf("parse %s/status: %w", dir, err)
	}
	return procSample{CPU: cpu, RSS: rss, HWM: hwm}, nil
}

// subject is the process under measurement: one given by --pid, or one that
// --subject-cmd started (and stops at the end).
type subject struct {
	pid int
	cmd *exec.Cmd
	// exited is closed when a started subject exits; exitErr is then its Wait error.
	exited  chan struct{}
	exitErr error
	stopped bool // Stop sent the signal
	logFile *os.File
}

// startSubject runs command through /bin/sh (with exec, so the measured PID is the
// command's own), its output to logPath (or stderr when empty), and waits until addr
// accepts TCP connections.
func startSubject(ctx context.Context, command, logPath, addr string, ready time.Duration, stderr io.Writer) (*subject, error) {
	if runtime.GOOS != "linux" {
		return nil, errors.New("subject measurement reads /proc: Linux only")
	}
	cmd := exec.Command("/bin/sh", "-c", "exec "+command)
	s := &subject{cmd: cmd, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if logPath != "" {
		f, err := os.Create(logPath)
		if err != nil {
			return nil, fmt.Errorf("create subject log: %w", err)
		}
		s.logFile = f
		cmd.Stdout, cmd.Stderr = f, f
	}
	if err := cmd.Start(); err != nil {
		s.closeLog()
		return nil, fmt.Errorf("start subject %q: %w", command, err)
	}
	s.pid = cmd.Process.Pid
	go func() {
		s.exitErr = cmd.Wait()
		close(s.exited)
	}()
	deadline := time.Now().Add(ready)
	for {
		d := net.Dialer{Timeout: 200 * time.Millisecond}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = c.Close()
			return s, nil
		}
		select {
		case <-s.exited:
			s.closeLog()
			return nil, fmt.Errorf("subject %q exited before it listened on %s: %v", command, addr, s.exitErr)
		case <-ctx.Done():
			_ = s.stop(5 * time.Second)
			return nil, fmt.Errorf("wait for subject to listen on %s: %w", addr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = s.stop(5 * time.Second)
			return nil, fmt.Errorf("subject %q did not listen on %s within %s", command, addr, ready)
		}
	}
}

// alive reports whether the subject still runs.
func (s *subject) alive() error {
	if s.cmd != nil {
		select {
		case <-s.exited:
			return fmt.Errorf("subject (PID %d) exited during the run: %v", s.pid, s.exitErr)
		default:
			return nil
		}
	}
	if err := syscall.Kill(s.pid, 0); err != nil {
		return fmt.Errorf("subject (PID %d) is gone: %w", s.pid, err)
	}
	return nil
}

// stop ends a subject this program started: SIGTERM, then SIGKILL after grace. It
// returns an error when the subject did not exit cleanly. A --pid subject is left alone.
func (s *subject) stop(grace time.Duration) error {
	if s.cmd == nil {
		return nil
	}
	defer s.closeLog()
	select {
	case <-s.exited:
		if s.stopped {
			return s.exitErr
		}
		return fmt.Errorf("exited before it was stopped: %v", s.exitErr)
	default:
	}
	s.stopped = true
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		if s.exitErr != nil {
			return fmt.Errorf("stopped with SIGTERM: %w", s.exitErr)
		}
		return nil
	case <-time.After(grace):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("did not stop within %s of SIGTERM: killed", grace)
	}
}

func (s *subject) closeLog() {
	if s.logFile != nil {
		_ = s.logFile.Close()
		s.logFile = nil
	}
}
