package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sluice-siem/sluice/internal/retry"
)

// summary is the JSON a run prints on stdout at the end.
type summary struct {
	Label       string  `json:"label,omitempty"`
	Role        string  `json:"role"`
	Transport   string  `json:"transport"`
	Target      string  `json:"target"`
	Shape       string  `json:"shape"`
	EventBytes  float64 `json:"event_bytes"` // mean payload bytes per event
	Batch       int     `json:"batch"`
	Connections int     `json:"connections"`
	Inflight    int     `json:"inflight"`
	// Window is RELP's: transactions unanswered per connection.
	Window      int    `json:"window,omitempty"`
	Compression string `json:"compression"`
	// Framing is syslog-tcp's (RFC 6587).
	Framing string `json:"framing,omitempty"`
	// Rate is the fixed rate asked for, in events per second; 0 is unlimited.
	Rate     float64 `json:"rate"`
	Duration float64 `json:"duration_s"`
	// Elapsed runs from the first send to the last outcome (or, with a sink, to the
	// moment the sink held every acknowledged event).
	Elapsed float64 `json:"elapsed_s"`

	Events  counts `json:"events"`
	Batches counts `json:"batches"`

	EventsPerSecond float64 `json:"events_per_s"`
	PayloadMBPerSec float64 `json:"payload_mb_per_s"`
	WireMBPerSec    float64 `json:"wire_mb_per_s"`

	Latency latency `json:"ack_latency_ms"`

	Errors       map[string]int64  `json:"errors"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`

	Process  *processFigures  `json:"process,omitempty"`
	Sink     *sinkFigures     `json:"sink,omitempty"`
	Search   *searchFigures   `json:"search,omitempty"`
	Received *receivedFigures `json:"received,omitempty"`
	Stream   *streamFigures   `json:"stream,omitempty"`
	Machine  machine          `json:"machine"`
	Date     string           `json:"date"`

	OK       bool     `json:"ok"`
	Problems []string `json:"problems"`
}

type counts struct {
	Sent     int64 `json:"sent"`
	Acked    int64 `json:"acked"`
	Rejected int64 `json:"rejected,omitempty"`
	Failed   int64 `json:"failed"`
	// Lost were sent and never got an outcome (the drain gave up on them).
	Lost int64 `json:"lost"`
}

type latency struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
}

// processFigures are the whole-process figures of the subject over the run.
type processFigures struct {
	PID     int     `json:"pid"`
	Command string  `json:"command,omitempty"`
	CPU     float64 `json:"cpu_s"`
	// CPUPerMillion is CPU seconds per million acknowledged events.
	CPUPerMillion float64 `json:"cpu_s_per_million_events"`
	// EventsPerCore is acknowledged events per CPU second: events/s per core.
	EventsPerCore float64 `json:"events_per_s_per_core"`
	// PeakRSS is VmHWM at the end: the peak since the process started.
	PeakRSS   float64 `json:"peak_rss_mib"`
	RSSBefore float64 `json:"rss_before_mib"`
	RSSAfter  float64 `json:"rss_after_mib"`
	CoresUsed float64 `json:"cores_used"` // CPU seconds per elapsed second
	// AlsoPIDs are more processes of the subject (--also-pid); CPU includes their CPU
	// time, AlsoCPU is that part. Peak RSS is the main process's alone.
	AlsoPIDs    []int   `json:"also_pids,omitempty"`
	AlsoCPU     float64 `json:"also_cpu_s,omitempty"`
	StopProblem string  `json:"stop_problem,omitempty"`
}

type sinkFigures struct {
	Dir         string  `json:"dir"`
	Lines       int64   `json:"lines"`
	DeadLetters int64   `json:"dead_letters"`
	Complete    bool    `json:"complete"`
	Wait        float64 `json:"wait_after_acks_s"`
}

// streamFigures is what the subject's Kinesis streams took during the run.
type streamFigures struct {
	Streams []string `json:"streams"`
	Format  string   `json:"format"`
	// Events, Records and Bytes are the streams' growth during the run: events carried,
	// Kinesis records, and the bytes of their data.
	Events        int64   `json:"events"`
	Records       int64   `json:"records"`
	Bytes         int64   `json:"bytes"`
	BytesPerEvent float64 `json:"bytes_per_event"`
}

