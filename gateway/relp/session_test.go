package relp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/gateway"
)

// scriptConn is a net.Conn that reads a script cut into given chunks (one Read never
// returns more than one chunk) and keeps what the server writes. It drives a
// connection's state machine without a network: every split of the input into reads
// can be tried, and fuzzed.
type scriptConn struct {
	chunks [][]byte
	out    bytes.Buffer
	closed bool
}

func (s *scriptConn) Read(p []byte) (int, error) {
	for len(s.chunks) > 0 && len(s.chunks[0]) == 0 {
		s.chunks = s.chunks[1:]
	}
	if s.closed || len(s.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.chunks[0])
	s.chunks[0] = s.chunks[0][n:]
	return n, nil
}

func (s *scriptConn) Write(p []byte) (int, error) {
	if s.closed {
		return 0, net.ErrClosed
	}
	return s.out.Write(p)
}

func (s *scriptConn) Close() error { s.closed = true; return nil }
func (s *scriptConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2514}
}
func (s *scriptConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (s *scriptConn) SetDeadline(time.Time) error      { return nil }
func (s *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (s *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// runScript serves one connection over chunks with a server built from cfg and
// handle, and returns what the server wrote.
func runScript(t testing.TB, cfg Config, handle Handler, edit func(*conn), chunks ...[]byte) []byte {
	t.Helper()
	srv, err := New(handle, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	sc := &scriptConn{chunks: chunks}
	c := newConn(srv, sc, 1)
	if edit != nil {
		edit(c)
	}
	c.serve()
	return sc.out.Bytes()
}

// parseOut reads the frames the server wrote, checking their framing.
func parseOut(t testing.TB, out []byte) []rframe {
	t.Helper()
	var frames []rframe
	br := bufio.NewReader(bytes.NewReader(out))
	for {
		line, err := br.ReadString(' ')
		if errors.Is(err, io.EOF) && line == "" {
			return frames
		}
		if err != nil {
			t.Fatalf("output %q: %v", out, err)
		}
		txnr, err := strconv.ParseUint(strings.TrimSuffix(line, " "), 10, 32)
		if err != nil {
			t.Fatalf("output %q: txnr %q", out, line)
		}
		cmd, _ := br.ReadString(' ')
		var f rframe
		f.txnr, f.cmd = uint32(txnr), strings.TrimSuffix(cmd, " ")
		num, err := br.ReadString(' ')
		if err != nil { // DATALEN 0: "0\n"
			if num != "0\n" {
				t.Fatalf("output %q: DATALEN %q", out, num)
			}
			frames = append(frames, f)
			continue
		}
		if strings.Contains(num, "\n") {
			// "0\n" followed by the next frame's TXNR and a space.
			zero, rest, _ := strings.Cut(num, "\n")
			if zero != "0" {
				t.Fatalf("output %q: DATALEN %q", out, num)
			}
			frames = append(frames, f)
			br = bufio.NewReader(io.MultiReader(strings.NewReader(rest), br))
			continue
		}
		size, err := strconv.Atoi(strings.TrimSuffix(num, " "))
		if err != nil {
			t.Fatalf("output %q: DATALEN %q", out, num)
		}
		data := make([]byte, size+1)
		if _, err := io.ReadFull(br, data); err != nil || data[size] != '\n' {
			t.Fatalf("output %q: data of %d bytes and trailer: %v", out, size, err)
		}
		f.data = string(data[:size])
		frames = append(frames, f)
	}
}

func okHandler(ctx context.Context, b Batch) (gateway.Result, error) { return gateway.Result{}, nil }

// session is a whole session's input: open, three messages, close.
func session() []byte {
	var in []byte
	in = append(in, frame(1, "open", openOffers)...)
	for i := range 3 {
		in = append(in, frame(uint32(i+2), "syslog", msg(i))...)
	}
	return append(in, frame(5, "close", "")...)
}

// checkSession checks the answers to session().
func checkSession(t testing.TB, frames []rframe) {
	t.Helper()
	if len(frames) != 5 {
		t.Fatalf("%d frames, want 5: %v", len(frames), frames)
	}
	for i, f := range frames {
		if f.txnr != uint32(i+1) || f.cmd != "rsp" || !strings.HasPrefix(f.data, "200 OK") {
			t.Fatalf("frame %d: %v", i, f)
		}
	}
}

// TestSplitEveryByte cuts a whole session into two reads at every byte boundary, and
// into one-byte reads: the answers are the same.
func TestSplitEveryByte(t *testing.T) {
	in := session()
	var got []string
	handle := func(ctx context.Context, b Batch) (gateway.Result, error) {
		for _, m := range b.Messages {
			got = append(got, string(m))
		}
		return gateway.Result{}, nil
	}
	for k := 0; k <= len(in); k++ {
		got = got[:0]
		out := runScript(t, testConfig(), handle, nil, bytes.Clone(in[:k]), bytes.Clone(in[k:]))
		checkSession(t, parseOut(t, out))
		if len(got) != 3 || got[0] != msg(0) || got[2] != msg(2) {
			t.Fatalf("split at %d: handler got %q", k, got)
		}
	}
	var bytewise [][]byte
	for i := range in {
		bytewise = append(bytewise, in[i:i+1])
	}
	got = got[:0]
	checkSession(t, parseOut(t, runScript(t, testConfig(), handle, nil, bytewise...)))
	if len(got) != 3 {
		t.Fatalf("byte by byte: handler got %q", got)
	}
}

func TestTxnrWraps(t *testing.T) {
	if nextTxnr(maxTxnr) != 1 || nextTxnr(1) != 2 {
		t.Fatal("nextTxnr does not wrap after 999999999")
	}
	in := append(frame(maxTxnr, "syslog", "a"), frame(1, "syslog", "b")...)
	out := runScript(t, testConfig(), okHandler, func(c *conn) { c.opened, c.next = true, maxTxnr }, in)
	frames := parseOut(t, out)
	if len(frames) != 2 || frames[0].txnr != maxTxnr || frames[1].txnr != 1 || frames[1].data != "200 OK" {
		t.Fatalf("answers %v", frames)
	}
}

func TestParseOffers(t *testing.T) {
	tests := []struct {
		in      string
		version int
		syslog  bool
		err     bool
	}{
		{in: openOffers, version: 0, syslog: true},
		{in: "\nrelp_version=1\ncommands=eventlog,syslog\n", version: 1, syslog: true},
		{in: "relp_version=0\r\ncommands=syslog\r\n", version: 0, syslog: true},
		{in: "commands=syslog\nfuture_thing=1,2,3\nflag", version: -1, syslog: true},
		{in: "relp_version=0\ncommands=eventlog", version: 0},
		{in: "relp_version=abc\ncommands=syslog", err: true},
		{in: strings.Repeat("n", 33) + "=1", err: true},
		{in: "commands=" + strings.Repeat("c", 256), err: true},
		{in: "", version: -1},
	}
	for _, tt := range tests {
		o, err := parseOffers([]byte(tt.in))
		if (err != nil) != tt.err {
			t.Errorf("%q: err %v", tt.in, err)
			continue
		}
		if err == nil && (o.version != tt.version || o.syslog != tt.syslog) {
			t.Errorf("%q: got %+v", tt.in, o)
		}
	}
}

func TestReadHeader(t *testing.T) {
	tests := []struct {
		in   string
		want header
		kind string
	}{
		{in: "1 open 85 ", want: header{txnr: 1, cmd: cmdOpen, size: 85}},
		{in: "999999999 syslog 1048576 ", want: header{txnr: maxTxnr, cmd: cmdSyslog, size: 1 << 20}},
		{in: "12 close 0\n", want: header{txnr: 12, cmd: cmdClose}},
		{in: "3 Abort 0\n", want: header{txnr: 3, cmd: cmdOther}},
		{in: "007 syslog 0009 ", want: header{txnr: 7, cmd: cmdSyslog, size: 9}},
		{in: " 1 open 0\n", kind: kindMalformed},
		{in: "1  open 0\n", kind: kindMalformed},
		{in: "1 open\n", kind: kindMalformed},
		{in: "1 open 0", kind: kindTruncated},
		{in: "1 op", kind: kindTruncated},
		{in: "1 open -1 ", kind: kindMalformed},
		{in: "1 open 5\n", kind: kindMalformed},
	}
	for _, tt := range tests {
		h, err := readHeader(bufio.NewReader(strings.NewReader(tt.in)))
		if tt.kind != "" {
			var pe *protocolError
			if !errors.As(err, &pe) || pe.kind != tt.kind {
				t.Errorf("%q: err %v, want kind %s", tt.in, err, tt.kind)
			}
			continue
		}
		if err != nil || h.txnr != tt.want.txnr || h.cmd != tt.want.cmd || h.size != tt.want.size {
			t.Errorf("%q: got %+v, %v", tt.in, h, err)
		}
	}
	if _, err := readHeader(bufio.NewReader(strings.NewReader(""))); !errors.Is(err, io.EOF) {
		t.Errorf("empty input: %v, want io.EOF", err)
	}
}

// TestResponsesInOrderWithReplies mixes commands answered at once with messages
// answered by the handler: responses keep the order of the transactions.
func TestResponsesInOrderWithReplies(t *testing.T) {
	var in []byte
	in = append(in, frame(1, "open", openOffers)...)
	in = append(in, frame(2, "syslog", "a")...)
	in = append(in, frame(3, "starttls", "")...)
	in = append(in, frame(4, "syslog", "b")...)
	in = append(in, frame(5, "close", "")...)
	frames := parseOut(t, runScript(t, testConfig(), okHandler, nil, in))
	want := []string{"200 OK\n", "200 OK", "500 command not supported: starttls", "200 OK", "200 OK"}
	if len(frames) != len(want) {
		t.Fatalf("frames %v", frames)
	}
	for i, f := range frames {
		if f.txnr != uint32(i+1) || !strings.HasPrefix(f.data, want[i]) {
			t.Errorf("frame %d: %v, want %q", i, f, want[i])
		}
	}
}

func ExampleHandler() {
	// cmd/sluice parses each message with the syslog parser and ingests the events;
	// here every message is accepted as it is.
	var handle Handler = func(ctx context.Context, b Batch) (gateway.Result, error) {
		for _, m := range b.Messages {
			fmt.Printf("%s\n", m)
		}
		return gateway.Result{Accepted: len(b.Messages)}, nil
	}
	_, _ = handle(context.Background(), Batch{Messages: [][]byte{[]byte("<13>1 - host app - - - hello")}})
	// Output: <13>1 - host app - - - hello
}
