package rsyslogtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bounds of the waits for rsyslogd.
const (
	startPatience = 15 * time.Second // until it listens
	stopPatience  = 5 * time.Second  // from SIGTERM to SIGKILL
	pollEvery     = 10 * time.Millisecond
	logTail       = 16 << 10 // bytes of each log shown by Log
)

// Process is one rsyslogd of a test: its directory, PID and own log. It is stopped when
// the test ends; if the test failed, its log is logged then. Instance and Receiver
// embed it.
type Process struct {
	t    testing.TB
	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed when rsyslogd has exited and been reaped
	err  error         // of Wait, once done is closed
	stop sync.Once
}

// startProcess writes conf to dir, checks it with rsyslogd -N1 and starts
// rsyslogd -n -f CONF -i PIDFILE in dir.
func startProcess(t testing.TB, bin, dir, conf string) (*Process, error) {
	if err := os.MkdirAll(filepath.Join(dir, workName), 0o700); err != nil {
		return nil, err
	}
	confFile := filepath.Join(dir, confName)
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	check := exec.Command(bin, "-N1", "-f", confFile)
	check.Env = environ()
	if out, err := check.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("rsyslogd -N1 -f %s: %v\n%s\nconfiguration:\n%s", confFile, err, out, conf)
	}
	stderr, err := os.Create(filepath.Join(dir, stderrName))
	if err != nil {
		return nil, err
	}
	defer stderr.Close()
	cmd := exec.Command(bin, "-n", "-f", confFile, "-i", filepath.Join(dir, pidName))
	cmd.Dir = dir
	cmd.Env = environ()
	cmd.Stdout, cmd.Stderr = stderr, stderr
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &Process{t: t, dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("rsyslogd in %s:\n%s", dir, p.Log())
		}
	})
	return p, nil
}

// environ is the test's environment without what would tie rsyslogd to systemd.
func environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch name, _, _ := strings.Cut(kv, "="); name {
		case "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES":
		default:
			env = append(env, kv)
		}
	}
	return env
}

// Dir returns the instance's directory: rsyslog.conf, rsyslogd.pid, rsyslogd.log
// (rsyslog's own messages), rsyslogd.stderr, stats.json (impstats) and work/.
func (p *Process) Dir() string { return p.dir }

// PID returns rsyslogd's process ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// ConfigFile returns the path of the configuration rsyslogd runs with.
func (p *Process) ConfigFile() string { return filepath.Join(p.dir, confName) }

// LogFile returns the path of the file rsyslog writes its own messages to.
func (p *Process) LogFile() string { return filepath.Join(p.dir, logName) }

// Log returns the ends of rsyslog's own log and of its stderr, for failure messages.
func (p *Process) Log() string {
	var b strings.Builder
	for _, name := range []string{logName, stderrName} {
		data, err := os.ReadFile(filepath.Join(p.dir, name))
		if err != nil || len(data) == 0 {
			continue
		}
		if len(data) > logTail {
			data = data[len(data)-logTail:]
			if i := bytes.IndexByte(data, '\n'); i >= 0 {
				data = data[i+1:]
			}
		}
		fmt.Fprintf(&b, "--- %s\n%s", name, data)
	}
	return b.String()
}

// Exited reports whether rsyslogd has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop stops rsyslogd: SIGTERM, and SIGKILL if it has not exited within 5 s (an action
// that retries forever can keep rsyslogd from shutting down). It returns once rsyslogd
// has exited. Calling it again does nothing.
func (p *Process) Stop() {
	p.stop.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			return
		case <-time.After(stopPatience):
		}
		_ = p.cmd.Process.Kill()
		<-p.done
	})
}

// Kill kills rsyslogd with SIGKILL, as a crash would, and returns once it has exited.
func (p *Process) Kill() {
	p.stop.Do(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
}

// Freeze stops rsyslogd with SIGSTOP: it reads, writes and acknowledges nothing while
// the kernel still accepts connections and data for it, as a hung peer would. Thaw
// continues it; Stop and Kill work on a frozen rsyslogd.
func (p *Process) Freeze() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		p.t.Fatalf("rsyslogtest: freeze rsyslogd (PID %d): %v", p.PID(), err)
	}
}

// Thaw continues a frozen rsyslogd (SIGCONT).
func (p *Process) Thaw() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		p.t.Fatalf("rsyslogtest: thaw rsyslogd (PID %d): %v", p.PID(), err)
	}
}

// waitPortFile waits until rsyslogd has written the port the kernel gave its imtcp
// listener to the port file, and returns it.
func (p *Process) waitPortFile() (int, error) {
	var port int
	err := p.poll("imtcp's port file", func() bool {
		data, err := os.ReadFile(filepath.Join(p.dir, portName))
		if err != nil {
			return false
		}
		port, err = strconv.Atoi(strings.TrimSpace(string(data)))
		return err == nil && port > 0
	})
	return port, err
}

// waitListening waits until rsyslogd itself has a socket bound to port: listening for
// network "tcp", bound for "udp".
func (p *Process) waitListening(network string, port int) error {
	return p.poll(fmt.Sprintf("a %s socket on port %d", network, port), func() bool {
		ok, _ := listens(p.PID(), network, port)
		return ok
	})
}

// poll calls ready until it is true, rsyslogd exits or startPatience has passed.
func (p *Process) poll(what string, ready func() bool) error {
	deadline := time.NewTimer(startPatience)
	defer deadline.Stop()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for !ready() {
		select {
		case <-p.done:
			return fmt.Errorf("rsyslogd exited (%v) before %s was there", p.err, what)
		case <-deadline.C:
			return fmt.Errorf("no %s within %v", what, startPatience)
		case <-tick.C:
		}
	}
	return nil
}

// listens reports whether process pid holds a socket of network ("tcp" or "udp")
// bound to port (TCP: listening), from /proc.
func listens(pid int, network string, port int) (bool, error) {
	inodes, err := socketInodes(pid)
	if err != nil {
		return false, err
	}
	state := "0A" // TCP_LISTEN
	if network == "udp" {
		state = "07" // TCP_CLOSE: an unconnected UDP socket
	}
	wantPort := fmt.Sprintf(":%04X", port)
	for _, file := range []string{network, network + "6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, file))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || !strings.HasSuffix(fields[1], wantPort) || fields[3] != state {
				continue
			}
			if inodes[fields[9]] {
				f.Close()
				return true, nil
			}
		}
		f.Close()
	}
	return false, nil
}

// unread returns how many bytes the kernel holds for process pid in its TCP
// connections that it has not read yet (rx_queue of established sockets, from /proc).
func unread(pid int) (int64, error) {
	inodes, err := socketInodes(pid)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, file := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, file))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			fields := strings.Fields(line)
			if len(fields) < 10 || fields[3] != "01" || !inodes[fields[9]] { // TCP_ESTABLISHED
				continue
			}
			_, rx, _ := strings.Cut(fields[4], ":")
			n, err := strconv.ParseInt(rx, 16, 64)
			if err == nil {
				total += n
			}
		}
	}
	return total, nil
}

// socketInodes returns the inodes of the sockets process pid has open.
func socketInodes(pid int) (map[string]bool, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return nil, err
	}
	inodes := make(map[string]bool)
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err != nil {
			continue
		}
		if inode, ok := strings.CutPrefix(link, "socket:["); ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	if len(inodes) == 0 {
		return nil, errors.New("no sockets")
	}
	return inodes, nil
}
