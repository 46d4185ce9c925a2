package hostile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// rssBudget is the peak RSS a process may reach under 100 hostile connections against
// the default limits (issue #13).
const rssBudget = 400 << 20

// bin is the sluice binary under test, built once by TestMain.
var bin string

// peaks collects each process's peak RSS and fd count for the summary TestMain prints.
var peaks struct {
	sync.Mutex
	lines []string
}

func TestMain(m *testing.M) {
	code, err := mainErr(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hostile:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func mainErr(m *testing.M) (int, error) {
	if b := os.Getenv("SLUICE_HOSTILE_BIN"); b != "" {
		bin = b
	} else {
		dir, err := os.MkdirTemp("", "sluice-hostile-")
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "sluice")
		// No -race: the RSS budget is about the binary users run.
		build := exec.Command("go", "build", "-o", bin, "github.com/sluice-siem/sluice/cmd/sluice")
		if out, err := build.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("go build: %v\n%s", err, out)
		}
	}
	code := m.Run()
	peaks.Lock()
	sort.Strings(peaks.lines)
	if len(peaks.lines) > 0 && testing.Verbose() {
		fmt.Println("peak RSS (VmHWM) and open fds per process:")
		for _, l := range peaks.lines {
			fmt.Println("  " + l)
		}
	}
	peaks.Unlock()
	return code, nil
}

// spec says how to start a sluice process.
type spec struct {
	role       string // dev or gateway
	lumberjack bool   // serve lumberjack on a free port
	nofile     int    // > 0: the process's soft and hard RLIMIT_NOFILE
}

// proc is a running sluice process.
type proc struct {
	name    string
	cmd     *exec.Cmd
	pid     int
	dataDir string // dev only
	addr    map[string]string

	mu       sync.Mutex
	lines    []string // stderr, line by line (each cut at maxLogLine)
	exited   chan struct{}
	waitErr  error
	reported bool // the death was reported with its log
}

// maxLogLine is how much of one stderr line is kept.
const maxLogLine = 64 << 10

// start runs sluice as a user would and waits for "sluice started". Gateways run on the
// discard stream with authentication off; dev writes to a temporary data dir. Every
// listener is on a free loopback port.
func start(t *testing.T, s spec) *proc {
	t.Helper()
	p := &proc{name: t.Name(), addr: map[string]string{}, exited: make(chan struct{})}
	args := []string{s.role, "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"}
	env := []string{"SLUICE_SHUTDOWN_DRAIN_DELAY=0s"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_") && !strings.HasPrefix(kv, "GOMEMLIMIT=") && !strings.HasPrefix(kv, "GOGC=") {
			env = append(env, kv)
		}
	}
	if s.lumberjack {
		args = append(args, "--lumberjack", "127.0.0.1:0")
	} else {
		env = append(env, "SLUICE_LUMBERJACK_ADDR=")
	}
	switch s.role {
	case "dev":
		p.dataDir = t.TempDir()
		args = append(args, "--data-dir", p.dataDir)
	case "gateway":
		env = append(env, "SLUICE_STREAM_KIND=discard", "SLUICE_GATEWAY_AUTH_DISABLED=true")
	default:
		t.Fatalf("role %q", s.role)
	}
	if s.nofile > 0 {
		// bash execs sluice, which keeps bash's pid and the lowered limit.
		script := fmt.Sprintf(`ulimit -Sn %d && ulimit -Hn %d && exec "$0" "$@"`, s.nofile, s.nofile)
		p.cmd = exec.Command("bash", append([]string{"-c", script, bin}, args...)...)
	} else {
		p.cmd = exec.Command(bin, args...)
	}
	p.cmd.Env = env
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.pid = p.cmd.Process.Pid
	started := make(chan struct{})
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		r := bufio.NewReaderSize(stderr, 64<<10)
		var once sync.Once
		for {
			line, err := readLine(r)
			if line != "" || err == nil {
				p.mu.Lock()
				p.lines = append(p.lines, line)
				p.mu.Unlock()
				rec := parseLog(line)
				switch rec["msg"] {
				case "http listening":
					p.setAddr("http", rec["addr"])
				case "grpc listening":
					p.setAddr("grpc", rec["addr"])
				case "lumberjack listening":
					p.setAddr("lumberjack", rec["addr"])
				case "sluice started":
					once.Do(func() { close(started) })
				}
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		<-readDone
		err := p.cmd.Wait()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	select {
	case <-started:
	case <-p.exited:
		p.mu.Lock()
		err := p.waitErr
		p.mu.Unlock()
		t.Fatalf("sluice %s exited before it started: %v\n%s", s.role, err, p.tail(40))
	case <-time.After(30 * time.Second):
		t.Fatalf("sluice %s did not start within 30s\n%s", s.role, p.tail(40))
	}
	return p
}

// readLine reads one line without its newline, keeping at most maxLogLine bytes of it.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(b) < maxLogLine {
			b = append(b, chunk[:min(len(chunk), maxLogLine-len(b))]...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return strings.TrimRight(string(b), "\r\n"), err
	}
}

