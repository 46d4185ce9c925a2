package rsyslogtest_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/internal/rsyslogtest"
	"github.com/sluice-siem/sluice/internal/testcerts"
)

// messages is how many messages each delivery test sends.
const messages = 10_000

// patience bounds every wait for messages to arrive.
const patience = 60 * time.Second

// tally counts how often each sequence number is in lines, and the lines without one.
func tally(lines []string) (seen map[int]int, strays int) {
	seen = make(map[int]int)
	for _, l := range lines {
		n, ok := rsyslogtest.Seq(l)
		if !ok {
			strays++
			continue
		}
		seen[n]++
	}
	return seen, strays
}

// missing lists the numbers of 0..n-1 that are not in seen (at most 10 of them).
func missing(seen map[int]int, n int) (count int, some []int) {
	for i := range n {
		if seen[i] == 0 {
			count++
			if len(some) < 10 {
				some = append(some, i)
			}
		}
	}
	return count, some
}

// waitAll waits until the receivers have written every message numbered 0..total-1
// between them, and fails the test if some are still missing after patience. It
// returns how often each number was written.
func waitAll(t *testing.T, total int, rs ...*rsyslogtest.Receiver) map[int]int {
	t.Helper()
	deadline := time.Now().Add(patience)
	last := rs[len(rs)-1]
	for {
		var lines []string
		for _, r := range rs {
			lines = append(lines, r.Lines()...)
		}
		seen, strays := tally(lines)
		lost, some := missing(seen, total)
		if strays > 0 {
			t.Fatalf("%d lines without a sequence number", strays)
		}
		if lost == 0 {
			return seen
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages never arrived (%v...)", lost, total, some)
		}
		last.WaitCount(last.Count()+1, time.Second)
	}
}

func duplicates(seen map[int]int) int {
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	return dups
}

type setup struct {
	name    string
	forward rsyslogtest.Forward
	receive rsyslogtest.Receive
}

func setups(t *testing.T) []setup {
	certs := testcerts.New(t)
	server := &rsyslogtest.TLSFiles{CAFile: certs.CAFile, CertFile: certs.ServerCert, KeyFile: certs.ServerKey}
	mutual := *server
	mutual.RequireClientCert = true
	clientCert, clientKey := rsyslogtest.WriteKeyPair(t, certs.Client)
	anon := &rsyslogtest.TLSFiles{CAFile: certs.CAFile}
	withCert := &rsyslogtest.TLSFiles{CAFile: certs.CAFile, CertFile: clientCert, KeyFile: clientKey}
	return []setup{
		{"tcp octet-counted", rsyslogtest.Forward{Protocol: rsyslogtest.TCP}, rsyslogtest.Receive{Protocol: rsyslogtest.TCP}},
		{"tcp traditional", rsyslogtest.Forward{Protocol: rsyslogtest.TCP, Framing: rsyslogtest.Traditional, Template: rsyslogtest.ForwardFormat},
			rsyslogtest.Receive{Protocol: rsyslogtest.TCP}},
		{"udp", rsyslogtest.Forward{Protocol: rsyslogtest.UDP}, rsyslogtest.Receive{Protocol: rsyslogtest.UDP}},
		{"tls", rsyslogtest.Forward{Protocol: rsyslogtest.TLS, TLS: anon}, rsyslogtest.Receive{Protocol: rsyslogtest.TLS, TLS: server}},
		{"tls mutual", rsyslogtest.Forward{Protocol: rsyslogtest.TLS, TLS: withCert},
			rsyslogtest.Receive{Protocol: rsyslogtest.TLS, TLS: &mutual}},
		{"relp", rsyslogtest.Forward{Protocol: rsyslogtest.RELP}, rsyslogtest.Receive{Protocol: rsyslogtest.RELP}},
		{"relp tls", rsyslogtest.Forward{Protocol: rsyslogtest.RELP, TLS: withCert}, rsyslogtest.Receive{Protocol: rsyslogtest.RELP, TLS: server}},
		{"relp tls mutual", rsyslogtest.Forward{Protocol: rsyslogtest.RELP, TLS: withCert},
			rsyslogtest.Receive{Protocol: rsyslogtest.RELP, TLS: &mutual}},
	}
}

