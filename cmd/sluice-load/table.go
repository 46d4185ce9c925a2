package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// scenarioRow is one scenario of the table: its subject's and baseline's summaries.
type scenarioRow struct {
	label             string
	subject, baseline *summary
}

// readSummaries reads run summaries and groups them by label, in the order the labels
// first appear.
func readSummaries(paths []string) ([]*scenarioRow, error) {
	var rows []*scenarioRow
	byLabel := map[string]*scenarioRow{}
	var errs []error
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("read summary: %w", err))
			continue
		}
		var s summary
		if err := json.Unmarshal(data, &s); err != nil {
			errs = append(errs, fmt.Errorf("decode summary %s: %w", p, err))
			continue
		}
		row := byLabel[s.Label]
		if row == nil {
			row = &scenarioRow{label: s.Label}
			byLabel[s.Label] = row
			rows = append(rows, row)
		}
		if s.Role == "baseline" {
			row.baseline = &s
		} else {
			row.subject = &s
		}
	}
	return rows, errors.Join(errs...)
}

// writeTable prints the scenarios as one Markdown table. The quoted figure is events
// per second per core of the subject process (acknowledged events per CPU second); the
// ratio is the subject's over the baseline's.
func writeTable(w io.Writer, rows []*scenarioRow) {
	var m *machine
	for _, r := range rows {
		for _, s := range []*summary{r.subject, r.baseline} {
			if s != nil && m == nil {
				m = &s.Machine
			}
		}
	}
	if m != nil {
		fmt.Fprintf(w, "Machine: %d x %s, %s, %s. Figures: events/s per core of the subject process (acknowledged events per CPU second, from /proc); ratio = subject / baseline.\n\n", m.NProc, m.Model, m.OS, m.Go)
	}
	fmt.Fprintln(w, "| scenario | subject | baseline | ratio | events/s, subject / baseline | p99 ACK ms, subject / baseline | peak RSS MiB, subject / baseline |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, r := range rows {
		ratio := "-"
		sp, bp := perCore(r.subject), perCore(r.baseline)
		if sp > 0 && bp > 0 {
			ratio = strconv.FormatFloat(sp/bp, 'f', 1, 64) + "x"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s / %s | %s / %s | %s / %s |\n", r.label,
			figure(r.subject, sp), figure(r.baseline, bp), ratio,
			field(r.subject, func(s *summary) string { return thousands(s.EventsPerSecond) }),
			field(r.baseline, func(s *summary) string { return thousands(s.EventsPerSecond) }),
			field(r.subject, p99), field(r.baseline, p99),
			field(r.subject, peakRSS), field(r.baseline, peakRSS))
	}
	var notes []string
	for _, r := range rows {
		if s := r.subject; s != nil && s.Search != nil {
			l := s.Search.Latency
			notes = append(notes, fmt.Sprintf("- %s: %s of %s acknowledged events searchable, the last %.1f s after the last acknowledgement; acknowledgement -> searchable per batch (%d batches, %.0f ms polls): p50 %.0f ms, p99 %.0f ms, max %.0f ms.",
				r.label, thousands(float64(s.Search.Documents)), thousands(float64(s.Events.Acked)), s.Search.Wait, l.Count, s.Search.PollMs, l.P50, l.P99, l.Max))
			if len(s.Search.Hops) > 0 {
				notes = append(notes, "  Hops, from the processes' own histograms: "+describeHops(s.Search.Hops)+".")
			}
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "End to end (events/s above: acknowledged events over the time until the last was searchable; per core: CPU of every sluice process):")
		for _, n := range notes {
			fmt.Fprintln(w, n)
		}
	}
	writeRowNotes(w, rows, "Received, by the subject's own count (timed until it had every message; syslog acknowledges nothing):", func(s *summary) string {
		x := s.Received
		if x == nil {
			return ""
		}
		what := "acknowledged"
		if s.Transport == transportSyslogTCP {
			what = "written"
		}
		wait := fmt.Sprintf("the last %.2f s after the last was %s", x.Wait, what)
		if !x.Complete {
			wait = "INCOMPLETE"
		}
		return fmt.Sprintf("%s of %s %s (%s), %s", thousands(float64(x.Count)), thousands(float64(s.Events.Acked)), what, receivedSource(x.Source), wait)
	})
	writeRowNotes(w, rows, "In the streams, read back after each run (what the run added):", func(s *summary) string {
		x := s.Stream
		if x == nil {
			return ""
		}
		return fmt.Sprintf("%s events (%s acknowledged) in %s records, %.1f bytes per event",
			thousands(float64(x.Events)), thousands(float64(s.Events.Acked)), thousands(float64(x.Records)), x.BytesPerEvent)
	})
}

// writeRowNotes prints, under heading, a line for each row whose subject or baseline
// describe has something to say of ("" for nothing), each part led by its role.
func writeRowNotes(w io.Writer, rows []*scenarioRow, heading string, describe func(*summary) string) {
	var lines []string
	for _, r := range rows {
		var parts []string
		for _, s := range []*summary{r.subject, r.baseline} {
			if s == nil {
				continue
			}
			if d := describe(s); d != "" {
				parts = append(parts, s.Role+" "+d)
			}
		}
		if len(parts) > 0 {
			lines = append(lines, fmt.Sprintf("- %s: %s.", r.label, strings.Join(parts, "; ")))
		}
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, heading)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}

// receivedSource names where a received count came from: the metric, or "its output
// file".
func receivedSource(source string) string {
	if _, selector, ok := strings.Cut(source, " "); ok && strings.HasPrefix(source, "http") {
		return selector
	}
	return "its output file"
}

// p99 is the run's p99 latency of a batch (acknowledgement, _bulk request), or "-"
// when the run measured none (grok runs).
func p99(s *summary) string {
	if s.Latency.Count == 0 && s.Latency.P99 == 0 {
		return "-"
	}
	return strconv.FormatFloat(s.Latency.P99, 'f', 1, 64)
}

func perCore(s *summary) float64 {
	if s == nil || s.Process == nil {
		return 0
	}
	return s.Process.EventsPerCore
}

func figure(s *summary, perCore float64) string {
	switch {
	case s == nil:
		return "-"
	case !s.OK:
		return "FAILED"
	case perCore == 0:
		return "n/a"
	}
	return thousands(perCore)
}

func field(s *summary, f func(*summary) string) string {
	if s == nil || (!s.OK && s.Events.Sent == 0) {
		return "-" // no run, or one that never sent
	}
	return f(s)
}

func peakRSS(s *summary) string {
	if s.Process == nil {
		return "n/a"
	}
	return strconv.FormatFloat(s.Process.PeakRSS, 'f', 0, 64)
}

// thousands formats v rounded to a whole number with comma separators.
func thousands(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