func (p *proc) setAddr(k, v string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.addr[k] = v
}

// url returns http://ADDR/path of the HTTP listener.
func (p *proc) url(path string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return "http://" + p.addr["http"] + path
}

// listener returns the address a listener logged ("http", "grpc", "lumberjack"), or a
// closed port, so that the caller's dial fails in the caller's test.
func (p *proc) listener(k string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.addr[k] == "" {
		return "127.0.0.1:1"
	}
	return p.addr[k]
}

// tail returns the last n stderr lines, each cut to 2 KiB.
func (p *proc) tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var sb strings.Builder
	for _, l := range p.lines[max(0, len(p.lines)-n):] {
		if len(l) > 2048 {
			l = l[:2048] + "..."
		}
		sb.WriteString(l)
		sb.WriteByte('\n')
	}
	return sb.String()
}

// logCount is the number of stderr lines so far, a mark for linesSince.
func (p *proc) logCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lines)
}

// linesSince returns the stderr lines after mark.
func (p *proc) linesSince(mark int) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines[mark:]...)
}

// up reports whether the process is still running.
func (p *proc) up() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// requireUp fails the test, with the end of the log, if the process died.
func (p *proc) requireUp(t *testing.T) {
	t.Helper()
	if p.up() {
		return
	}
	p.mu.Lock()
	err, reported := p.waitErr, p.reported
	p.reported = true
	p.mu.Unlock()
	if reported {
		t.Fatalf("sluice died: %v (log above)", err)
	}
	t.Fatalf("sluice died: %v\n%s", err, p.deathLog())
}

// deathLog is the part of the log that says why the process died: from the first line
// of a Go runtime failure (fatal error, panic), or the last lines.
func (p *proc) deathLog() string {
	p.mu.Lock()
	lines := p.lines
	p.mu.Unlock()
	for i, l := range lines {
		if strings.HasPrefix(l, "fatal error:") || strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "runtime: ") {
			return strings.Join(cut(lines[max(0, i-3):min(len(lines), i+12)], 300), "\n")
		}
	}
	return p.tail(20)
}

// status reads a field of /proc/PID/status in bytes (VmHWM, VmRSS).
func (p *proc) status(field string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid))
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return -1
}

// peakRSS is the process's peak resident set size so far (VmHWM).
func (p *proc) peakRSS() int64 { return p.status("VmHWM") }

