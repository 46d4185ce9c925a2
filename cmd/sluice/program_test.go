package main

import (
	"net"
	"os/exec"
	"testing"
	"time"
)

// program is an outside program a test runs beside sluice (an OpenTelemetry
// Collector, Jaeger), with its output kept.
type program struct {
	out  *syncBuffer
	done chan struct{} // closed once it exited
}

// startProgram starts bin with args. It is killed when the test ends, and its output
// is printed then if the test failed; what names it in messages.
func startProgram(t *testing.T, what, bin string, args ...string) *program {
	t.Helper()
	p := &program{out: &syncBuffer{}, done: make(chan struct{})}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", what, err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s output:\n%s", what, p.out.String())
		}
	})
	return p
}

// exited reports whether the program has exited.
func (p *program) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitListening waits until addr accepts connections (what: whose port it is).
func waitListening(t *testing.T, what, addr string) {
	t.Helper()
	waitFor(t, 60*time.Second, what+" listening on "+addr, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}
