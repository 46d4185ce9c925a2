package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-siem/sluice/internal/retry"
)

// receivedFigures are what the subject itself says it received during the run: for
// plain syslog, which acknowledges nothing, the only proof that what was written
// arrived; for a baseline that answers before it has written (rsyslog's imrelp with its
// in-memory queue), the moment its work on them was done.
type receivedFigures struct {
	// Source is the metrics URL and selector, or the file.
	Source string `json:"source"`
	// Before is the count before the first send, left out of Count.
	Before int64 `json:"before"`
	// Count is what the subject received from the first send on.
	Count    int64 `json:"count"`
	Complete bool  `json:"complete"`
	// Wait is from the last acknowledgement (syslog: the last write) until the
	// subject had received every message.
	Wait  float64 `json:"wait_after_acks_s"`
	Polls int     `json:"polls"`
	// Results are, from a metric with a result label, every result's count at the end
	// (accepted, rejected, too_long, lost, ...): where the missing messages went.
	Results map[string]float64 `json:"results,omitempty"`
}

// receivedCounter reads how many messages the subject has received so far.
type receivedCounter interface {
	count(ctx context.Context) (int64, error)
	source() string
}

// defaultReceivedMetric is the metric that counts the messages sluice took from each
// transport, for --received-metrics without --received-metric.
func defaultReceivedMetric(transport string) string {
	switch transport {
	case transportSyslogTCP:
		return `sluice_syslog_messages_total{result="accepted"}`
	case transportRELP:
		return `sluice_relp_transactions_total{result="accepted"}`
	}
	return ""
}

// metricCounter sums the samples of one metric, filtered by labels, on a Prometheus
// text endpoint (sluice's /metrics).
type metricCounter struct {
	url      string
	selector string
	name     string
	labels   map[string]string
	client   *http.Client
}

func newMetricCounter(url, selector string) (*metricCounter, error) {
	name, labels, err := parseSelector(selector)
	if err != nil {
		return nil, err
	}
	return &metricCounter{url: url, selector: selector, name: name, labels: labels, client: &http.Client{Timeout: 10 * time.Second}}, nil
}

func (m *metricCounter) source() string { return m.url + " " + m.selector }

func (m *metricCounter) count(ctx context.Context) (int64, error) {
	samples, err := m.scrape(ctx)
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, s := range samples {
		if matches(s.labels, m.labels) {
			sum += s.value
		}
	}
	return int64(sum), nil
}

// results sums the metric's samples that match the selector but for its result label,
// by result.
func (m *metricCounter) results(ctx context.Context) (map[string]float64, error) {
	samples, err := m.scrape(ctx)
	if err != nil {
		return nil, err
	}
	want := maps.Clone(m.labels)
	delete(want, "result")
	out := map[string]float64{}
	for _, s := range samples {
		if r, ok := s.labels["result"]; ok && matches(s.labels, want) {
			out[r] += s.value
		}
	}
	return out, nil
}

func (m *metricCounter) scrape(ctx context.Context) ([]sample, error) {
	page, err := scrapePageWith(ctx, m.client, m.url)
	if err != nil {
		return nil, err
	}
	samples, err := parseMetrics(bytes.NewReader(page), m.name)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", m.url, err)
	}
	return samples, nil
}

// scrapePage fetches a Prometheus text page, at most maxAnswerBytes of it.
func scrapePage(ctx context.Context, url string) ([]byte, error) {
	return scrapePageWith(ctx, &http.Client{Timeout: 10 * time.Second}, url)
}

func scrapePageWith(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	page, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	return page, nil
}

