// Command sluice is the log ingestion gateway for security analytics, in one binary:
//
//	sluice dev        both tiers in one process: embedded stream, NDJSON file sink
//	sluice gateway    the front tier: receivers -> routing -> stream
//	sluice transform  the back tier: stream -> pipelines -> index
//	sluice validate   check a configuration file, reporting every problem
//	sluice test       run the pipelines' test cases (NAME.test.yaml)
//	sluice replay     index dead letters again, optionally through changed pipelines
//	sluice defaults   print every setting with its default and environment variable
//	sluice hash-key   make the SHA-256 of an API key for gateway.auth.keys
//	sluice top        what flows through a running sluice, in the terminal (its console)
//	sluice tap        a live sample of a running sluice's events, as NDJSON
//	sluice cost       estimate the monthly AWS cost of a load, beside Firehose
//	sluice healthcheck  exit 0 when /readyz answers 200 (the image's HEALTHCHECK)
//	sluice version    print the version
//
// This file is the command line; app.go wires the data path.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"google.golang.org/grpc/grpclog"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/gateway"
	"github.com/sluice-siem/sluice/internal/memlimit"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	grpclog.SetLoggerV2(grpcLog) // before any gRPC function: see grpcLog
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv))
}

const usage = `sluice: log ingestion gateway for security analytics

Usage:
  sluice dev        [flags]   both tiers in one process (embedded stream, file sink)
  sluice gateway    [flags]   front tier: receive, route, write to the stream
  sluice transform  [flags]   back tier: consume the stream, transform, write
  sluice validate   -c FILE [--role ROLE]   check a configuration, report every problem
  sluice test       [-c FILE] [PIPELINE_DIR...]   run pipeline test cases
  sluice replay     [-c FILE] [--from SRC] [--pipeline] [--dry-run] ...   index dead letters again
  sluice defaults   [ROLE]    print every setting, its default and its variable
  sluice hash-key   [--generate]   SHA-256 of an API key (read from stdin)
  sluice top        [--url URL] [--once]   events in and out per type, failures, backlog (the console's Flow)
  sluice tap        [--url URL] [--point P] [--type T] [-n N]   a live sample of events, as NDJSON
  sluice cost       --events-per-second N [--event-bytes B] ...   monthly AWS cost, beside Firehose
  sluice healthcheck [--url URL]   exit 0 when URL (default http://127.0.0.1:8080/readyz) answers 200
  sluice version

Run "sluice COMMAND -h" for a command's flags.
`

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "dev", "gateway", "transform":
		return serve(ctx, config.Role(cmd), args, stderr, env)
	case "test":
		return pipelineTest(ctx, args, stdout, stderr, env)
	case "replay":
		return replay(ctx, args, stdout, stderr, env)
	case "validate":
		return validate(args, stdout, stderr, env)
	case "defaults":
		return defaults(args, stdout, stderr)
	case "hash-key":
		return hashKey(args, stdin, stdout, stderr)
	case "cost":
		return costCmd(args, stdout, stderr)
	case "top":
		return topCmd(ctx, args, stdout, stderr, env)
	case "tap":
		return tapCmd(ctx, args, stdout, stderr, env)
	case "healthcheck":
		return healthcheck(ctx, args, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "sluice", versionString())
		return 0
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "sluice: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}

// serveFlags are the flags of the serving roles; a flag that is set wins over the file
// and the environment.
type serveFlags struct {
	configPath string
	http, grpc string
	lumberjack string
	syslogTCP  string
	syslogTLS  string
	syslogUDP  string
	relp       string
	dataDir    string
}

func (f *serveFlags) register(fs *flag.FlagSet, role config.Role) {
	d := config.Default(role)
	fs.StringVar(&f.configPath, "c", "", "configuration `file` (YAML); see `sluice defaults`")
	fs.StringVar(&f.configPath, "config", "", "same as -c")
	if role != config.RoleTransform {
		fs.StringVar(&f.http, "http", "", "HTTP listen `address` (default "+d.HTTP.Addr+"; empty in the file disables)")
		fs.StringVar(&f.grpc, "grpc", "", "gRPC listen `address` (default "+d.GRPC.Addr+")")
		fs.StringVar(&f.lumberjack, "lumberjack", "", "Beats/lumberjack listen `address` (default "+d.Lumberjack.Addr+")")
		fs.StringVar(&f.syslogTCP, "syslog-tcp", "", "syslog over TCP listen `address`, such as 127.0.0.1:5514 (default off)")
		fs.StringVar(&f.syslogTLS, "syslog-tls", "", "syslog over TLS listen `address`, such as 0.0.0.0:6514; needs syslog.tls.cert_file and key_file (default off)")
		fs.StringVar(&f.syslogUDP, "syslog-udp", "", "syslog over UDP listen `address`, such as 127.0.0.1:5514; no acknowledgement (default off)")
		fs.StringVar(&f.relp, "relp", "", "RELP (rsyslog omrelp) listen `address`, such as 127.0.0.1:2514 (default off)")
	}
	if role != config.RoleGateway {
		fs.StringVar(&f.dataDir, "data-dir", "", "data `directory`: the file sink, dead letters and (sluice dev) the embedded stream in _stream (default "+d.Sink.File.Dir+")")
	}
}

