package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluice-siem/sluice/internal/console"
)

// consoleClient reads the console's JSON API of a running sluice (sluice top, sluice
// tap): its base URL and the key, from $SLUICE_UI_KEY or a file, never a flag (a
// flag shows in the process list).
type consoleClient struct {
	name    string // the command, for messages
	base    string
	keyFile string
	key     string
	http    *http.Client
}

// newConsoleClient returns the flags of a console client command, with those every
// one has (--url, --key-file) and its usage (about says what the command does).
func newConsoleClient(name, about string, stderr io.Writer) (*flag.FlagSet, *consoleClient) {
	c := &consoleClient{name: name}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s [flags]\n\n%s\n\n", name, about)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.base, "url", "http://127.0.0.1:8080", "the sluice HTTP `address` whose console to read (gateway, transform or dev, with ui.enabled)")
	fs.StringVar(&c.keyFile, "key-file", "", "`file` holding the key the console asks for (else $SLUICE_UI_KEY)")
	return fs, c
}

// parse parses the command line and sets the client up; a code other than 0 is the
// command's exit code (2: a usage error).
func (c *consoleClient) parse(fs *flag.FlagSet, args []string, stderr io.Writer, env func(string) (string, bool)) int {
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments %q\n", c.name, fs.Args())
		return 2
	}
	if err := c.setup(env); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", c.name, err)
		return 2
	}
	return 0
}

// setup reads the key (from --key-file, else $SLUICE_UI_KEY) and checks the URL.
func (c *consoleClient) setup(env func(string) (string, bool)) error {
	u, err := url.Parse(c.base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url %q: want http://HOST:PORT or https://HOST:PORT", c.base)
	}
	c.base = strings.TrimSuffix(c.base, "/")
	if c.keyFile != "" {
		data, err := os.ReadFile(c.keyFile)
		if err != nil {
			return fmt.Errorf("read the key: %w", err)
		}
		c.key = strings.TrimSpace(string(data))
	} else if k, ok := env("SLUICE_UI_KEY"); ok {
		c.key = strings.TrimSpace(k)
	}
	if c.http == nil {
		c.http = &http.Client{}
	}
	return nil
}

// get sends GET path (under /ui/api/) and returns the answer, or the API's error.
func (c *consoleClient) get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+console.Path+"/api/"+path, nil)
	if err != nil {
		return nil, err
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	var e struct{ Error string }
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e)
	switch {
	case resp.StatusCode == http.StatusNotFound && e.Error == "":
		return nil, fmt.Errorf("%s has no console: start it with ui.enabled: true (SLUICE_UI_ENABLED=true)", c.base)
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, fmt.Errorf("%s: %s (give the key in $SLUICE_UI_KEY or --key-file)", c.base, e.Error)
	}
	return nil, fmt.Errorf("GET %s: %s: %s", req.URL.Path, resp.Status, e.Error)
}