const mib = 1 << 20

// runLoad runs one load against a subject and prints the summary; it returns the exit
// code: 0 when the run was sound, 1 when it found problems, 2 for bad flags.
func runLoad(ctx context.Context, cfg runConfig, stdout, stderr io.Writer) int {
	if err := cfg.check(); err != nil {
		printErrs(stderr, "sluice-load run", err)
		return 2
	}
	if err := checkLoopback(ctx, cfg.addr, cfg.allowRemote); err != nil {
		fmt.Fprintln(stderr, "sluice-load run:", err)
		return 2
	}
	if cfg.searchURL != "" {
		if err := checkSearchURL(ctx, cfg.searchURL, cfg.allowRemote); err != nil {
			fmt.Fprintln(stderr, "sluice-load run:", err)
			return 2
		}
	}
	var counter receivedCounter
	switch {
	case cfg.receivedMetrics != "":
		if err := checkHTTPURL(ctx, "--received-metrics", cfg.receivedMetrics, cfg.allowRemote); err != nil {
			fmt.Fprintln(stderr, "sluice-load run:", err)
			return 2
		}
		mc, err := newMetricCounter(cfg.receivedMetrics, cfg.receivedMetric)
		if err != nil {
			fmt.Fprintln(stderr, "sluice-load run:", err)
			return 2
		}
		counter = mc
	case cfg.receivedFile != "":
		counter = newFileCounter(cfg.receivedFile)
	}
	deadline := cfg.duration + cfg.drain + cfg.sinkTimeout + cfg.subjectReady + time.Minute
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()

	var sub *subject
	switch {
	case cfg.subjectCmd != "":
		var err error
		if sub, err = startSubject(ctx, cfg.subjectCmd, cfg.subjectLog, cfg.addr, cfg.subjectReady, stderr); err != nil {
			fmt.Fprintln(stderr, "sluice-load run:", err)
			return 1
		}
	case cfg.pid != 0:
		sub = &subject{pid: cfg.pid}
	}
	stopSubject := func() string {
		if sub == nil {
			return ""
		}
		if err := sub.stop(30 * time.Second); err != nil {
			return fmt.Sprintf("subject %s", err)
		}
		return ""
	}

	r, err := newRunner(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "sluice-load run:", err)
		stopSubject()
		return 1
	}
	var streamBefore streamCount
	if cfg.kinesisEndpoint != "" {
		if streamBefore, err = countStreams(ctx, cfg.kinesisEndpoint, cfg.kinesisStreams, cfg.kinesisFormat, cfg.allowRemote); err != nil {
			fmt.Fprintln(stderr, "sluice-load run: count the streams before the run:", err)
			stopSubject()
			return 1
		}
	}
	r.stats.trackAcks = cfg.searchURL != ""
	var received *receivedFigures
	if counter != nil {
		// What the subject had before the run is not the run's.
		received = &receivedFigures{Source: counter.source()}
		if received.Before, err = receivedBefore(ctx, counter, cfg.subjectReady); err != nil {
			fmt.Fprintln(stderr, "sluice-load run:", err)
			stopSubject()
			return 1
		}
	}
	var before procSample
	alsoBefore := make([]procSample, len(cfg.alsoPIDs))
	if sub != nil {
		if before, err = readProc("/proc", sub.pid); err != nil {
			fmt.Fprintln(stderr, "sluice-load run:", err)
			stopSubject()
			return 1
		}
		for i, p := range cfg.alsoPIDs {
			if alsoBefore[i], err = readProc("/proc", p); err != nil {
				fmt.Fprintln(stderr, "sluice-load run: --also-pid:", err)
				stopSubject()
				return 1
			}
		}
	}

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	if sub != nil && sub.cmd != nil {
		go func() {
			select {
			case <-sub.exited:
				stopRun() // the subject died: no point waiting for answers
			case <-runCtx.Done():
			}
		}()
	}
	sendCtx, stopSending := context.WithTimeout(runCtx, cfg.duration)
	defer stopSending()
	start := time.Now()
	progCtx, stopProgress := context.WithCancel(runCtx)
	if cfg.progress > 0 {
		go r.progressLoop(progCtx, stderr, start, cfg.progress)
	}
	var poller *searchPoller
	pollCtx, stopPolling := context.WithCancel(runCtx)
	defer stopPolling()
	if cfg.searchURL != "" {
		poller = &searchPoller{base: strings.TrimSuffix(cfg.searchURL, "/"), index: cfg.searchIndex, interval: cfg.searchPoll}
		go poller.run(pollCtx)
	}
	r.load(runCtx, sendCtx)
	stopProgress()
	end := r.stats.lastDone
	if end.IsZero() {
		end = time.Now()
	}

	var sink *sinkFigures
	var problems []string
	if cfg.sinkDir != "" {
		sc, complete, err := waitSink(runCtx, cfg.sinkDir, r.stats.acked, cfg.sinkTimeout)
		sink = &sinkFigures{Dir: cfg.sinkDir, Lines: sc.lines, DeadLetters: sc.dead, Complete: !complete.IsZero()}
		switch {
		case err != nil:
			problems = append(problems, err.Error())
		case complete.IsZero():
			problems = append(problems, fmt.Sprintf("the sink holds %d of %d acknowledged events after %s", sc.lines+sc.dead, r.stats.acked, cfg.sinkTimeout))
		default:
			sink.Wait = max(complete.Sub(end), 0).Seconds()
			if complete.After(end) {
				end = complete
			}
		}
		if sc.dead > 0 {
			problems = append(problems, fmt.Sprintf("%d events went to the dead-letter directory", sc.dead))
		}
	}

	if counter != nil {
		acked := r.stats.snapshot().acked
		complete, err := waitReceived(runCtx, counter, received.Before, acked, cfg.sinkTimeout, cfg.receivedPoll, received)
		received.Complete = !complete.IsZero()
		if mc, ok := counter.(*metricCounter); ok {
			received.Results, _ = mc.results(runCtx)
		}
		switch {
		case !complete.IsZero():
			received.Wait = max(complete.Sub(end), 0).Seconds()
			if complete.After(end) {
				end = complete
			}
		default:
			p := fmt.Sprintf("the subject received %d of %d events sent and acknowledged (syslog-tcp: written) within %s of the last (%s)",
				received.Count, acked, cfg.sinkTimeout, received.Source)
			if err != nil {
				p += ": " + err.Error()
			}
			if len(received.Results) > 0 {
				p += "; its counts by result: " + describeResults(received.Results)
			}
			problems = append(problems, p)
		}
	}

	var search *searchFigures
	if poller != nil {
		r.stats.mu.Lock()
		acked, acks := r.stats.acked, r.stats.acks
		r.stats.mu.Unlock()
		complete, n, err := poller.wait(runCtx, acked, cfg.sinkTimeout)
		stopPolling()
		search = &searchFigures{URL: cfg.searchURL, Index: cfg.searchIndex, Documents: n, Complete: !complete.IsZero(),
			PollMs: float64(cfg.searchPoll) / 1e6}
		switch {
		case complete.IsZero() && err != nil:
			problems = append(problems, fmt.Sprintf("the engine counts %d of %d acknowledged events after %s: %v", n, acked, cfg.sinkTimeout, err))
		case complete.IsZero():
			problems = append(problems, fmt.Sprintf("the engine counts %d of %d acknowledged events after %s", n, acked, cfg.sinkTimeout))
		default:
			search.Wait = max(complete.Sub(end), 0).Seconds()
			if complete.After(end) {
				end = complete
			}
		}
		poller.mu.Lock()
		h := ackToSearchable(acks, poller.points)
		poller.mu.Unlock()
		ms := func(v uint64) float64 { return float64(v) / 1e6 }
		search.Latency = latency{Count: h.count(), P50: ms(h.percentile(50)), P99: ms(h.percentile(99)),
			P999: ms(h.percentile(99.9)), Max: ms(h.max), Mean: h.mean() / 1e6}
		if len(cfg.hopMetrics) > 0 {
			hops, err := readHops(runCtx, cfg.hopMetrics)
			if err != nil {
				problems = append(problems, err.Error())
			}
			search.Hops = hops
		}
	}

	var proc *processFigures
	if sub != nil {
		alive := sub.alive()
		after, err := readProc("/proc", sub.pid)
		switch {
		case alive != nil:
			problems = append(problems, alive.Error())
		case err != nil:
			problems = append(problems, err.Error())
		default:
			proc = processOf(sub.pid, cfg.subjectCmd, before, after, r.stats.acked, end.Sub(start))
			for i, p := range cfg.alsoPIDs {
				a, err := readProc("/proc", p)
				if err != nil {
					problems = append(problems, fmt.Sprintf("--also-pid: %v", err))
					continue
				}
				proc.addCPU(p, (a.CPU - alsoBefore[i].CPU).Seconds(), r.stats.acked, end.Sub(start))
			}
		}
		if p := stopSubject(); p != "" {
			problems = append(problems, p)
			if proc != nil {
				proc.StopProblem = p
			}
		}
	}

	// Counted after the subject stopped when this run started it; an acknowledged event
	// is in the streams before its acknowledgement either way.
	var streamFigs *streamFigures
	if cfg.kinesisEndpoint != "" {
		after, err := countStreams(ctx, cfg.kinesisEndpoint, cfg.kinesisStreams, cfg.kinesisFormat, cfg.allowRemote)
		if err != nil {
			problems = append(problems, fmt.Sprintf("count the streams after the run: %v", err))
		} else {
			streamFigs = &streamFigures{Streams: cfg.kinesisStreams, Format: cfg.kinesisFormat,
				Events: after.Events - streamBefore.Events, Records: after.Records - streamBefore.Records,
				Bytes: after.Bytes - streamBefore.Bytes}
			if streamFigs.Events > 0 {
				streamFigs.BytesPerEvent = float64(streamFigs.Bytes) / float64(streamFigs.Events)
			}
			if acked := r.stats.snapshot().acked; streamFigs.Events < acked {
				problems = append(problems, fmt.Sprintf("the streams took %d events during the run, fewer than the %d acknowledged", streamFigs.Events, acked))
			}
		}
	}

	cpuinfo, _ := os.ReadFile("/proc/cpuinfo")
	s := r.summarize(end.Sub(start), proc, sink, thisMachine(cpuinfo))
	s.Search = search
	s.Received = received
	s.Stream = streamFigs
	s.Problems = append(s.Problems, problems...)
	s.OK = len(s.Problems) == 0
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		fmt.Fprintln(stderr, "sluice-load run: write summary:", err)
		return 1
	}
	for _, p := range s.Problems {
		fmt.Fprintln(stderr, "sluice-load run: problem:", p)
	}
	if !s.OK {
		return 1
	}
	return 0
}