// An rsyslog client delivers every message to an rsyslog receiver, exactly once, over
// every protocol; over UDP, most of them.
func TestDelivery(t *testing.T) {
	t.Parallel()
	rsyslogtest.Rsyslogd(t)
	for _, s := range setups(t) {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel() // RELP is bound by acknowledgement round trips, not CPU
			r := rsyslogtest.StartReceiver(t, s.receive)
			s.forward.Addr = r.Addr()
			c := rsyslogtest.Start(t, s.forward)
			start := time.Now()
			if err := c.Send(rsyslogtest.Messages(s.name, 0, messages)...); err != nil {
				t.Fatal(err)
			}
			if s.forward.Protocol == rsyslogtest.UDP {
				// Nothing tells a UDP sender what arrived: wait until rsyslog has sent
				// everything, then for the receiver to catch up.
				c.WaitDrained(patience)
				got := r.WaitCount(messages, 3*time.Second)
				t.Logf("udp: %d of %d messages arrived (%v)", got, messages, time.Since(start))
				if got < messages*9/10 {
					t.Fatalf("only %d of %d messages arrived over udp", got, messages)
				}
				return
			}
			got := r.WaitCount(messages, patience)
			elapsed := time.Since(start)
			stats := c.WaitDrained(patience)
			seen, strays := tally(r.Lines())
			lost, some := missing(seen, messages)
			dups := duplicates(seen)
			t.Logf("%s: %d messages in %v (%.0f/s); client stats %+v", s.name, got, elapsed, float64(got)/elapsed.Seconds(), stats)
			if lost > 0 || dups > 0 || strays > 0 || r.Count() != messages {
				t.Fatalf("%d messages written, %d lost (%v...), %d duplicates, %d lines without a sequence number",
					r.Count(), lost, some, dups, strays)
			}
			if stats.Submitted != messages {
				t.Errorf("rsyslog reports %d messages submitted, want %d", stats.Submitted, messages)
			}
		})
	}
}

// The message arrives as rsyslog forwarded it: the receiver's file holds the RFC 5424
// fields the test sent.
func TestForwardsAsReceived(t *testing.T) {
	t.Parallel()
	r := rsyslogtest.StartReceiver(t, rsyslogtest.Receive{Protocol: rsyslogtest.TCP})
	c := rsyslogtest.Start(t, rsyslogtest.Forward{Protocol: rsyslogtest.TCP, Addr: r.Addr()})
	if err := c.Send("<165>1 2026-01-02T03:04:05.678Z myhost myapp 1234 ID47 [ex@32473 k=\"v\"] hello world"); err != nil {
		t.Fatal(err)
	}
	if got := r.WaitCount(1, patience); got != 1 {
		t.Fatalf("%d messages arrived, want 1", got)
	}
	want := "<165>1 2026-01-02T03:04:05.678Z myhost myapp 1234 ID47 [ex@32473 k=\"v\"] hello world"
	if got := r.Lines()[0]; got != want {
		t.Errorf("receiver wrote\n%q, want\n%q", got, want)
	}
}

// A client started before its receiver keeps every message until the receiver is
// there (action.resumeRetryCount="-1", an in-memory queue).
func TestReceiverLate(t *testing.T) {
	t.Parallel()
	for _, p := range []rsyslogtest.Protocol{rsyslogtest.TCP, rsyslogtest.RELP} {
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			r1 := rsyslogtest.StartReceiver(t, rsyslogtest.Receive{Protocol: p})
			port := r1.Port()
			r1.Stop() // the port is free again, and nothing listens there
			c := rsyslogtest.Start(t, rsyslogtest.Forward{Protocol: p, Addr: r1.Addr()})
			if err := c.Send(rsyslogtest.Messages("late", 0, 1000)...); err != nil {
				t.Fatal(err)
			}
			// The receiver starts only once rsyslog has found nobody there (its action
			// suspended): otherwise a slow first connection attempt would meet it.
			deadline := time.Now().Add(patience)
			for {
				if s, ok := c.Stats(); ok && s.Suspended > 0 || strings.Contains(readFile(t, c.LogFile()), "suspended") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("rsyslog's action was never suspended with no receiver listening")
				}
				time.Sleep(50 * time.Millisecond)
			}
			r2 := rsyslogtest.StartReceiver(t, rsyslogtest.Receive{Protocol: p, Port: port})
			seen := waitAll(t, 1000, r2)
			t.Logf("%d messages written for 1000 sent: %d duplicates", r2.Count(), duplicates(seen))
			c.WaitDrained(patience)
		})
	}
}