// fds is the number of open file descriptors of the process.
func (p *proc) fds() int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// requirePeakRSS fails if the peak RSS is over budget.
func (p *proc) requirePeakRSS(t *testing.T, budget int64, what string) {
	t.Helper()
	hwm := p.peakRSS()
	t.Logf("%s: peak RSS (VmHWM) %.1f MiB, %d open fds", what, mib(hwm), p.fds())
	if hwm > budget {
		t.Errorf("%s: peak RSS (VmHWM) %.1f MiB, budget %.0f MiB", what, mib(hwm), mib(budget))
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// stop ends the process with SIGTERM and requires a clean exit within 45s, and that
// every line it wrote to stderr is a structured log record.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.record()
	p.requireUp(t)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(45 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Fatalf("sluice did not stop within 45s of SIGTERM\n%s", p.tail(30))
	}
	p.mu.Lock()
	err := p.waitErr
	p.mu.Unlock()
	if err != nil {
		t.Errorf("sluice exited with %v after SIGTERM\n%s", err, p.tail(30))
	}
	p.requireStructuredLogs(t)
}

// record adds the process's peak RSS and fd count to the summary.
func (p *proc) record() {
	peaks.Lock()
	defer peaks.Unlock()
	peaks.lines = append(peaks.lines, fmt.Sprintf("%-48s VmHWM %7.1f MiB  fds %5d", p.name, mib(p.peakRSS()), p.fds()))
}

// requireStructuredLogs fails for every stderr line that is not a slog record: JSON
// with time, level and msg, or text starting time=... level=... with a msg.
func (p *proc) requireStructuredLogs(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	lines := append([]string(nil), p.lines...)
	p.mu.Unlock()
	var bad []string
	for _, l := range lines {
		if !structured(l) {
			bad = append(bad, l)
		}
	}
	if len(bad) > 0 {
		shown := bad[:min(len(bad), 5)]
		for i, l := range shown {
			if len(l) > 300 {
				shown[i] = l[:300] + "..."
			}
		}
		t.Errorf("%d of %d stderr lines are not structured log records, such as:\n%s", len(bad), len(lines), strings.Join(shown, "\n"))
	}
}

func structured(line string) bool {
	if strings.HasPrefix(line, "{") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			return false
		}
		_, t := rec["time"]
		_, l := rec["level"]
		_, m := rec["msg"]
		return t && l && m
	}
	if !strings.HasPrefix(line, "time=") {
		return false
	}
	rec := parseLog(line)
	_, l := rec["level"]
	_, m := rec["msg"]
	return l && m
}

// parseLog reads a slog record, JSON or text (key=value, values quoted as needed).
// Nested JSON values are kept as their JSON text.
func parseLog(line string) map[string]string {
	out := map[string]string{}
	if strings.HasPrefix(line, "{") {
		gjson.Parse(line).ForEach(func(k, v gjson.Result) bool {
			if v.Type == gjson.String {
				out[k.Str] = v.Str
			} else {
				out[k.Str] = v.Raw
			}
			return true
		})
		return out
	}
	s := line
	for len(s) > 0 {
		s = strings.TrimLeft(s, " ")
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || strings.ContainsAny(s[:eq], " \"") {
			break
		}
		key := s[:eq]
		s = s[eq+1:]
		if strings.HasPrefix(s, `"`) {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				break
			}
			v, _ := strconv.Unquote(q)
			out[key] = v
			s = s[len(q):]
			continue
		}
		end := strings.IndexByte(s, ' ')
		if end < 0 {
			end = len(s)
		}
		out[key] = s[:end]
		s = s[end:]
	}
	return out
}

// level is a log record's level in upper case.
func level(line string) string { return strings.ToUpper(parseLog(line)["level"]) }

// httpClient is for probes: no keep-alive surprises, bounded in time.
var httpClient = &http.Client{
	Timeout: 60 * time.Second,
	Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 16,
		DisableCompression:  true,
	},
}

// answer is an HTTP response, read in full (at most 64 MiB).
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) String() string {
	b := a.body
	if len(b) > 500 {
		b = append(b[:500:500], "..."...)
	}
	return fmt.Sprintf("%d %s", a.status, bytes.TrimSpace(b))
}

// post sends body with the content type and encoding given (empty: none).
func post(url, contentType, encoding string, body []byte) (answer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	return do(req)
}

