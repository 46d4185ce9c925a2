package enrich

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/internal/background"
	"github.com/sluice-siem/sluice/transform/event"
)

// Resources holds everything the enrichment processors read: the MaxMind databases,
// CIDR tables and indicator sets loaded from files, and the Redis and PostgreSQL
// sources with their caches. One Resources serves every pipeline and shard; processors
// hold on to it and must not be used after Close.
//
// Files are reloaded by Run when they change. A reload builds the new version
// completely and then swaps one pointer, so each lookup sees one whole version; a file
// that fails to load leaves the old version in service (the error is logged and
// counted).
type Resources struct {
	cfg     ResourcesConfig
	log     *slog.Logger
	metrics *metrics

	mmdbs   map[string]*reloadable[mmdbVersion]
	cidrs   map[string]*reloadable[cidrTable]
	sets    map[string]*reloadable[indicatorSet]
	sources map[string]*source
	files   []*watchedFile

	closeOnce sync.Once
	// reload runs Run between Start and Shutdown.
	reload background.Work
}

// NewResources validates cfg, loads every file it names and connects its lookup
// sources, reporting every problem at once. Backends are not required to be up: a
// source that cannot be reached is logged and its lookups fail (or pass, with
// fail_open) until it answers. A nil logger discards logs; a nil meter means no
// metrics. The caller must Close the result; Run keeps its files current.
func NewResources(ctx context.Context, cfg ResourcesConfig, logger *slog.Logger, meter metric.Meter) (*Resources, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(meter)
	if err != nil {
		return nil, err
	}
	r := &Resources{cfg: cfg, log: logger, metrics: m, mmdbs: map[string]*reloadable[mmdbVersion]{},
		cidrs: map[string]*reloadable[cidrTable]{}, sets: map[string]*reloadable[indicatorSet]{}, sources: map[string]*source{}}
	var errs []error
	for _, name := range sortedKeys(cfg.MMDB) {
		path := cfg.MMDB[name]
		h := &reloadable[mmdbVersion]{name: name, build: func() (*mmdbVersion, error) { return loadMMDB(cfg.Embedded, name, path) }}
		r.mmdbs[name] = h
		errs = append(errs, r.watch("mmdb", name, []string{path}, h.load))
	}
	for _, name := range sortedKeys(cfg.CIDRTables) {
		path := cfg.CIDRTables[name]
		h := &reloadable[cidrTable]{name: name, build: func() (*cidrTable, error) {
			t, err := loadCIDRTable(cfg.Embedded, path)
			if err != nil {
				return nil, fmt.Errorf("load cidr table %s: %w", name, err)
			}
			return t, nil
		}}
		r.cidrs[name] = h
		errs = append(errs, r.watch("cidr_table", name, []string{path}, h.load))
	}
	for _, name := range sortedKeys(cfg.ThreatIntel) {
		set := cfg.ThreatIntel[name]
		h := &reloadable[indicatorSet]{name: name, build: func() (*indicatorSet, error) {
			s, err := loadIndicatorSet(cfg.Embedded, set)
			if err != nil {
				return nil, fmt.Errorf("load threat-intel set %s: %w", name, err)
			}
			return s, nil
		}}
		r.sets[name] = h
		errs = append(errs, r.watch("threat_intel", name, set.Files, h.load))
	}
	for _, name := range sortedKeys(cfg.Redis) {
		c := cfg.Redis[name]
		b := newRedisBackend(c, c.Timeout)
		s, err := newSource(name, "redis", b, c.Timeout, cfg.Cache, m, time.Now)
		if err != nil {
			b.close()
			errs = append(errs, err)
			continue
		}
		r.sources[name] = s
	}
	for _, name := range sortedKeys(cfg.Postgres) {
		c := cfg.Postgres[name]
		b, err := newPostgresBackend(ctx, c)
		if err != nil {
			errs = append(errs, fmt.Errorf("postgres.%s.dsn: %w", name, err))
			continue
		}
		s, err := newSource(name, "postgres", b, c.Timeout, cfg.Cache, m, time.Now)
		if err != nil {
			b.close()
			errs = append(errs, err)
			continue
		}
		r.sources[name] = s
	}
	if err := errors.Join(errs...); err != nil {
		r.Close()
		return nil, err
	}
	r.checkSources(ctx)
	return r, nil
}

