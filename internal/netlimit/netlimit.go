// Package netlimit bounds the connections a process holds open, below the receivers of
// step receive of the data path (and the transform role's HTTP listener): input is
// bounded before it is parsed, connections included.
//
// A Group is the process's limits: a budget of connections that all its listeners
// share, sized from the file-descriptor limit (FDBudget) so that a flood on one protocol
// cannot take the descriptors every other listener, file and outbound connection
// (Kinesis, the search engine, lookup databases) needs. Half the budget is reserved in
// equal shares for the listeners (at most each one's own cap): a listener takes a
// connection only if the others' unused shares stay free, so a flood on one listener
// leaves the others room. A Listener made by the Group caps its own open connections
// too. Contracts:
//
//   - A connection over a cap or the budget is accepted and closed at once, never left
//     in the kernel's backlog (where it would hold a queue slot and its client would
//     wait for nothing); it is counted (sluice_listener_refused by listener and reason)
//     and logged at most once per interval per listener, with the number refused since.
//   - Accept errors that pass (out of file descriptors, buffers, memory; aborted
//     connections) are retried after a backoff of 5 ms doubling to 1 s, logged at most
//     once per interval: Accept never spins and never returns them, so no server stops
//     on them. Close ends a wait at once.
//   - A connection Accept returns holds one slot of its listener and of the budget until
//     it is closed; closing it twice releases them once.
package netlimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sluice-siem/sluice/internal/instruments"
)

// Why a connection is refused: the reason attribute of sluice_listener_refused.
const (
	// ReasonMaxConnections is a listener at its own cap (http.max_connections, ...).
	ReasonMaxConnections = "max_connections"
	// ReasonBudget is the process's connection budget spent by all listeners together.
	ReasonBudget = "fd_budget"
)

// Backoff of the retries of failed accepts, as net/http's: from minBackoff, doubling,
// at most maxBackoff.
const (
	minBackoff = 5 * time.Millisecond
	maxBackoff = time.Second
)

// GroupOptions configure a Group; zero fields get defaults.
type GroupOptions struct {
	// Budget is how many connections all the Group's listeners may hold open together
	// (see FDBudget); 0 or less means no budget, only each listener's own cap.
	Budget int
	// Logger receives the refusals and accept errors; nil discards.
	Logger *slog.Logger
	// Meter makes the instruments; nil means no metrics.
	Meter metric.Meter
	// LogInterval is the least time between two log lines of one listener about
	// refused connections, and about accept errors; 10 s when zero.
	LogInterval time.Duration
}

// Group is the connection limits of one process: the shared budget, the metrics and the
// log of refusals. Its methods are safe for concurrent use.
type Group struct {
	budget   int64
	used     atomic.Int64
	log      *slog.Logger
	interval time.Duration

	refused      metric.Int64Counter
	acceptErrors metric.Int64Counter

	mu        sync.Mutex
	listeners []*Listener // open ones, for the connections gauge
}

// NewGroup returns the limits of a process.
func NewGroup(opts GroupOptions) (*Group, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.LogInterval <= 0 {
		opts.LogInterval = 10 * time.Second
	}
	g := &Group{budget: int64(max(opts.Budget, 0)), log: opts.Logger, interval: opts.LogInterval}
	in := instruments.New(opts.Meter, "github.com/sluice-siem/sluice/internal/netlimit")
	g.refused = in.Counter("sluice_listener_refused", "{connection}",
		"Connections accepted and closed at once, by listener and reason: max_connections (the listener's cap) or fd_budget (the connections all listeners may hold together, from the file-descriptor limit).")
	g.acceptErrors = in.Counter("sluice_listener_accept_errors", "{error}",
		"Failed accepts that were retried after a backoff (out of file descriptors, buffers or memory), by listener.")
	_, err := in.Meter().Int64ObservableGauge("sluice_listener_connections", metric.WithUnit("{connection}"),
		metric.WithDescription("Open connections, by listener."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			g.mu.Lock()
			defer g.mu.Unlock()
			for _, l := range g.listeners {
				o.Observe(l.open.Load(), l.attrs)
			}
			return nil
		}))
	in.Add(err)
	_, err = in.Meter().Int64ObservableGauge("sluice_listener_connection_budget", metric.WithUnit("{connection}"),
		metric.WithDescription("Connections all listeners may hold open together (0: no budget)."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(g.budget)
			return nil
		}))
	in.Add(err)
	if err := in.Err("listener"); err != nil {
		return nil, err
	}
	return g, nil
}

