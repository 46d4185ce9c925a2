// Command sluice-load is sluice's load generator and benchmark helper: it drives a
// subject (a sluice process, or a baseline) over lumberjack v2, HTTP NDJSON, gRPC
// PushStream or the Elasticsearch _bulk API with events shaped like the sample log
// types, or over syslog TCP (RFC 6587) and RELP with syslog messages, and reports
// throughput, acknowledgement latency, errors by kind and, from /proc, the subject's
// CPU per event and peak memory. scripts/bench.sh runs the whole suite with it;
// BENCHMARKS.md has the figures.
//
//	sluice-load run --transport lumberjack --addr 127.0.0.1:5044 --duration 10s
//	sluice-load run --transport syslog-tcp --addr 127.0.0.1:5514 --received-metrics http://127.0.0.1:8080/metrics
//	sluice-load run --transport relp --addr 127.0.0.1:2514 --window 128
//	sluice-load baseline-lumberjack --addr 127.0.0.1:5045
//	sluice-load kinesis-streams --endpoint http://127.0.0.1:4567 sluice-firewall
//	sluice-load lines --events 4096 > lines.txt
//	sluice-load grok --engine elastic-go-grok --input lines.txt --duration 10s
//	sluice-load index --client esutil --url http://127.0.0.1:9200 --bulk-bytes 5MiB
//	sluice-load null-bulk --addr 127.0.0.1:9299
//	sluice-load free-ports 3
//	sluice-load table results/*.json
//
// It only targets loopback addresses unless --allow-remote is given, and every run
// stops by itself (duration, event count, a hard cap of one hour).
//
// It is a separate binary so that the sluice binary carries none of it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `sluice-load: load generator and benchmark helper for sluice

Usage:
  sluice-load run [flags]                    drive a subject, print a JSON summary
  sluice-load baseline-lumberjack --addr A   serve go-lumber's stock v2 server (baseline)
  sluice-load kinesis-streams --endpoint URL [--shards N] NAME...
                                             create streams on a Kinesis-compatible server
  sluice-load lines [--shape S] [--events N] raw log lines of generated events
  sluice-load grok --engine E --input FILE   parse lines with sluice's firewall pipeline,
                                             its grok alone or a stock Go grok library
  sluice-load grok-compare A B               check two engines' captures are equal
  sluice-load index --client C --url URL     bulk-index generated documents with sluice's
                                             search sink or esutil.BulkIndexer
  sluice-load null-bulk --addr A             serve a null _bulk endpoint (client CPU only)
  sluice-load search-cleanup --url URL --namespace NS
                                             delete a run's data streams and template
  sluice-load free-ports N                   print N free TCP ports on 127.0.0.1
  sluice-load table FILE...                  print run summaries as one Markdown table

