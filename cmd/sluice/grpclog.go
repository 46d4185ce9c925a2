package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
)

// grpcLog is where grpc-go and grpc-gateway log (through grpclog): the logger of the
// role that runs, as structured lines, instead of grpclog's own unstructured lines on
// stderr.
//
// It is the one package-level variable of sluice, because grpclog's logger is itself
// one: grpclog.SetLoggerV2 sets it for the whole process, must be called before any
// gRPC function and is not safe to call while gRPC runs. So main sets it once, before
// anything else (tests, which call run many times, leave grpclog's default), and serve
// points it at its logger once it has one (use).
var grpcLog = &grpcLogger{}

// grpcLogger is a grpclog.LoggerV2 writing to a slog logger: grpc's INFO lines (per
// connection and call, and numerous) at debug level, WARNING at warn, ERROR and FATAL
// at error. Until use gives it a logger, it writes grpc's warnings and errors as text
// on stderr.
type grpcLogger struct {
	log atomic.Pointer[slog.Logger]
}

// use makes l the destination of grpc's logging.
func (g *grpcLogger) use(l *slog.Logger) { g.log.Store(l.With("component", "grpclog")) }

func (g *grpcLogger) logger() *slog.Logger {
	if l := g.log.Load(); l != nil {
		return l
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func (g *grpcLogger) emit(level slog.Level, msg string) {
	g.logger().Log(context.Background(), level, msg)
}

// Info logs at debug level, as Infoln and Infof do.
func (g *grpcLogger) Info(args ...any) { g.emit(slog.LevelDebug, fmt.Sprint(args...)) }

// Infoln logs at debug level.
func (g *grpcLogger) Infoln(args ...any) { g.emit(slog.LevelDebug, sprintln(args...)) }

// Infof logs at debug level.
func (g *grpcLogger) Infof(format string, args ...any) {
	g.emit(slog.LevelDebug, fmt.Sprintf(format, args...))
}

// Warning logs at warn level, as Warningln and Warningf do.
func (g *grpcLogger) Warning(args ...any) { g.emit(slog.LevelWarn, fmt.Sprint(args...)) }

// Warningln logs at warn level.
func (g *grpcLogger) Warningln(args ...any) { g.emit(slog.LevelWarn, sprintln(args...)) }

// Warningf logs at warn level.
func (g *grpcLogger) Warningf(format string, args ...any) {
	g.emit(slog.LevelWarn, fmt.Sprintf(format, args...))
}

// Error logs at error level, as Errorln and Errorf do.
func (g *grpcLogger) Error(args ...any) { g.emit(slog.LevelError, fmt.Sprint(args...)) }

// Errorln logs at error level.
func (g *grpcLogger) Errorln(args ...any) { g.emit(slog.LevelError, sprintln(args...)) }

// Errorf logs at error level.
func (g *grpcLogger) Errorf(format string, args ...any) {
	g.emit(slog.LevelError, fmt.Sprintf(format, args...))
}

// Fatal logs at error level and exits with status 1, as grpclog requires of it.
func (g *grpcLogger) Fatal(args ...any) { g.Error(args...); os.Exit(1) }

// Fatalln logs at error level and exits with status 1.
func (g *grpcLogger) Fatalln(args ...any) { g.Errorln(args...); os.Exit(1) }

// Fatalf logs at error level and exits with status 1.
func (g *grpcLogger) Fatalf(format string, args ...any) { g.Errorf(format, args...); os.Exit(1) }

// V reports whether grpc's verbose INFO lines of level l are wanted: only level 0's,
// as grpclog's default; the slog level then decides.
func (g *grpcLogger) V(l int) bool { return l <= 0 }

// sprintln is fmt.Sprintln without the final newline.
func sprintln(args ...any) string {
	s := fmt.Sprintln(args...)
	return s[:len(s)-1]
}