func (f *serveFlags) apply(c *config.Config) {
	for _, o := range []struct {
		v   string
		dst *string
	}{{f.http, &c.HTTP.Addr}, {f.grpc, &c.GRPC.Addr}, {f.lumberjack, &c.Lumberjack.Addr}, {f.syslogTCP, &c.Syslog.TCP.Addr},
		{f.syslogTLS, &c.Syslog.TLS.Addr}, {f.syslogUDP, &c.Syslog.UDP.Addr}, {f.relp, &c.RELP.Addr}, {f.dataDir, &c.Sink.File.Dir}} {
		if o.v != "" {
			*o.dst = o.v
		}
	}
}

func serve(ctx context.Context, role config.Role, args []string, stderr io.Writer, env func(string) (string, bool)) int {
	fs := flag.NewFlagSet("sluice "+string(role), flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f serveFlags
	f.register(fs, role)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sluice %s: unexpected arguments %q\n", role, fs.Args())
		return 2
	}
	cfg, err := config.Load(role, f.configPath, env)
	if err != nil {
		printProblems(stderr, "sluice "+string(role)+": configuration", err)
		return 1
	}
	f.apply(&cfg)
	if err := cfg.Validate(role); err != nil {
		printProblems(stderr, "sluice "+string(role)+": configuration", err)
		return 1
	}
	if err := checkPipelines(cfg, role); err != nil {
		printProblems(stderr, "sluice "+string(role)+": pipelines", err)
		return 1
	}
	log := newLogger(stderr, cfg.Log)
	grpcLog.use(log)
	log.Info("starting sluice", "role", role, "version", versionString())
	// The garbage collector keeps the heap under the container's memory limit.
	if limit, source, err := memlimit.Set(cgroupRoot, env); err != nil {
		log.Warn("no Go memory limit: cannot read the container's", "err", err)
	} else if limit > 0 {
		log.Info("Go memory limit", "bytes", limit, "from", source)
	} else {
		log.Info("Go memory limit", "bytes", "none", "from", "no GOMEMLIMIT and no cgroup memory limit")
	}
	prof, err := startProfile(env, string(role))
	if err != nil {
		log.Error("start", "err", err)
		return 1
	}
	defer func() {
		if files, err := prof.stop(); err != nil {
			log.Error("profiles", "err", err)
		} else if len(files) > 0 {
			log.Info("profiles written", "files", files)
		}
	}()
	a, err := newApp(ctx, cfg, role, log)
	if err != nil {
		log.Error("start", "err", err)
		return 1
	}
	if err := a.run(ctx); err != nil {
		log.Error("stopped with errors", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// cgroupRoot is where the process sees its cgroup, whose memory limit memlimit reads.
const cgroupRoot = "/sys/fs/cgroup"

func newLogger(w io.Writer, c config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // validated
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func validate(args []string, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	fs := flag.NewFlagSet("sluice validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "", "configuration `file` to check (required)")
	fs.StringVar(path, "config", "", "same as -c")
	role := fs.String("role", string(config.RoleGateway), "`role` the file is for: dev, gateway or transform")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprintln(stderr, "sluice validate: -c FILE is required")
		return 2
	}
	r := config.Role(*role)
	if r != config.RoleDev && r != config.RoleGateway && r != config.RoleTransform {
		fmt.Fprintf(stderr, "sluice validate: --role must be dev, gateway or transform, not %q\n", *role)
		return 2
	}
	cfg, err := config.Load(r, *path, env)
	if err == nil {
		err = errors.Join(cfg.Validate(r), checkPipelines(cfg, r))
	}
	if err != nil {
		printProblems(stderr, *path, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: valid for sluice %s\n", *path, r)
	return 0
}

// printProblems prints each problem of a joined error on its own line.
func printProblems(w io.Writer, what string, err error) {
	var lines []string
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		lines = append(lines, strings.Split(err.Error(), "\n")...)
	}
	walk(err)
	fmt.Fprintf(w, "%s: %d problem(s):\n", what, len(lines))
	for _, l := range lines {
		fmt.Fprintf(w, "  %s\n", strings.TrimSpace(l))
	}
}

func defaults(args []string, stdout, stderr io.Writer) int {
	role := config.RoleDev
	if len(args) > 0 {
		role = config.Role(args[0])
	}
	if role != config.RoleDev && role != config.RoleGateway && role != config.RoleTransform || len(args) > 1 {
		fmt.Fprintln(stderr, "usage: sluice defaults [dev|gateway|transform]")
		return 2
	}
	doc, err := config.Document(config.Default(role))
	if err != nil {
		fmt.Fprintln(stderr, "sluice defaults:", err)
		return 1
	}
	fmt.Fprintf(stdout, "# sluice %s: every setting with its default. Each can be set in the file\n# given with -c or by the environment variable in parentheses.\n", role)
	_, _ = stdout.Write(doc)
	return 0
}

func hashKey(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sluice hash-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	generate := fs.Bool("generate", false, "generate a new random key and print it with its hash")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var key string
	if *generate {
		b := make([]byte, 24)
		_, _ = rand.Read(b) // never fails (crypto/rand)
		key = "slk_" + hex.EncodeToString(b)
		fmt.Fprintln(stdout, "key:   ", key)
		fmt.Fprintln(stdout, "sha256:", gateway.HashKey(key))
		return 0
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintln(stderr, "sluice hash-key: read key:", err)
		return 1
	}
	key = strings.TrimSpace(line)
	if key == "" {
		fmt.Fprintln(stderr, "sluice hash-key: no key on standard input (or use --generate)")
		return 2
	}
	fmt.Fprintln(stdout, gateway.HashKey(key))
	return 0
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return "dev"
}