// TLS is verified both ways: a receiver that requires client certificates gets
// nothing from a client without one or with one another CA signed, and a client gets
// nothing to a server whose certificate lacks the name it wants. The client keeps the
// messages meanwhile (nothing discarded).
func TestTLSRefuses(t *testing.T) {
	t.Parallel()
	rsyslogtest.Rsyslogd(t)
	certs := testcerts.New(t)
	server := rsyslogtest.TLSFiles{CAFile: certs.CAFile, CertFile: certs.ServerCert, KeyFile: certs.ServerKey}
	requiring := server
	requiring.RequireClientCert = true
	strangerCert, strangerKey := rsyslogtest.WriteKeyPair(t, certs.Stranger)
	clientCert, clientKey := rsyslogtest.WriteKeyPair(t, certs.Client)
	stranger := &rsyslogtest.TLSFiles{CAFile: certs.CAFile, CertFile: strangerCert, KeyFile: strangerKey}
	wrongName := &rsyslogtest.TLSFiles{CAFile: certs.CAFile, CertFile: clientCert, KeyFile: clientKey, ServerName: "elsewhere.test"}
	for _, c := range []struct {
		name   string
		proto  rsyslogtest.Protocol
		client *rsyslogtest.TLSFiles
		server rsyslogtest.TLSFiles
	}{
		{"tls without client cert", rsyslogtest.TLS, &rsyslogtest.TLSFiles{CAFile: certs.CAFile}, requiring},
		{"tls stranger cert", rsyslogtest.TLS, stranger, requiring},
		{"tls wrong server name", rsyslogtest.TLS, wrongName, server},
		{"relp stranger cert", rsyslogtest.RELP, stranger, requiring},
		{"relp wrong server name", rsyslogtest.RELP, wrongName, server},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := rsyslogtest.StartReceiver(t, rsyslogtest.Receive{Protocol: c.proto, TLS: &c.server})
			cl := rsyslogtest.Start(t, rsyslogtest.Forward{Protocol: c.proto, Addr: r.Addr(), TLS: c.client})
			if err := cl.Send(rsyslogtest.Messages("refused", 0, 10)...); err != nil {
				t.Fatal(err)
			}
			// One side refuses the other (the receiver logs an error, or the client
			// suspends its action), and nothing arrives meanwhile.
			deadline := time.Now().Add(patience)
			for !refused(readFile(t, r.LogFile()) + readFile(t, cl.LogFile())) {
				if time.Now().After(deadline) {
					t.Fatalf("neither side refused the other within %v\nreceiver:\n%s\nclient:\n%s", patience, r.Log(), cl.Log())
				}
				time.Sleep(10 * time.Millisecond)
			}
			if got := r.WaitCount(1, 500*time.Millisecond); got != 0 {
				t.Fatalf("%d messages arrived", got)
			}
			if s, ok := cl.Stats(); ok && s.Discarded > 0 {
				t.Errorf("the client discarded messages: %+v", s)
			}
		})
	}
}

// refused reports whether rsyslog's logs tell of a refused connection.
func refused(logs string) bool {
	for _, s := range []string{"suspended", "error", "not permitted"} {
		if strings.Contains(logs, s) {
			return true
		}
	}
	return false
}

// RELP resends what the receiver did not acknowledge. The first receiver is frozen
// (SIGSTOP) in the middle of the stream until the client has frames in flight that it
// cannot have read, let alone acknowledged, then killed (SIGKILL): those frames die
// with it, and a new receiver on the same port must get them. Between the two, every
// message arrives (duplicates allowed).
func TestRELPResendsAfterReceiverKilled(t *testing.T) {
	t.Parallel()
	for _, tls := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tls), func(t *testing.T) {
			t.Parallel()
			var fwd rsyslogtest.Forward
			var rcv rsyslogtest.Receive
			if tls {
				certs := testcerts.New(t)
				cert, key := rsyslogtest.WriteKeyPair(t, certs.Client)
				fwd.TLS = &rsyslogtest.TLSFiles{CAFile: certs.CAFile, CertFile: cert, KeyFile: key}
				rcv.TLS = &rsyslogtest.TLSFiles{CAFile: certs.CAFile, CertFile: certs.ServerCert, KeyFile: certs.ServerKey}
			}
			rcv.Protocol, fwd.Protocol = rsyslogtest.RELP, rsyslogtest.RELP
			r1 := rsyslogtest.StartReceiver(t, rcv)
			fwd.Addr = r1.Addr()
			c := rsyslogtest.Start(t, fwd)

			const total = messages
			if err := c.Send(rsyslogtest.Messages("resend", 0, total)...); err != nil {
				t.Fatal(err)
			}
			if got := r1.WaitCount(total/10, patience); got < total/10 {
				t.Fatalf("only %d messages arrived before the freeze", got)
			}
			r1.Freeze()
			inFlight := waitUnread(t, r1.PID())
			r1.Kill()
			before := r1.Count()

			rcv.Port = r1.Port()
			r2 := rsyslogtest.StartReceiver(t, rcv)
			seen := waitAll(t, total, r1, r2)
			t.Logf("froze the first receiver with %d of %d messages written and %d bytes in flight, killed it; "+
				"the second wrote %d; %d duplicates", before, total, inFlight, r2.Count(), duplicates(seen))
			if before >= total {
				t.Errorf("the first receiver had every message before it was killed: nothing was in flight")
			}
		})
	}
}

// waitUnread waits until the process has bytes in a TCP connection that it has not
// read, and returns how many.
func waitUnread(t *testing.T, pid int) int64 {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		n, err := rsyslogtest.Unread(pid)
		if err == nil && n > 0 {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing in flight to PID %d after %v (%v)", pid, patience, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(data)
}