func matches(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// sample is one line of the Prometheus text format.
type sample struct {
	labels map[string]string
	value  float64
}

// parseSelector reads `name` or `name{label="value",...}`.
func parseSelector(s string) (string, map[string]string, error) {
	name, rest, hasLabels := strings.Cut(strings.TrimSpace(s), "{")
	if name == "" || strings.ContainsAny(name, " \t\"}") {
		return "", nil, fmt.Errorf("metric selector %q: want name or name{label=\"value\",...}", s)
	}
	labels := map[string]string{}
	if hasLabels {
		var err error
		var tail string
		if labels, tail, err = parseLabels(rest); err != nil || strings.TrimSpace(tail) != "" {
			return "", nil, fmt.Errorf("metric selector %q: want name{label=\"value\",...}", s)
		}
	}
	return name, labels, nil
}

// parseMetrics returns the samples of metric name in the Prometheus text format.
func parseMetrics(r io.Reader, name string) ([]sample, error) {
	var out []sample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		var labels map[string]string
		switch {
		case strings.HasPrefix(rest, "{"):
			var err error
			if labels, rest, err = parseLabels(rest[1:]); err != nil {
				return nil, fmt.Errorf("metric line %q: %w", line, err)
			}
		case strings.HasPrefix(rest, " "):
		default:
			continue // another metric whose name starts with name
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return nil, fmt.Errorf("metric line %q: no value", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metric line %q: value: %w", line, err)
		}
		out = append(out, sample{labels: labels, value: v})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// parseLabels reads `label="value",...}` (the opening brace already read) and returns
// the labels and what follows the closing brace.
func parseLabels(s string) (map[string]string, string, error) {
	labels := map[string]string{}
	for {
		s = strings.TrimLeft(s, " ,")
		if strings.HasPrefix(s, "}") {
			return labels, s[1:], nil
		}
		key, rest, ok := strings.Cut(s, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" || !strings.HasPrefix(rest, `"`) {
			return nil, "", errors.New(`labels: want label="value"`)
		}
		var val strings.Builder
		i := 1
		for ; i < len(rest) && rest[i] != '"'; i++ {
			if rest[i] == '\\' && i+1 < len(rest) {
				i++
				switch rest[i] {
				case 'n':
					val.WriteByte('\n')
				default:
					val.WriteByte(rest[i])
				}
				continue
			}
			val.WriteByte(rest[i])
		}
		if i == len(rest) {
			return nil, "", errors.New("labels: unterminated value")
		}
		labels[key] = val.String()
		s = rest[i+1:]
	}
}

// fileCounter counts the lines a subject writes to a file, one a message (rsyslog's
// omfile), reading only what was appended since the last count.
type fileCounter struct {
	path  string
	off   int64
	lines int64
	buf   []byte
}

func newFileCounter(path string) *fileCounter {
	return &fileCounter{path: path, buf: make([]byte, 256<<10)}
}

func (f *fileCounter) source() string { return f.path }

func (f *fileCounter) count(context.Context) (int64, error) {
	file, err := os.Open(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return f.lines, nil // not written yet
	}
	if err != nil {
		return 0, err
	}
	defer file.Close()
	if _, err := file.Seek(f.off, io.SeekStart); err != nil {
		return 0, err
	}
	for {
		n, err := file.Read(f.buf)
		f.lines += int64(bytes.Count(f.buf[:n], []byte{'\n'}))
		f.off += int64(n)
		if errors.Is(err, io.EOF) {
			return f.lines, nil
		}
		if err != nil {
			return 0, fmt.Errorf("count lines of %s: %w", f.path, err)
		}
	}
}

// waitReceived polls c every poll until the subject has received want messages more
// than before, or timeout passes. It returns the last count (less before) and when it
// was complete (zero if never).
func waitReceived(ctx context.Context, c receivedCounter, before, want int64, timeout, poll time.Duration, fig *receivedFigures) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		n, err := c.count(ctx)
		now := time.Now()
		fig.Polls++
		if err == nil {
			fig.Count, lastErr = n-before, nil
			if fig.Count >= want {
				return now, nil
			}
		} else {
			lastErr = err
		}
		if now.After(deadline) || !retry.Sleep(ctx, poll) {
			return time.Time{}, lastErr
		}
	}
}

// describeResults formats results by name, for a problem line.
func describeResults(r map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(r)) {
		parts = append(parts, fmt.Sprintf("%s %s", k, strconv.FormatFloat(r[k], 'f', -1, 64)))
	}
	return strings.Join(parts, ", ")
}
