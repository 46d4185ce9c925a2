package syslog

import (
	"context"
	"errors"
	"net"

	"github.com/sluice-siem/sluice/internal/background"
)

// Start binds the configured addresses, if Listen has not, and serves in the
// background until Shutdown (not until ctx ends), as Run does; it logs each address it
// listens on.
func (s *Server) Start(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	if err := s.work.Start(ctx, s.Run, s.fatal); err != nil {
		return err
	}
	for _, l := range []struct {
		name string
		addr net.Addr
	}{{listenerTCP, s.TCPAddr()}, {listenerTLS, s.TLSAddr()}, {listenerUDP, s.UDPAddr()}} {
		if l.addr != nil {
			s.log.Info("syslog listening", "listener", l.name, "addr", l.addr.String())
		}
	}
	return nil
}

// Shutdown stops the server gracefully, as Run does when its context ends: it stops
// accepting and reading, lets every connection ingest what it has read and the UDP
// workers drain their queue for at most Options.DrainTimeout, and waits for that until
// ctx ends; then it closes what is left (Close: those messages are counted as lost).
// Without Start it closes the listeners. It is safe to call twice.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.work.Stop(ctx)
	if errors.Is(err, background.ErrRunning) {
		err = nil
	}
	_ = s.Close()
	s.work.Wait()
	return err
}
