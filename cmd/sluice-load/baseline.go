package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	lumberlog "github.com/elastic/go-lumber/log"
	ljserver "github.com/elastic/go-lumber/server/v2"
)

// quietLog silences go-lumber's package logger, which prints a line per connection.
type quietLog struct{}

func (quietLog) Printf(string, ...any) {}
func (quietLog) Println(...any)        {}
func (quietLog) Print(...any)          {}

// baselineLumberjack serves go-lumber's stock v2 server on ln until ctx ends: the
// baseline of the lumberjack scenario. Every batch is acknowledged as soon as the
// server hands it over (decoded into maps by the library), the best a Logstash-like
// server built on the library could do with a null output.
func baselineLumberjack(ctx context.Context, ln net.Listener, timeout time.Duration, verbose bool, stderr io.Writer) error {
	if !verbose {
		lumberlog.Logger = quietLog{} // the library's own package-level logger
	}
	srv, err := ljserver.NewWithListener(ln, ljserver.Timeout(timeout))
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("start go-lumber server: %w", err)
	}
	fmt.Fprintf(stderr, "sluice-load baseline-lumberjack: go-lumber server/v2 listening on %s\n", ln.Addr())
	var batches, events atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range srv.ReceiveChan() {
			batches.Add(1)
			events.Add(int64(len(b.Events)))
			b.ACK()
		}
	}()
	<-ctx.Done()
	err = srv.Close()
	<-done
	fmt.Fprintf(stderr, "sluice-load baseline-lumberjack: stopped after %d batches, %d events\n", batches.Load(), events.Load())
	if err != nil {
		return fmt.Errorf("stop go-lumber server: %w", err)
	}
	return nil
}
