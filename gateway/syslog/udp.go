package syslog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

// slabBytes is the size of the blocks the UDP reader copies datagrams into: one
// allocation for many datagrams. A block is freed when every message in it is ingested.
const slabBytes = 256 << 10

// maxSources bounds the cache of sender address strings of a UDP worker.
const maxSources = 4096

// udpMsg is one datagram in the queue: its message (trailer stripped), its sender and
// when it was read.
type udpMsg struct {
	data []byte
	from netip.AddrPort
	at   time.Time
}

// udpListener is the UDP socket, the reader that queues its datagrams, and the
// workers that ingest them.
type udpListener struct {
	cfg    UDPConfig
	max    int // max_message_bytes
	pc     *net.UDPConn
	queue  chan udpMsg
	closed atomic.Bool
	// queuedBytes is the bytes of the messages in the queue, bounded by
	// udp.queue_bytes.
	queuedBytes atomic.Int64
	attrs       listenerAttrs
	// base is the server's base context with the listener's principal.
	base context.Context
}

func newUDPListener(cfg UDPConfig, maxMessage int) *udpListener {
	return &udpListener{cfg: cfg, max: maxMessage, queue: make(chan udpMsg, cfg.QueueMessages)}
}

// listen binds the socket and sets its receive buffer.
func (u *udpListener) listen(log *slog.Logger) error {
	addr, err := net.ResolveUDPAddr("udp", u.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen syslog udp on %s: %w", u.cfg.Addr, err)
	}
	pc, err := net.ListenUDP("udp", addr)
	if err != nil {
		return fmt.Errorf("listen syslog udp on %s: %w", u.cfg.Addr, err)
	}
	if want := int(u.cfg.ReadBufferBytes); want > 0 {
		if err := pc.SetReadBuffer(want); err != nil {
			log.Warn("set syslog udp receive buffer", "want", want, "err", err)
		} else if got := readBuffer(pc); got > 0 && got < want {
			// Linux grants at most net.core.rmem_max (and reports twice what it grants).
			log.Info("syslog udp receive buffer smaller than udp.read_buffer_bytes: the system caps it (Linux: sysctl net.core.rmem_max)",
				"want", want, "got", got)
		}
	}
	u.pc = pc
	return nil
}

// close closes the socket: the reader ends, then closes the queue.
func (u *udpListener) close() {
	if u.pc != nil && u.closed.CompareAndSwap(false, true) {
		_ = u.pc.Close()
	}
}

// startUDP starts the UDP reader and workers.
func (s *Server) startUDP() {
	u := s.udp
	log := s.log.With("listener", listenerUDP)
	s.conns.Go(func() {
		defer close(u.queue)
		s.readUDP(u, log)
	})
	for range u.cfg.Workers {
		s.conns.Go(func() { s.udpWorker(u, log) })
	}
}

// readUDP reads datagrams into the queue until the socket is closed. It never waits
// for the queue: a datagram that does not fit is dropped and counted.
func (s *Server) readUDP(u *udpListener, log *slog.Logger) {
	buf := make([]byte, min(u.max, 65535)+1) // one byte more: a longer datagram shows
	var slab []byte
	var backoff time.Duration
	for {
		n, from, err := u.pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if u.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			if ok, _ := s.limiter.allow("udp_read"); ok {
				log.Warn("read syslog datagram", "err", err, "retry_in", backoff)
			}
			select {
			case <-time.After(backoff):
			case <-s.conns.Quit():
				return
			}
			continue
		}
		backoff = 0
		at := s.now()
		s.metrics.bytes.Add(context.Background(), int64(n), u.attrs.listener)
		if n > u.max {
			s.metrics.messages.Add(context.Background(), 1, u.attrs.tooLong)
			if ok, k := s.limiter.allow("too_long_udp"); ok {
				log.Warn("syslog datagram longer than max_message_bytes discarded", "max_message_bytes", u.max, "remote", from.String(), "discarded_since_last_line", k)
			}
			continue
		}
		msg := trimDatagram(buf[:n])
		if len(msg) == 0 {
			continue
		}
		if u.queuedBytes.Load()+int64(len(msg)) > int64(u.cfg.QueueBytes) || len(u.queue) == cap(u.queue) {
			s.dropUDP(log)
			continue
		}
		if cap(slab)-len(slab) < len(msg) {
			slab = make([]byte, 0, max(slabBytes, len(msg)))
		}
		from0 := len(slab)
		slab = append(slab, msg...)
		m := udpMsg{data: slab[from0:len(slab):len(slab)], from: from, at: at}
		u.queuedBytes.Add(int64(len(msg)))
		select {
		case u.queue <- m:
		default: // the workers' takes cannot make it fuller: only this reader sends
			u.queuedBytes.Add(-int64(len(msg)))
			s.dropUDP(log)
		}
	}
}

func (s *Server) dropUDP(log *slog.Logger) {
	s.metrics.udpDropped.Add(context.Background(), 1)
	if ok, n := s.limiter.allow("udp_dropped"); ok {
		log.Warn("syslog udp queue full, dropping datagrams: the gateway does not keep up (udp.queue_messages, udp.queue_bytes)",
			"queue_messages", s.udp.cfg.QueueMessages, "queue_bytes", s.udp.cfg.QueueBytes, "dropped_since_last_line", n)
	}
}

// trimDatagram strips a datagram's trailer: LF, CR and NUL bytes at its end.
func trimDatagram(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == 0) {
		b = b[:len(b)-1]
	}
	return b
}

// udpWorker takes messages from the queue in batches (what is queued, up to the batch
// bounds) and ingests them, until the queue is closed and empty. Once the server's
// context is canceled (Close, drain deadline) what is left is counted as lost.
func (s *Server) udpWorker(u *udpListener, log *slog.Logger) {
	sources := map[netip.AddrPort]string{}
	source := func(a netip.AddrPort) string {
		if str, ok := sources[a]; ok {
			return str
		}
		if len(sources) >= maxSources {
			clear(sources)
		}
		str := a.String()
		sources[a] = str
		return str
	}
	b := s.getBatch()
	defer s.putBatch(b)
	take := func(m udpMsg) {
		u.queuedBytes.Add(-int64(len(m.data)))
		s.add(b, m.data, source(m.from), m.at)
	}
	for m := range u.queue {
		take(m)
	more:
		for !s.full(b) {
			select {
			case m, ok := <-u.queue:
				if !ok {
					break more
				}
				take(m)
			default:
				break more
			}
		}
		s.ingest(u.base, &u.attrs, listenerUDP, b, log)
		b.reset()
	}
}
