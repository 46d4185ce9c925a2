package main

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFilebeatLogstashOutput runs `sluice dev` and a real Filebeat 7.17
// (scripts/filebeat.sh) with output.logstash, the way most sites ship to Logstash
// today, reading a file of 6,000 lines through a proxy that loses one of sluice's
// acknowledgements and cuts the connection: sluice has made those events durable, so
// Filebeat, which never heard so, sends them again. Every line reaches the file sink,
// and the copies of a line carry one id (the identity of Filebeat's coordinates of the
// line), so that a search engine holds each line once. The same holds after a clean
// stop.
func TestFilebeatLogstashOutput(t *testing.T) {
	fb := filebeatBinary(t)
	ljAddr := freeAddr(t)
	dev := startDevProcess(t, append(filebeatDevEnv, "SLUICE_LUMBERJACK_ADDR="+ljAddr)...)
	cut := newACKCutter(t, ljAddr, 2)

	const run, lines = "logstash", 6000
	dir := t.TempDir()
	input := writeLines(t, dir, run, lines)
	// bulk_max_size 1024: windows of at most 1024 events, so that the 6,000 lines
	// take several windows, and the lost acknowledgement is not the last.
	cfg := fmt.Sprintf("filebeat.inputs:\n  - type: filestream\n    id: e2e-logstash\n    paths: [%q]\noutput.logstash:\n  hosts: [%q]\n  bulk_max_size: 1024\n",
		input, cut.addr())
	stopFilebeat, _ := startFilebeat(t, fb, dir, cfg)
	waitForLines(t, dev.dataDir, run, lines)
	stopFilebeat()

	if !cut.lost.Load() {
		t.Fatalf("the proxy saw %d acknowledgements on Filebeat's first connection and lost none: the test did not test", cut.relayed.Load())
	}
	time.Sleep(time.Second)
	if resent := checkCopies(t, runSeqs(t, dev.dataDir, run)); resent == 0 {
		t.Errorf("an acknowledgement was lost, and no line is in the sink twice: Filebeat sent nothing again?")
	}

	dev.stop(t)
	got := runSeqs(t, dev.dataDir, run)
	if len(got) != lines {
		t.Errorf("%d of %d lines in the sink after stopping", len(got), lines)
	}
	checkCopies(t, got)
}

// ackCutter is a TCP proxy in front of a lumberjack listener that, on the first
// connection, relays the server's acknowledgements up to the lose-th, then drops that
// one and closes both sides: the client loses an acknowledgement of events the server
// has made durable, as when a connection breaks at the wrong moment.
type ackCutter struct {
	ln      net.Listener
	target  string
	lose    int
	conns   atomic.Int64
	relayed atomic.Int64 // acknowledgements relayed on the first connection
	lost    atomic.Bool
	wg      sync.WaitGroup
}

// newACKCutter starts an ackCutter in front of target; it stops at the test's end.
func newACKCutter(t *testing.T, target string, lose int) *ackCutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &ackCutter{ln: ln, target: target, lose: lose}
	c.wg.Go(func() { c.serve(t) })
	t.Cleanup(func() {
		ln.Close()
		c.wg.Wait()
	})
	return c
}

func (c *ackCutter) addr() string { return c.ln.Addr().String() }

func (c *ackCutter) serve(t *testing.T) {
	for {
		client, err := c.ln.Accept()
		if err != nil {
			return
		}
		first := c.conns.Add(1) == 1
		c.wg.Go(func() { c.relay(t, client, first) })
	}
}

// relay copies client to server as is, and server to client as is or, on the first
// connection, frame by frame: a lumberjack v2 server sends nothing but acknowledgements,
// each six bytes ('2', 'A', the sequence number).
func (c *ackCutter) relay(t *testing.T, client net.Conn, first bool) {
	server, err := net.Dial("tcp", c.target)
	if err != nil {
		client.Close()
		return
	}
	closeBoth := func() {
		client.Close()
		server.Close()
	}
	go func() {
		_, _ = io.Copy(server, client)
		closeBoth()
	}()
	if !first {
		_, _ = io.Copy(client, server)
		closeBoth()
		return
	}
	var ack [6]byte
	for {
		if _, err := io.ReadFull(server, ack[:]); err != nil {
			closeBoth()
			return
		}
		if ack[0] != '2' || ack[1] != 'A' {
			t.Errorf("sluice sent a frame %q, want a lumberjack v2 acknowledgement", ack[:2])
			closeBoth()
			return
		}
		if int(c.relayed.Load())+1 == c.lose {
			c.lost.Store(true)
			closeBoth()
			return
		}
		if _, err := client.Write(ack[:]); err != nil {
			closeBoth()
			return
		}
		c.relayed.Add(1)
	}
}