// checkSources logs the sources that do not answer a probe now.
func (r *Resources) checkSources(ctx context.Context) {
	var wg sync.WaitGroup
	for _, name := range sortedKeys(r.sources) {
		s := r.sources[name]
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, s.timeout)
			defer cancel()
			var err error
			switch b := s.backend.(type) {
			case *redisBackend:
				err = b.client.Ping(ctx).Err()
			case *postgresBackend:
				err = b.pool.Ping(ctx)
			}
			if err != nil {
				r.log.WarnContext(ctx, "lookup source does not answer yet", "source", name, "backend", s.kind, "err", err)
			}
		})
	}
	wg.Wait()
}

// Close closes the lookup sources' connections. Processors must not be used after it;
// it is idempotent.
func (r *Resources) Close() {
	r.closeOnce.Do(func() {
		for _, s := range r.sources {
			s.backend.close()
		}
		r.metrics.close()
	})
}

// Run reloads files that changed until ctx ends, then returns nil. Every
// ResourcesConfig.ReloadInterval it compares each file's modification time and size with
// those of the version in service; a change is loaded once it has held for one more
// interval (so that a file being written is not loaded half-way). Writers should still
// replace files atomically (write a temporary file, then rename it). Without Run, the
// files loaded by NewResources stay in service.
func (r *Resources) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			r.poll(ctx)
		}
	}
}

// Processor decodes the options of an enrichment processor and constructs it. kind is
// the processor's name in a pipeline (geoip, cidr_lookup, lookup, threat_intel); ok is
// false, with no error, for any other kind. node is the mapping of the processor's own
// options only: the pipeline handles and removes its common keys (if, on_failure, ...)
// before the call. Every problem is reported at once: unknown options and type errors
// with their line, invalid values with their option name.
func (r *Resources) Processor(kind string, node *yaml.Node) (p event.Processor, ok bool, err error) {
	cfg, ok, err := decodeKind(kind, node)
	if !ok || err != nil {
		return nil, ok, err
	}
	switch cfg := cfg.(type) {
	case GeoIPConfig:
		p, err = NewGeoIP(cfg, r)
	case CIDRConfig:
		p, err = NewCIDRLookup(cfg, r)
	case LookupConfig:
		p, err = NewLookup(cfg, r)
	case ThreatIntelConfig:
		p, err = NewThreatIntel(cfg, r)
	}
	if err != nil {
		return nil, true, err
	}
	return p, true, nil
}

// CheckProcessor is Processor without constructing anything, for `sluice validate`: it
// decodes and validates the options and checks that the resources they name are in
// res, without loading files or connecting to servers.
func CheckProcessor(kind string, node *yaml.Node, res ResourcesConfig) (ok bool, err error) {
	cfg, ok, err := decodeKind(kind, node)
	if !ok || err != nil {
		return ok, err
	}
	var errs []error
	missing := func(opt, name, section string, found bool) {
		if name != "" && !found {
			errs = append(errs, fmt.Errorf("%s: no %q in lookups.%s", opt, name, section))
		}
	}
	switch cfg := cfg.(type) {
	case GeoIPConfig:
		_, found := res.MMDB[cfg.CityDB]
		missing("city_db", cfg.CityDB, "mmdb", found)
		_, found = res.MMDB[cfg.ASNDB]
		missing("asn_db", cfg.ASNDB, "mmdb", found)
	case CIDRConfig:
		_, found := res.CIDRTables[cfg.Table]
		missing("table", cfg.Table, "cidr_tables", found)
	case LookupConfig:
		_, redis := res.Redis[cfg.Source]
		_, pg := res.Postgres[cfg.Source]
		missing("source", cfg.Source, "redis or lookups.postgres", redis || pg)
	case ThreatIntelConfig:
		_, found := res.ThreatIntel[cfg.Set]
		missing("set", cfg.Set, "threat_intel", found)
	}
	return true, errors.Join(errs...)
}

// decodeKind decodes and validates the options of an enrichment kind into its config
// (a GeoIPConfig, CIDRConfig, LookupConfig or ThreatIntelConfig value).
func decodeKind(kind string, node *yaml.Node) (cfg any, ok bool, err error) {
	switch kind {
	case "geoip":
		var c GeoIPConfig
		err = decodeOptions(node, &c)
		cfg = c
	case "cidr_lookup":
		var c CIDRConfig
		err = decodeOptions(node, &c)
		cfg = c
	case "lookup":
		var c LookupConfig
		err = decodeOptions(node, &c)
		cfg = c
	case "threat_intel":
		var c ThreatIntelConfig
		err = decodeOptions(node, &c)
		cfg = c
	default:
		return nil, false, nil
	}
	if err != nil {
		return nil, true, err
	}
	if err := cfg.(interface{ Validate() error }).Validate(); err != nil {
		return nil, true, err
	}
	return cfg, true, nil
}