func do(req *http.Request) (answer, error) {
	resp, err := httpClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return answer{}, err
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// eventsAnswer is the body of a /v1/events answer.
type eventsAnswer struct {
	Accepted   int `json:"accepted"`
	Rejected   int `json:"rejected"`
	Rejections []struct {
		Index  int    `json:"index"`
		Line   int    `json:"line"`
		Reason string `json:"reason"`
	} `json:"rejections"`
}

// bulkAnswer is the body of a _bulk answer, items reduced to their status and reason.
type bulkAnswer struct {
	Errors bool
	Items  []bulkItem
}

type bulkItem struct {
	Status int
	Reason string
}

func parseBulkAnswer(b []byte) (bulkAnswer, error) {
	if !gjson.ValidBytes(b) {
		return bulkAnswer{}, fmt.Errorf("not JSON: %.300s", b)
	}
	r := gjson.ParseBytes(b)
	out := bulkAnswer{Errors: r.Get("errors").Bool()}
	for _, it := range r.Get("items").Array() {
		it.ForEach(func(_, v gjson.Result) bool {
			out.Items = append(out.Items, bulkItem{Status: int(v.Get("status").Int()), Reason: v.Get("error.reason").String()})
			return false
		})
	}
	return out, nil
}

// acked is the set of event ids (the legit_id field) acknowledged to clients of a
// process, which must all be in its file sink after a graceful stop.
type acked struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (a *acked) add(ids ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ids == nil {
		a.ids = map[string]bool{}
	}
	for _, id := range ids {
		a.ids[id] = true
	}
}

// requireWritten fails for every acknowledged id that is not in an NDJSON file under
// dir (the process must have stopped).
func (a *acked) requireWritten(t *testing.T, dir string) {
	t.Helper()
	found := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".ndjson") {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 8<<20)
		for sc.Scan() {
			if id := gjson.GetBytes(sc.Bytes(), "legit_id"); id.Exists() {
				found[id.String()] = true
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatalf("read the sink: %v", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var missing []string
	for id := range a.ids {
		if !found[id] {
			missing = append(missing, id)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%d of %d acknowledged events are not in the sink, such as %v", len(missing), len(a.ids), missing[:min(len(missing), 10)])
	} else {
		t.Logf("all %d acknowledged events are in the sink", len(a.ids))
	}
}

// legit is a well-behaved client that keeps sending small NDJSON batches to
// /v1/events during an attack and remembers what was acknowledged.
type legit struct {
	stopc chan struct{}
	once  sync.Once
	done  chan struct{}

	mu       sync.Mutex
	ok       int
	statuses map[int]int
	errs     int
	lastErr  error
}

// startLegit sends a batch of 20 events about every 25ms to p until halt (or the end of
// the test); ids of batches answered 200 go to ack.
func startLegit(t *testing.T, p *proc, prefix string, ack *acked) *legit {
	l := &legit{stopc: make(chan struct{}), done: make(chan struct{}), statuses: map[int]int{}}
	t.Cleanup(func() { l.once.Do(func() { close(l.stopc) }); <-l.done })
	url := p.url("/v1/events?type=legit")
	go func() {
		defer close(l.done)
		for b := 0; ; b++ {
			select {
			case <-l.stopc:
				return
			case <-time.After(25 * time.Millisecond):
			}
			var body bytes.Buffer
			ids := make([]string, 20)
			for i := range ids {
				ids[i] = fmt.Sprintf("%s-%d-%d", prefix, b, i)
				fmt.Fprintf(&body, `{"message":"legitimate event %d of batch %d","legit_id":%q,"host":{"name":"legit"}}`+"\n", i, b, ids[i])
			}
			a, err := post(url, "application/x-ndjson", "", body.Bytes())
			l.mu.Lock()
			if err != nil {
				l.errs++
				l.lastErr = err
			} else {
				l.statuses[a.status]++
				if a.status == http.StatusOK {
					l.ok++
				}
			}
			l.mu.Unlock()
			if err == nil && a.status == http.StatusOK {
				ack.add(ids...)
			}
		}
	}()
	return l
}

// halt stops the client and requires that it had some batches acknowledged, so that
// the written check that follows is not empty, and that it never failed to connect.
func (l *legit) halt(t *testing.T) {
	t.Helper()
	waitFor(10*time.Second, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.ok >= 5
	})
	l.once.Do(func() { close(l.stopc) })
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("legitimate client: %d batches acknowledged, statuses %v, %d transport errors", l.ok, l.statuses, l.errs)
	if l.ok < 5 {
		t.Errorf("legitimate client: only %d batches acknowledged (statuses %v, %d errors, last %v)", l.ok, l.statuses, l.errs, l.lastErr)
	}
	if l.errs > 0 {
		t.Errorf("legitimate client: %d requests failed, last: %v", l.errs, l.lastErr)
	}
	for s, n := range l.statuses {
		if s != http.StatusOK && s != http.StatusTooManyRequests {
			t.Errorf("legitimate client: %d batches answered %d, want 200 (or 429 under backpressure)", n, s)
		}
	}
}

// waitFor polls cond every 50ms until it holds or the deadline passes.
func waitFor(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// requireHealthy requires GET /healthz to answer 200.
func requireHealthy(t *testing.T, p *proc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url("/healthz"), nil)
	a, err := do(req)
	if err != nil || a.status != http.StatusOK {
		t.Errorf("GET /healthz: %v %v", a, err)
	}
}