// getJSON decodes the answer of GET path into v.
func (c *consoleClient) getJSON(ctx context.Context, path string, v any) error {
	resp, err := c.get(ctx, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(v); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// tapCmd is `sluice tap`: the tap's samples on stdout, one JSON object a line.
func tapCmd(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	fs, c := newConsoleClient("sluice tap", "Streams a live sample of the events passing a running sluice, as NDJSON on stdout\n(from its console's API; rate-limited there, so that it never slows the data path).", stderr)
	point := fs.String("point", console.PointReceived, "where to watch: received (durable in the stream), transformed (the pipeline's document) or indexed (acknowledged by the sink)")
	typ := fs.String("type", "", "only events of this log `type`")
	rate := fs.Float64("rate", 10, "at most this many events a `second` (capped by the server's ui.tap_rate)")
	count := fs.Int("n", 0, "stop after this many events (0: until interrupted)")
	if code := c.parse(fs, args, stderr, env); code != 0 {
		return code
	}
	q := url.Values{"point": {*point}, "rate": {fmt.Sprint(*rate)}}
	if *typ != "" {
		q.Set("type", *typ)
	}
	resp, err := c.get(ctx, "tap?"+q.Encode())
	if err != nil {
		fmt.Fprintln(stderr, "sluice tap:", err)
		return 1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	n := 0
	for sc.Scan() {
		if _, err := fmt.Fprintf(stdout, "%s\n", sc.Bytes()); err != nil {
			return 0 // stdout closed (a pipe to head): done
		}
		if n++; *count > 0 && n >= *count {
			return 0
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		fmt.Fprintln(stderr, "sluice tap:", err)
		return 1
	}
	return 0
}

// topCmd is `sluice top`: the console's Flow view in the terminal.
func topCmd(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	fs, c := newConsoleClient("sluice top", "Shows what flows through a running sluice, refreshed: events in and out per log type\nand receiver, failures, acknowledgement latency, the stream's backlog and iterator age\n(from its console's API).", stderr)
	every := fs.Duration("interval", 2*time.Second, "how often to refresh")
	once := fs.Bool("once", false, "print one view and exit (for scripts)")
	if code := c.parse(fs, args, stderr, env); code != 0 {
		return code
	}
	if *every < 100*time.Millisecond {
		fmt.Fprintln(stderr, "sluice top: --interval: at least 100ms")
		return 2
	}
	clear := !*once && isTerminal(stdout)
	for {
		var info console.Info
		var flow console.FlowView
		err := c.getJSON(ctx, "info", &info)
		if err == nil {
			err = c.getJSON(ctx, "flow", &flow)
		}
		if err != nil {
			if ctx.Err() != nil {
				return 0
			}
			fmt.Fprintln(stderr, "sluice top:", err)
			return 1
		}
		if clear {
			fmt.Fprint(stdout, "\x1b[H\x1b[2J")
		}
		writeTop(stdout, c.base, info, flow)
		if *once {
			return 0
		}
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(*every):
		}
	}
}

// isTerminal reports whether w is a terminal (then top redraws in place).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// topRow is one log type's or receiver's line of sluice top.
type topRow struct {
	name                     string
	in, out, failed, rejects float64
	inRate, outRate          float64
	p99                      float64
}

// writeTop prints the Flow view as tables.
func writeTop(w io.Writer, base string, info console.Info, flow console.FlowView) {
	latest := func(s console.SeriesView) float64 {
		for i := len(s.Values) - 1; i >= 0; i-- {
			if s.Values[i] != nil {
				return *s.Values[i]
			}
		}
		return -1
	}
	total := func(s console.SeriesView) float64 {
		if s.Total == nil {
			return 0
		}
		return *s.Total
	}
	types, receivers := map[string]*topRow{}, map[string]*topRow{}
	row := func(m map[string]*topRow, name string) *topRow {
		if m[name] == nil {
			m[name] = &topRow{name: name, p99: -1}
		}
		return m[name]
	}
	var backlog, oldest, maxAge float64 = -1, -1, -1
	var maxAgeShard string
	for _, s := range flow.Series {
		v := latest(s)
		switch s.Name {
		case "in":
			t, r := row(types, s.Labels["type"]), row(receivers, s.Labels["receiver"])
			t.in += total(s)
			r.in += total(s)
			t.inRate += max(v, 0)
			r.inRate += max(v, 0)
		case "rejected":
			row(receivers, s.Labels["receiver"]).rejects += total(s)
		case "out":
			t := row(types, s.Labels["type"])
			t.out += total(s)
			t.outRate += max(v, 0)
		case "failed":
			if total(s) > 0 || types[s.Labels["pipeline"]] != nil {
				row(types, s.Labels["pipeline"]).failed += total(s)
			}
		case "ack_p99":
			row(receivers, s.Labels["receiver"]).p99 = v
		case "backlog":
			backlog = v
		case "oldest_record_age":
			oldest = v
		case "iterator_age":
			if v > maxAge {
				maxAge, maxAgeShard = v, s.Labels["stream"]+"/"+s.Labels["shard"]
			}
		}
	}
	fmt.Fprintf(w, "sluice %s %s at %s   %s\n\n", info.Role, info.Version, base, time.Now().Format("15:04:05"))
	// Numbers right-aligned; names left-aligned, padded to one width.
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	typeRows, receiverRows := sortedRows(types), sortedRows(receivers)
	width := len("RECEIVER")
	for _, r := range append(append([]*topRow{}, typeRows...), receiverRows...) {
		width = max(width, len(r.name))
	}
	name := func(s string) string { return fmt.Sprintf("%-*s", width, s) }
	fmt.Fprintf(tw, "%s\tIN/S\tOUT/S\tIN\tOUT\tFAILED\t\n", name("TYPE"))
	for _, r := range typeRows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%.0f\t%.0f\t\n", name(r.name), rate(r.inRate), rate(r.outRate), r.in, r.out, r.failed)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	if len(receiverRows) > 0 {
		fmt.Fprintf(tw, "%s\tIN/S\tIN\tREJECTED\tACK P99\t\n", name("RECEIVER"))
		for _, r := range receiverRows {
			p99 := "-"
			if r.p99 >= 0 {
				p99 = fmt.Sprintf("%.3fs", r.p99)
			}
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.0f\t%s\t\n", name(r.name), rate(r.inRate), r.in, r.rejects, p99)
		}
		_ = tw.Flush()
		fmt.Fprintln(w)
	}
	var stream []string
	if backlog >= 0 {
		stream = append(stream, fmt.Sprintf("backlog %.0f bytes", backlog))
	}
	if oldest >= 0 {
		stream = append(stream, fmt.Sprintf("oldest record %.1fs", oldest))
	}
	if maxAge >= 0 {
		stream = append(stream, fmt.Sprintf("iterator age %.1fs (%s)", maxAge, maxAgeShard))
	}
	if len(stream) > 0 {
		fmt.Fprintln(w, "stream: "+strings.Join(stream, ", "))
	}
}

func sortedRows(m map[string]*topRow) []*topRow {
	out := make([]*topRow, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *topRow) int { return strings.Compare(a.name, b.name) })
	return out
}

// rate formats events a second.
func rate(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}