// receivedBefore reads the subject's count before the run, trying for up to wait while
// the subject's metrics endpoint is not up yet.
func receivedBefore(ctx context.Context, c receivedCounter, wait time.Duration) (int64, error) {
	deadline := time.Now().Add(wait)
	for {
		n, err := c.count(ctx)
		if err == nil {
			return n, nil
		}
		if time.Now().After(deadline) || !retry.Sleep(ctx, 100*time.Millisecond) {
			return 0, fmt.Errorf("count what the subject received before the run: %w", err)
		}
	}
}

// processOf computes the whole-process figures from two samples.
func processOf(pid int, command string, before, after procSample, acked int64, elapsed time.Duration) *processFigures {
	cpu := (after.CPU - before.CPU).Seconds()
	p := &processFigures{
		PID: pid, Command: command, CPU: cpu,
		PeakRSS: float64(after.HWM) / mib, RSSBefore: float64(before.RSS) / mib, RSSAfter: float64(after.RSS) / mib,
	}
	if elapsed > 0 {
		p.CoresUsed = cpu / elapsed.Seconds()
	}
	if acked > 0 {
		p.CPUPerMillion = cpu / float64(acked) * 1e6
	}
	if cpu > 0 {
		p.EventsPerCore = float64(acked) / cpu
	}
	return p
}

