package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc/grpclog"
)

// grpc's logging becomes structured lines of the role's logger: INFO at debug level,
// WARNING at warn, ERROR at error, each message whole on one line.
func TestGRPCLogger(t *testing.T) {
	var buf bytes.Buffer
	g := &grpcLogger{}
	var _ grpclog.LoggerV2 = g
	g.use(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	g.Infof("[core] channel %d created", 7)
	g.Warningln("[transport]", "closing:", "EOF")
	g.Error("Failed to parse Content-Type ", "x/y; =", ": mime: invalid media parameter")
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec struct{ Level, Msg, Component string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		got = append(got, rec.Level+"|"+rec.Component+"|"+rec.Msg)
	}
	want := []string{
		"DEBUG|grpclog|[core] channel 7 created",
		"WARN|grpclog|[transport] closing: EOF",
		"ERROR|grpclog|Failed to parse Content-Type x/y; =: mime: invalid media parameter",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !g.V(0) || g.V(2) {
		t.Error("V: want level 0 only, as grpclog's default")
	}
}
