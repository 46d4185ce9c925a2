// Package connserve is the TCP server skeleton the gateway's stream receivers share
// (lumberjack, RELP, syslog): binding, the accept loop, tracking the live connections
// against a limit, and the two ways to stop.
//
// Contracts:
//
//   - Stop (a graceful stop) closes the listeners and interrupts every connection once:
//     Conn.Interrupt asks it to end after its current unit of work (a window, a batch),
//     and to end now if it is idle. New connections are refused from then on.
//   - CloseConns closes every connection's socket now (Conn.Close); work in progress
//     is lost unless the protocol lets the client resend it.
//   - Wait lets the connections (and goroutines started with Go) finish for a bounded
//     time, then runs the caller's deadline action and waits for them to end.
//
// Group holds the connections and the stopping state; Server adds one listener and the
// lifecycle that lumberjack and RELP share (Run/Close, and Start/Shutdown around them).
// The syslog receiver, with two TCP listeners, per-listener limits and UDP, uses Group
// directly.
package connserve

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Conn is one served connection.
type Conn interface {
	// Serve runs the connection until it ends; it is called on its own goroutine.
	Serve()
	// Interrupt asks the connection to end after its current unit of work, and now if
	// it is waiting for input. It may be called more than once, concurrently with
	// Serve.
	Interrupt()
	// Close closes the connection's socket now.
	Close() error
}

// Group tracks live connections and the stopping state. The zero value is not
// usable; create it with NewGroup.
type Group struct {
	mu     sync.Mutex
	conns  map[Conn]struct{}
	wg     sync.WaitGroup // connections and goroutines started with Go
	nextID uint64
	// stopping is set once: no new connections; connections end after their unit.
	stopping atomic.Bool
	quit     chan struct{} // closed when stopping is set
}

// NewGroup returns an empty group, not stopping.
func NewGroup() *Group {
	return &Group{conns: map[Conn]struct{}{}, quit: make(chan struct{})}
}

// Stopping reports whether Stop was called.
func (g *Group) Stopping() bool { return g.stopping.Load() }

// Quit is closed when Stop is first called.
func (g *Group) Quit() <-chan struct{} { return g.quit }

// Go runs f on a goroutine that Wait waits for.
func (g *Group) Go(f func()) {
	g.wg.Go(f)
}

// Stop marks the group stopping and, the first time, calls closeListeners (with the
// group's lock held, so no connection starts meanwhile); then it interrupts every
// connection.
func (g *Group) Stop(closeListeners func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.stopping.Load() {
		g.stopping.Store(true)
		close(g.quit)
		if closeListeners != nil {
			closeListeners()
		}
	}
	for c := range g.conns {
		c.Interrupt()
	}
}

// CloseConns closes every live connection now.
func (g *Group) CloseConns() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for c := range g.conns {
		_ = c.Close()
	}
}

// Start serves a new connection on its own goroutine, unless the group is stopping
// or open has reached maxConns; then it reports full (false while stopping), and the
// caller closes the connection. newConn gets the connection's id, unique in the group.
// open counts the live connections of the caller's limit: it is incremented when the
// connection starts and decremented when Serve returns.
func (g *Group) Start(open *atomic.Int64, maxConns int, newConn func(id uint64) Conn) (started, full bool) {
	g.mu.Lock()
	if g.stopping.Load() || open.Load() >= int64(maxConns) {
		full = !g.stopping.Load()
		g.mu.Unlock()
		return false, full
	}
	g.nextID++
	c := newConn(g.nextID)
	g.conns[c] = struct{}{}
	open.Add(1)
	g.wg.Add(1)
	g.mu.Unlock()
	go func() {
		defer g.wg.Done()
		defer func() {
			g.mu.Lock()
			delete(g.conns, c)
			open.Add(-1)
			g.mu.Unlock()
		}()
		c.Serve()
	}()
	return true, false
}

// Wait waits for the connections and the goroutines of Go to end. If they have not
// after timeout, it calls atDeadline (which should close them) and waits on. It
// reports whether they ended in time.
func (g *Group) Wait(timeout time.Duration, atDeadline func()) bool {
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		atDeadline()
		<-done
		return false
	}
}

// Accept runs the accept loop of ln until it is closed, handing each connection to
// serve. Temporary errors (out of file descriptors and the like) are reported to warn
// and retried with a backoff of up to a second. It returns nil once the group is
// stopping, or the error that ended the loop otherwise.
func (g *Group) Accept(ln net.Listener, serve func(net.Conn), warn func(err error, retryIn time.Duration)) error {
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if g.stopping.Load() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && !errors.Is(err, net.ErrClosed) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				warn(err, backoff)
				select {
				case <-time.After(backoff):
				case <-g.quit:
				}
				continue
			}
			return err
		}
		backoff = 0
		serve(nc)
	}
}

// DeadlineReader is a connection as a receiver's decoder reads it: while a unit of
// work is in progress (Timeout set) every read gets a fresh read deadline, so a client
// that stalls mid-frame is cut off, and the bytes read are counted in N.
type DeadlineReader struct {
	Conn    net.Conn
	Timeout time.Duration // 0 leaves the deadline as it is
	N       int64
}

// Read reads from Conn, first moving its read deadline when Timeout is set.
func (r *DeadlineReader) Read(p []byte) (int, error) {
	if r.Timeout > 0 {
		_ = r.Conn.SetReadDeadline(time.Now().Add(r.Timeout))
	}
	n, err := r.Conn.Read(p)
	r.N += int64(n)
	return n, err
}