// addCPU adds the CPU time of another process of the subject and recomputes the
// figures that depend on it.
func (p *processFigures) addCPU(pid int, cpu float64, acked int64, elapsed time.Duration) {
	p.AlsoPIDs = append(p.AlsoPIDs, pid)
	p.AlsoCPU += cpu
	p.CPU += cpu
	if elapsed > 0 {
		p.CoresUsed = p.CPU / elapsed.Seconds()
	}
	if acked > 0 {
		p.CPUPerMillion = p.CPU / float64(acked) * 1e6
	}
	if p.CPU > 0 {
		p.EventsPerCore = float64(acked) / p.CPU
	}
}

// summarize builds the summary and its own problems from the counters.
func (r *runner) summarize(elapsed time.Duration, proc *processFigures, sink *sinkFigures, m machine) summary {
	st := r.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	cfg := r.cfg
	compression := "none"
	switch {
	case cfg.transport == transportLumberjack && cfg.level > 0:
		compression = fmt.Sprintf("zlib-%d", cfg.level)
	case (cfg.transport == transportHTTP || cfg.transport == transportBulk) && cfg.gzip:
		compression = "gzip"
	}
	inflight := cfg.inflight
	if cfg.transport == transportHTTP || cfg.transport == transportBulk || cfg.transport == transportSyslogTCP {
		inflight = 1
	}
	shape, window, framing := cfg.shape, 0, ""
	switch cfg.transport {
	case transportSyslogTCP:
		shape, framing = "syslog-"+cfg.syslogFormat, cfg.syslogFraming
	case transportRELP:
		shape, window = "syslog-"+cfg.syslogFormat, cfg.window
	}
	secs := max(elapsed.Seconds(), 1e-9)
	ms := func(v uint64) float64 { return float64(v) / 1e6 }
	s := summary{
		Label: cfg.label, Role: cfg.role, Transport: cfg.transport, Target: cfg.addr, Shape: shape,
		Batch: cfg.batch, Connections: cfg.connections, Inflight: inflight, Window: window, Compression: compression, Framing: framing,
		Rate: cfg.rate, Duration: cfg.duration.Seconds(), Elapsed: elapsed.Seconds(),
		Events: counts{Sent: st.sent, Acked: st.acked, Rejected: st.rejected, Failed: st.failed,
			Lost: st.sent - st.acked - st.rejected - st.failed},
		Batches:         counts{Sent: st.sentBatches, Acked: st.ackedBatches, Failed: st.errBatches, Lost: st.sentBatches - st.ackedBatches - st.errBatches},
		EventsPerSecond: float64(st.acked) / secs,
		PayloadMBPerSec: float64(st.ackedBytes) / secs / 1e6,
		WireMBPerSec:    float64(r.wire.Load()) / secs / 1e6,
		Latency: latency{Count: st.hist.count(), P50: ms(st.hist.percentile(50)), P99: ms(st.hist.percentile(99)),
			P999: ms(st.hist.percentile(99.9)), Max: ms(st.hist.max), Mean: st.hist.mean() / 1e6},
		Errors: st.errors, ErrorSamples: st.samples, Process: proc, Sink: sink, Machine: m,
		Date: time.Now().UTC().Format(time.RFC3339), Problems: []string{},
	}
	if st.sent > 0 {
		s.EventBytes = float64(st.sentBytes) / float64(st.sent)
	}
	if st.acked == 0 {
		s.Problems = append(s.Problems, "no events were acknowledged")
	}
	if s.Events.Lost > 0 {
		s.Problems = append(s.Problems, fmt.Sprintf("%d events had no answer when the drain (%s) gave up", s.Events.Lost, cfg.drain))
	}
	if notAcked := st.failed + st.rejected; st.sent > 0 && float64(notAcked)/float64(st.sent) > cfg.maxErrorRatio {
		s.Problems = append(s.Problems, fmt.Sprintf("%d of %d events were not acknowledged (more than --max-error-ratio %g)", notAcked, st.sent, cfg.maxErrorRatio))
	}
	return s
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel(cpuinfo []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
