package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
)

// listenLoopback listens on addr for command cmd after checkLoopback. On failure it
// prints why to stderr and returns the exit status: 2 for a refused address, 1 when
// listening fails.
func listenLoopback(ctx context.Context, cmd, addr string, allowRemote bool, stderr io.Writer) (net.Listener, int) {
	if err := checkLoopback(ctx, addr, allowRemote); err != nil {
		fmt.Fprintf(stderr, "sluice-load %s: %v\n", cmd, err)
		return nil, 2
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "sluice-load %s: %v\n", cmd, err)
		return nil, 1
	}
	return ln, 0
}

// checkLoopback refuses an address whose host is not a loopback address (or a name
// that resolves only to loopback addresses), unless allowRemote is set: the load
// generator and the baseline are for this machine only.
func checkLoopback(ctx context.Context, hostport string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("address %q: %w", hostport, err)
	}
	if allowRemote {
		return nil
	}
	if host == "" {
		return fmt.Errorf("address %q has no host: name 127.0.0.1 (or pass --allow-remote)", hostport)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if !a.IsLoopback() {
			return fmt.Errorf("address %q is not a loopback address: pass --allow-remote to target another machine", hostport)
		}
		return nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("resolve %q: %w", host, err)
	}
	for _, a := range addrs {
		if !a.Unmap().IsLoopback() {
			return fmt.Errorf("%q resolves to %s, not a loopback address: pass --allow-remote to target another machine", host, a)
		}
	}
	if len(addrs) == 0 {
		return fmt.Errorf("%q resolves to no address", host)
	}
	return nil
}

// countingConn counts the bytes written to a connection: the load's wire bytes,
// framing and compression included.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// dialCounting dials addr over TCP and counts what is written to it in n.
func dialCounting(ctx context.Context, addr string, n *atomic.Int64) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return countingConn{Conn: c, n: n}, nil
}
