package hostile

import (
	"net"
	"sync"
	"testing"
	"time"
)

// TestConnectionCaps opens more silent connections than each listener allows, all at
// once: 1,100 to gRPC and 1,100 to HTTP (grpc.max_connections and
// http.max_connections, default 1024 each) and 600 to lumberjack
// (lumberjack.max_connections, 512). The connections beyond each cap must be closed at
// once (here: within 3s, well before any idle or header timeout), and the process must
// stay up and serve afterwards.
func TestConnectionCaps(t *testing.T) {
	raiseNofile(t, 6000)
	p := start(t, spec{role: "gateway", lumberjack: true})
	floods := []struct {
		listener string
		conns    int
		limit    int
	}{
		{"grpc", 1100, 1024},
		{"http", 1100, 1024},
		{"lumberjack", 600, 512},
	}
	open := make([][]net.Conn, len(floods))
	for i, f := range floods {
		open[i] = silentConns(t, p.listener(f.listener), f.conns)
	}
	defer func() {
		for _, cs := range open {
			closeAll(cs)
		}
	}()
	closed := make([]int, len(floods))
	var wg sync.WaitGroup
	for i := range floods {
		wg.Go(func() { closed[i] = closedByServer(open[i], 3*time.Second) })
	}
	wg.Wait()
	for i, f := range floods {
		t.Run(f.listener, func(t *testing.T) {
			t.Logf("%d silent connections, %d closed by the server within 3s", len(open[i]), closed[i])
			if len(open[i]) != f.conns {
				t.Fatalf("only %d of %d connections could be opened", len(open[i]), f.conns)
			}
			if want := f.conns - f.limit; closed[i] < want {
				t.Errorf("%d of %d silent connections closed at once, want at least %d (%s.max_connections %d)", closed[i], f.conns, want, f.listener, f.limit)
			}
		})
	}
	for _, cs := range open {
		closeAll(cs)
	}
	p.requireUp(t)
	requireHealthy(t, p)
	requireGRPCServing(t, p)
	ljSendOK(t, p.listener("lumberjack"), 10)
	p.stop(t)
}

// TestFDBudget starts a gateway with a hard limit of 1,200 open files and floods one
// listener at a time with 1,500 silent connections: first gRPC, then HTTP. The
// file-descriptor budget shared by the listeners must keep headroom, so that the other
// listeners still serve: HTTP /healthz or the gRPC health service, and a real
// lumberjack client.
func TestFDBudget(t *testing.T) {
	const limit, flood = 1200, 1500
	raiseNofile(t, 4000)
	p := start(t, spec{role: "gateway", lumberjack: true, nofile: limit})

	// settle waits until the process's fd count stops moving (it accepts what it will).
	settle := func() int {
		last, same := -2, 0
		waitFor(5*time.Second, func() bool {
			n := p.fds()
			if n == last {
				same++
			} else {
				last, same = n, 0
			}
			return same >= 6
		})
		return last
	}

	t.Run("grpc flood", func(t *testing.T) {
		conns := silentConns(t, p.listener("grpc"), flood)
		defer closeAll(conns)
		fds := settle()
		t.Logf("%d silent gRPC connections; sluice holds %d fds (limit %d)", len(conns), fds, limit)
		p.requireUp(t)
		requireHealthy(t, p)
		ljSendOK(t, p.listener("lumberjack"), 10)
		p.requireUp(t)
	})
	closeAllWait := func() {
		waitFor(10*time.Second, func() bool { return p.fds() < 200 })
	}
	closeAllWait()
	t.Run("http flood", func(t *testing.T) {
		conns := silentConns(t, p.listener("http"), flood)
		defer closeAll(conns)
		fds := settle()
		t.Logf("%d silent HTTP connections; sluice holds %d fds (limit %d)", len(conns), fds, limit)
		p.requireUp(t)
		requireGRPCServing(t, p)
		ljSendOK(t, p.listener("lumberjack"), 10)
		p.requireUp(t)
	})
	closeAllWait()
	p.requireUp(t)
	requireHealthy(t, p)
	p.stop(t)
}