// Kinds lists the processor kinds Processor constructs.
func Kinds() []string { return []string{"geoip", "cidr_lookup", "lookup", "threat_intel"} }

// decodeOptions decodes a mapping node into the options struct out, refusing keys
// that out has no yaml tag for (yaml.Node.Decode itself cannot).
func decodeOptions(node *yaml.Node, out any) error {
	if node == nil || node.Kind == 0 || node.Tag == "!!null" {
		return nil
	}
	if node.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: want a mapping of options", node.Line)
	}
	known := map[string]bool{}
	t := reflect.TypeOf(out).Elem()
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		known[name] = true
	}
	var errs []error
	for i := 0; i+1 < len(node.Content); i += 2 {
		if k := node.Content[i]; !known[k.Value] {
			errs = append(errs, fmt.Errorf("line %d: unknown option %q", k.Line, k.Value))
		}
	}
	if err := node.Decode(out); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, e := range te.Errors {
				errs = append(errs, errors.New(e))
			}
		} else {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// mmdb returns the database named name for option opt.
func (r *Resources) mmdb(opt, name string) (*reloadable[mmdbVersion], error) {
	h, ok := r.mmdbs[name]
	if !ok {
		return nil, fmt.Errorf("%s: no database %q in lookups.mmdb", opt, name)
	}
	return h, nil
}

// reloadable serves the current version of a lookup built from files (a MaxMind
// database, a CIDR table, an indicator set). A reload builds a whole new version and
// swaps the pointer, so a lookup sees one version from start to end, and an old one is
// collected once no lookup uses it.
type reloadable[T any] struct {
	name  string // the resource's name in the lookups: section, for errors
	cur   atomic.Pointer[T]
	build func() (*T, error)
}

// load builds a version and serves it; on an error the version in service stays.
func (h *reloadable[T]) load() error {
	v, err := h.build()
	if err != nil {
		return err
	}
	h.cur.Store(v)
	return nil
}

// watchedFile is a file that Run reloads when it changes. Several files may share
// one load function (the files of an indicator set).
type watchedFile struct {
	kind, name, path string
	load             func() error
	loaded           fileStamp // of the version in service (or of the last failed try)
	seen             fileStamp // last observed, waiting to hold for one interval
	reloads          map[string][]metric.AddOption
}

// fileStamp identifies a version of a file.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi.ModTime(), fi.Size()}, nil
}

// watch loads a resource from its files now and registers them with Run.
func (r *Resources) watch(kind, name string, paths []string, load func() error) error {
	// Embedded files are part of the binary: loaded once, never watched.
	paths = slices.DeleteFunc(slices.Clone(paths), isEmbedded)
	var stamps []fileStamp
	for _, p := range paths {
		st, err := stampOf(p)
		if err != nil {
			return fmt.Errorf("%s %s: %w", kind, name, err)
		}
		stamps = append(stamps, st)
	}
	if err := load(); err != nil {
		return err
	}
	for i, p := range paths {
		f := &watchedFile{kind: kind, name: name, path: p, load: load, loaded: stamps[i], seen: stamps[i],
			reloads: map[string][]metric.AddOption{}}
		for _, res := range []string{"ok", "error"} {
			f.reloads[res] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
				attribute.String("kind", kind), attribute.String("resource", name), attribute.String("result", res)))}
		}
		r.files = append(r.files, f)
	}
	return nil
}

// poll reloads the files whose change has held since the last poll.
func (r *Resources) poll(ctx context.Context) {
	for _, f := range r.files {
		st, err := stampOf(f.path)
		if err != nil {
			if f.seen != (fileStamp{}) {
				r.log.WarnContext(ctx, "enrichment file unreadable: keeping the loaded version",
					"kind", f.kind, "resource", f.name, "path", f.path, "err", err)
			}
			f.seen = fileStamp{}
			continue
		}
		if st == f.loaded || st != f.seen {
			f.seen = st
			continue
		}
		f.loaded = st
		start := time.Now()
		if err := f.load(); err != nil {
			r.metrics.reloads.Add(ctx, 1, f.reloads["error"]...)
			r.log.ErrorContext(ctx, "enrichment reload failed: keeping the loaded version",
				"kind", f.kind, "resource", f.name, "path", f.path, "err", err)
			continue
		}
		r.metrics.reloads.Add(ctx, 1, f.reloads["ok"]...)
		r.log.InfoContext(ctx, "enrichment file reloaded", "kind", f.kind, "resource", f.name,
			"path", f.path, "duration", time.Since(start))
	}
}