// InUse returns the connections the Group's listeners hold open together.
func (g *Group) InUse() int { return int(g.used.Load()) }

// Open returns the connections open now on the Group's listeners named name.
func (g *Group) Open(name string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	var n int64
	for _, l := range g.listeners {
		if l.name == name {
			n += l.open.Load()
		}
	}
	return int(n)
}

// acquire takes one connection of the budget for l, if one is left once the unused
// reserves of the other listeners are set aside: half the budget is reserved, in equal
// shares (at most a listener's own cap), so that a flood on one listener leaves every
// other one its share.
func (g *Group) acquire(l *Listener) bool {
	if g.budget <= 0 {
		g.used.Add(1)
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	held := g.used.Load()
	share := g.budget / int64(2*max(len(g.listeners), 1))
	for _, k := range g.listeners {
		if k == l {
			continue
		}
		r := share
		if k.max > 0 {
			r = min(r, k.max)
		}
		if open := k.open.Load(); open < r {
			held += r - open
		}
	}
	if held >= g.budget {
		return false
	}
	g.used.Add(1)
	return true
}

func (g *Group) release() { g.used.Add(-1) }

// Listen binds a TCP address and returns its listener wrapped as Wrap does (a
// *Listener; nil, not a nil *Listener, on error).
func (g *Group) Listen(name, addr string, maxConns int) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return g.Wrap(name, ln, maxConns), nil
}

// Wrap returns ln limited to maxConns open connections (0 or less: only the budget),
// counted under name (the listener attribute: http, grpc, lumberjack) against the
// Group's budget. The Listener owns ln: closing it closes ln.
func (g *Group) Wrap(name string, ln net.Listener, maxConns int) *Listener {
	l := &Listener{
		Listener: ln,
		g:        g,
		name:     name,
		max:      int64(max(maxConns, 0)),
		closed:   make(chan struct{}),
		attrs:    metric.WithAttributeSet(attribute.NewSet(attribute.String("listener", name))),
		refusedAttrs: map[string]metric.AddOption{
			ReasonMaxConnections: metric.WithAttributeSet(attribute.NewSet(attribute.String("listener", name), attribute.String("reason", ReasonMaxConnections))),
			ReasonBudget:         metric.WithAttributeSet(attribute.NewSet(attribute.String("listener", name), attribute.String("reason", ReasonBudget))),
		},
	}
	g.mu.Lock()
	g.listeners = append(g.listeners, l)
	g.mu.Unlock()
	return l
}

// Listener is a net.Listener whose Accept enforces the limits: see the package
// documentation.
type Listener struct {
	net.Listener
	g    *Group
	name string
	max  int64
	open atomic.Int64

	closeOnce sync.Once
	closed    chan struct{}

	attrs        metric.MeasurementOption
	refusedAttrs map[string]metric.AddOption // by reason; read only

	// The log of refusals and of accept errors: the time of the last line (unix
	// nanoseconds) and what happened since.
	lastRefusedLog atomic.Int64
	refusedSince   atomic.Int64
	lastErrorLog   atomic.Int64
	errorsSince    atomic.Int64
}

// Open returns the connections of this listener open now.
func (l *Listener) Open() int { return int(l.open.Load()) }