Run "sluice-load COMMAND -h" for a command's flags.
`

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "run":
		cfg, code := parseRun(args, stderr)
		if code >= 0 {
			return code
		}
		return runLoad(ctx, cfg, stdout, stderr)
	case "baseline-lumberjack":
		return baselineCmd(ctx, args, stderr)
	case "kinesis-streams":
		return kinesisCmd(ctx, args, stderr)
	case "lines":
		return linesCmd(args, stdout, stderr)
	case "grok":
		return grokCmd(ctx, args, stdout, stderr)
	case "grok-compare":
		return grokCompareCmd(args, stdout, stderr)
	case "index":
		return indexCmd(ctx, args, stdout, stderr)
	case "search-cleanup":
		return searchCleanupCmd(ctx, args, stderr)
	case "null-bulk":
		return nullBulkCmd(ctx, args, stderr)
	case "free-ports":
		return freePorts(args, stdout, stderr)
	case "table":
		return tableCmd(args, stdout, stderr)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "sluice-load: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}

// parseRun reads the flags of `run`; a code of -1 means go on.
func parseRun(args []string, stderr io.Writer) (runConfig, int) {
	fs := flag.NewFlagSet("sluice-load run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c runConfig
	fs.StringVar(&c.label, "label", "", "scenario `name` for the table (scripts/bench.sh)")
	fs.StringVar(&c.role, "role", "subject", "subject or baseline: which side of the scenario this run measures")
	fs.StringVar(&c.transport, "transport", transportLumberjack, "lumberjack | http (NDJSON to /v1/events) | grpc (PushStream) | otlp (OTLP/gRPC LogsService/Export) | bulk (/_bulk) | syslog-tcp (RFC 6587; needs --received-metrics or --received-file) | relp")
	fs.StringVar(&c.addr, "addr", "", "`host:port` of the subject (loopback only unless --allow-remote)")
	fs.IntVar(&c.connections, "connections", 4, "connections (each with its own worker)")
	fs.IntVar(&c.batch, "batch", 0, "events per batch: window, request, stream message, syslog write, or relp unit of bookkeeping (default 2048 lumberjack, 1000 bulk, 128 relp, 500 http, grpc and syslog-tcp)")
	fs.IntVar(&c.inflight, "inflight", 2, "batches in flight per connection: lumberjack pipelining, PushStream window, relp batches handed to the connection (HTTP and syslog-tcp: always 1)")
	fs.IntVar(&c.window, "window", 128, "relp: most transactions unanswered per connection (librelp's default is 128)")
	fs.StringVar(&c.syslogFormat, "syslog-format", syslogBSD, "syslog-tcp and relp messages: bsd (RFC 3164) or rfc5424")
	fs.StringVar(&c.syslogFraming, "syslog-framing", framingOctet, "syslog-tcp framing (RFC 6587): octet-counted or lf")
	fs.IntVar(&c.level, "compression", 3, "lumberjack zlib `level`, 0 for none (3 is Filebeat's default)")
	fs.BoolVar(&c.gzip, "gzip", false, "gzip HTTP and _bulk bodies (compressed once, up front)")
	fs.StringVar(&c.httpAck, "http-ack", httpAckCount, "http: how an answer acknowledges: count (its \"accepted\" says how many events, as sluice answers) or status (a 2xx acknowledges the whole request, for peers that answer with a status only)")
	fs.Float64Var(&c.rate, "rate", 0, "fixed rate in `events/s` over all connections (token bucket); 0 sends as fast as batches are acknowledged")
	fs.DurationVar(&c.duration, "duration", 0, "how long to send (default 10s, or the 1h hard cap when --events is set)")
	fs.Int64Var(&c.events, "events", 0, "stop after sending this many events (0: no count limit)")
	fs.DurationVar(&c.drain, "drain", 30*time.Second, "after sending stops, longest wait for the outstanding acknowledgements")
	fs.DurationVar(&c.timeout, "timeout", time.Minute, "longest wait for one batch's acknowledgement")
	fs.StringVar(&c.apiKey, "api-key", "", "API key sent as Authorization: Bearer (HTTP, _bulk, gRPC)")
	fs.StringVar(&c.index, "index", "logs-%s-bench", "_bulk index of each document; %s is the log type")
	fs.StringVar(&c.shape, "shape", shapeFirewall, "event shape: firewall (iptables syslog line in Filebeat's shape), ids (Suricata EVE), waf (AWS WAF), mix; syslog-tcp and relp send syslog messages of their own (--syslog-format)")
	fs.IntVar(&c.size, "size", 0, "pad every event document (syslog-tcp, relp: message) to at least this many `bytes` (0: natural size)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the generated events")
	fs.DurationVar(&c.progress, "progress", time.Second, "interval of the progress line on stderr (0: none)")
	fs.IntVar(&c.pid, "pid", 0, "`PID` of the subject, for its CPU time and memory from /proc")
	fs.StringVar(&c.subjectCmd, "subject-cmd", "", "shell `command` that starts the subject; it is measured, then stopped with SIGTERM")
	fs.StringVar(&c.subjectLog, "subject-log", "", "`file` for the output of --subject-cmd (default: stderr)")
	fs.DurationVar(&c.subjectReady, "subject-ready", 30*time.Second, "longest wait for --subject-cmd to accept connections on --addr")
	fs.StringVar(&c.sinkDir, "sink-dir", "", "file sink `directory` of the subject (sluice dev): wait until it holds every acknowledged event, and count that time")
	fs.DurationVar(&c.sinkTimeout, "sink-timeout", time.Minute, "longest wait for the sink, the search engine or the received count after the last acknowledgement")
	fs.StringVar(&c.searchURL, "search-url", "", "search engine `URL` the subject indexes into (the whole chain): wait until --search-index counts every acknowledged event, and measure acknowledgement to searchable")
	fs.StringVar(&c.searchIndex, "search-index", "", "index `pattern` that holds this run's documents and nothing else (e.g. logs-*-run42)")
	fs.DurationVar(&c.searchPoll, "search-poll", 100*time.Millisecond, "interval of the _count polls: the resolution of acknowledgement-to-searchable latency")
	fs.Func("also-pid", "`PID` of another process of the subject (e.g. sluice transform) whose CPU time is added to the subject's; repeatable", func(s string) error {
		p, err := strconv.Atoi(s)
		if err != nil || p <= 0 {
			return fmt.Errorf("%q is not a PID", s)
		}
		c.alsoPIDs = append(c.alsoPIDs, p)
		return nil
	})
	fs.Func("hop-metrics", "Prometheus `URL` of a process of the subject (the gateway's, the transformer's /metrics): at the end, report the histograms of the chain's hops; repeatable", func(s string) error {
		if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
			return fmt.Errorf("%q is not an http(s) URL", s)
		}
		c.hopMetrics = append(c.hopMetrics, s)
		return nil
	})
	fs.StringVar(&c.kinesisEndpoint, "kinesis-endpoint", "", "`URL` of the Kinesis-compatible server the subject writes to: with --kinesis-streams, the streams must take every acknowledged event during the run (read back from their start before and after)")
	fs.Func("kinesis-streams", "comma-separated `names` of the streams the subject writes to (with --kinesis-endpoint)", func(s string) error {
		for name := range strings.SplitSeq(s, ",") {
			if name = strings.TrimSpace(name); name != "" {
				c.kinesisStreams = append(c.kinesisStreams, name)
			}
		}
		return nil
	})
	fs.StringVar(&c.kinesisFormat, "kinesis-format", kinesisSluice, "what the streams' records hold: sluice (docs/stream-format.md) or otlp (an OTLP logs request a record, as the Collector's awskinesis exporter writes)")
	fs.StringVar(&c.receivedMetrics, "received-metrics", "", "Prometheus `URL` of the subject (sluice's /metrics): after sending, wait until --received-metric has grown by every acknowledged (syslog-tcp: written) event, and count that time")
	fs.StringVar(&c.receivedMetric, "received-metric", "", "`selector` name{label=\"value\",...} summed for --received-metrics (default for syslog-tcp sluice_syslog_messages_total{result=\"accepted\"}, for relp sluice_relp_transactions_total{result=\"accepted\"})")
	fs.StringVar(&c.receivedFile, "received-file", "", "`file` the subject writes one line per message to (rsyslog's omfile): after sending, wait until it has grown by every acknowledged event, and count that time")
	fs.DurationVar(&c.receivedPoll, "received-poll", 20*time.Millisecond, "interval of the --received-metrics or --received-file polls after sending: the resolution of the run's end")
	fs.Float64Var(&c.maxErrorRatio, "max-error-ratio", 0, "fail the run when more than this share of the events sent was not acknowledged")
	fs.BoolVar(&c.allowRemote, "allow-remote", false, "allow a target that is not a loopback address")
	if err := fs.Parse(args); err != nil {
		return c, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sluice-load run: unexpected arguments %q\n", fs.Args())
		return c, 2
	}
	if c.batch == 0 {
		c.batch = defaultBatch(c.transport)
	}
	if c.receivedMetrics != "" && c.receivedMetric == "" {
		c.receivedMetric = defaultReceivedMetric(c.transport)
	}
	if c.duration == 0 {
		c.duration = 10 * time.Second
		if c.events > 0 {
			c.duration = hardCap
		}
	}
	return c, -1
}

func baselineCmd(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("sluice-load baseline-lumberjack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:5045", "`host:port` to listen on (loopback only unless --allow-remote)")
	timeout := fs.Duration("timeout", 30*time.Second, "the server's read and write timeout")
	verbose := fs.Bool("verbose", false, "keep go-lumber's own log lines")
	allowRemote := fs.Bool("allow-remote", false, "allow listening on an address that is not loopback")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ln, code := listenLoopback(ctx, "baseline-lumberjack", *addr, *allowRemote, stderr)
	if ln == nil {
		return code
	}
	if err := baselineLumberjack(ctx, ln, *timeout, *verbose, stderr); err != nil {
		fmt.Fprintln(stderr, "sluice-load baseline-lumberjack:", err)
		return 1
	}
	return 0
}

func kinesisCmd(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("sluice-load kinesis-streams", flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := fs.String("endpoint", "", "`URL` of the Kinesis-compatible server (loopback only unless --allow-remote)")
	region := fs.String("region", "us-east-1", "region to sign requests for")
	shards := fs.Int("shards", 4, "shards per stream")
	allowRemote := fs.Bool("allow-remote", false, "allow an endpoint that is not loopback")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *endpoint == "" || fs.NArg() == 0 {
		fmt.Fprintln(stderr, "usage: sluice-load kinesis-streams --endpoint URL [--shards N] NAME...")
		return 2
	}
	if err := createStreams(ctx, *endpoint, *region, *shards, fs.Args(), *allowRemote); err != nil {
		fmt.Fprintln(stderr, "sluice-load kinesis-streams:", err)
		return 1
	}
	return 0
}

// freePorts prints n distinct free TCP ports of 127.0.0.1, one a line. They are held
// open together while chosen, so they differ; another process may still take one
// before the caller binds it.
func freePorts(args []string, stdout, stderr io.Writer) int {
	n := 1
	if len(args) > 1 {
		fmt.Fprintln(stderr, "usage: sluice-load free-ports [N]")
		return 2
	}
	if len(args) == 1 {
		v, err := strconv.Atoi(args[0])
		if err != nil || v < 1 || v > 100 {
			fmt.Fprintln(stderr, "sluice-load free-ports: N must be 1 to 100")
			return 2
		}
		n = v
	}
	var ports []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(stderr, "sluice-load free-ports: listen:", err)
			return 1
		}
		defer ln.Close()
		ports = append(ports, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	fmt.Fprintln(stdout, strings.Join(ports, "\n"))
	return 0
}

func tableCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: sluice-load table FILE...")
		return 2
	}
	rows, err := readSummaries(args)
	writeTable(stdout, rows)
	if err != nil {
		printErrs(stderr, "sluice-load table", err)
		return 1
	}
	return 0
}

// printErrs prints each error of a joined error on its own line.
func printErrs(w io.Writer, what string, err error) {
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) {
		for _, e := range j.Unwrap() {
			fmt.Fprintf(w, "%s: %v\n", what, e)
		}
		return
	}
	fmt.Fprintf(w, "%s: %v\n", what, err)
}