// Accept returns the next connection within the limits: it closes those over them, and
// retries accept errors that pass after a backoff. It returns an error only once the
// listener is closed or fails for good.
func (l *Listener) Accept() (net.Conn, error) {
	var backoff time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if l.isClosed() && !errors.Is(err, net.ErrClosed) {
				// Closed while the accept failed: the close is the answer, not the failure.
				return nil, fmt.Errorf("accept %s connection: %w", l.name, net.ErrClosed)
			}
			if errors.Is(err, net.ErrClosed) || !temporary(err) {
				return nil, err
			}
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			l.g.acceptErrors.Add(context.Background(), 1, l.attrs)
			l.logAcceptError(err, backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-l.closed:
				t.Stop()
				return nil, fmt.Errorf("accept %s connection: %w", l.name, net.ErrClosed)
			}
			continue
		}
		backoff = 0
		if reason := l.admit(); reason != "" {
			// Counted before the close, so the count is there when the client sees it.
			l.g.refused.Add(context.Background(), 1, l.refusedAttrs[reason])
			l.logRefused(reason, c.RemoteAddr())
			_ = c.Close()
			continue
		}
		return &conn{Conn: c, l: l}, nil
	}
}

// admit takes a slot of the listener and of the budget, or says why it cannot.
func (l *Listener) admit() (reason string) {
	if n := l.open.Add(1); l.max > 0 && n > l.max {
		l.open.Add(-1)
		return ReasonMaxConnections
	}
	if !l.g.acquire(l) {
		l.open.Add(-1)
		return ReasonBudget
	}
	return ""
}

func (l *Listener) release() {
	l.open.Add(-1)
	l.g.release()
}

// Close closes the listener, ending an Accept that waits to retry; connections stay
// open (their servers close them).
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		close(l.closed)
		l.g.mu.Lock()
		l.g.listeners = slices.DeleteFunc(l.g.listeners, func(x *Listener) bool { return x == l })
		l.g.mu.Unlock()
	})
	return l.Listener.Close()
}

func (l *Listener) isClosed() bool {
	select {
	case <-l.closed:
		return true
	default:
		return false
	}
}

// logRefused logs refused connections, at most once per interval with the number
// refused since the last line, so that a flood of connections does not flood the log.
func (l *Listener) logRefused(reason string, remote net.Addr) {
	n := l.refusedSince.Add(1)
	if !l.due(&l.lastRefusedLog) {
		return
	}
	l.refusedSince.Add(-n)
	what := fmt.Sprintf("%s.max_connections (%d) reached", l.name, l.max)
	if reason == ReasonBudget {
		what = fmt.Sprintf("connection budget of all listeners (%d, from the file-descriptor limit) spent", l.g.budget)
	}
	l.g.log.Warn("connections refused: "+what, "listener", l.name, "reason", reason,
		"refused", n, "remote", remote.String(), "open", l.open.Load(), "in_use", l.g.used.Load())
}

// logAcceptError logs failed accepts at most once per interval, with their number.
func (l *Listener) logAcceptError(err error, retryIn time.Duration) {
	n := l.errorsSince.Add(1)
	if !l.due(&l.lastErrorLog) {
		return
	}
	l.errorsSince.Add(-n)
	l.g.log.Warn("accept connection, retrying", "listener", l.name, "err", err, "errors", n, "retry_in", retryIn)
}

// due reports whether a log line may be written now, given the time of the last one,
// and if so records now as that time.
func (l *Listener) due(last *atomic.Int64) bool {
	now := time.Now().UnixNano()
	prev := last.Load()
	if prev != 0 && now-prev < int64(l.g.interval) {
		return false
	}
	return last.CompareAndSwap(prev, now)
}

// conn is an accepted connection; closing it releases its slots, once.
type conn struct {
	net.Conn
	l        *Listener
	released atomic.Bool
}

// Close closes the connection and releases its slots of the listener and the budget.
func (c *conn) Close() error {
	err := c.Conn.Close()
	if c.released.CompareAndSwap(false, true) {
		c.l.release()
	}
	return err
}

// CloseWrite shuts down the writing side of the connection, where it has one (TCP):
// net/http does so before it closes a connection whose request it did not read to the
// end, so that the client gets the answer rather than a reset.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return &net.OpError{Op: "close", Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: errors.ErrUnsupported}
}
