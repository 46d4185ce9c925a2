package enrich

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/sync/singleflight"

	"github.com/sluice-siem/sluice/transform/event"
)

// backend answers keys for a source: the fields of a key, or found=false.
type backend interface {
	fetch(ctx context.Context, key string) (fields []leaf, found bool, err error)
	close()
}

// cacheEntry is a source's answer for one key, fresh until expires. It is never
// modified after it is made, so many events may share it.
type cacheEntry struct {
	leaves  []leaf
	found   bool
	expires time.Time
}

// source is a lookup source: a backend behind a bounded LRU cache of its answers
// (misses included), with concurrent misses of one key sharing one backend call.
//
// The cache is golang-lru's plain LRU with expiry checked here, not its expirable
// variant: that one starts a goroutine per cache that never ends, and drops entries
// when they expire, while a source keeps expired entries (until the LRU evicts them)
// to serve them when the backend fails (CacheConfig.StaleIfError).
type source struct {
	name, kind string
	backend    backend
	timeout    time.Duration
	ttl, negTTL,
	stale time.Duration
	cache *lru.Cache[string, *cacheEntry]
	group singleflight.Group
	now   func() time.Time

	latency    metric.Float64Histogram
	latencyFor [numResults][]metric.RecordOption // by result: hit, miss, error
}

func newSource(name, kind string, b backend, timeout time.Duration, cc CacheConfig, m *metrics, now func() time.Time) (*source, error) {
	cache, err := lru.New[string, *cacheEntry](cc.Size)
	if err != nil {
		return nil, fmt.Errorf("cache of source %s: %w", name, err)
	}
	if timeout == 0 {
		timeout = DefaultSourceTimeout
	}
	s := &source{name: name, kind: kind, backend: b, timeout: timeout, ttl: cc.TTL, negTTL: cc.NegativeTTL,
		stale: cc.StaleIfError, cache: cache, now: now, latency: m.backend}
	for _, r := range []result{resultHit, resultMiss, resultError} {
		s.latencyFor[r] = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(
			attribute.String("source", name), attribute.String("backend", kind), attribute.String("result", r.String())))}
	}
	return s, nil
}

// get returns the answer for key and how it was obtained (a lookup result). Fresh
// cache entries are answered at once; otherwise the backend is asked (one call for all
// concurrent callers of a key, bounded by the source's timeout), and when that fails an
// expired entry within StaleIfError is served instead of the error. The caller must
// not modify the entry.
func (s *source) get(ctx context.Context, key string) (*cacheEntry, result, error) {
	now := s.now()
	ent, cached := s.cache.Get(key)
	if cached && now.Before(ent.expires) {
		if ent.found {
			return ent, resultCacheHit, nil
		}
		return ent, resultNegativeCacheHit, nil
	}
	// The call outlives a caller that gives up, so that the others sharing it (and the
	// cache) still get its answer; the source's timeout bounds it.
	ch := s.group.DoChan(key, func() (any, error) {
		return s.fetch(context.WithoutCancel(ctx), key)
	})
	var err error
	select {
	case res := <-ch:
		if res.Err == nil {
			fresh := res.Val.(*cacheEntry)
			return fresh, hitOrMiss(fresh.found), nil
		}
		err = res.Err
	case <-ctx.Done():
		err = ctx.Err()
	}
	if cached && now.Before(ent.expires.Add(s.stale)) {
		return ent, resultStale, nil
	}
	return nil, resultError, err
}

// fetch asks the backend and caches the answer.
func (s *source) fetch(ctx context.Context, key string) (*cacheEntry, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	leaves, found, err := s.backend.fetch(ctx, key)
	result := hitOrMiss(found)
	if err != nil {
		result = resultError
	}
	s.latency.Record(ctx, time.Since(start).Seconds(), s.latencyFor[result]...)
	if err != nil {
		return nil, fmt.Errorf("%s source %s: %w", s.kind, s.name, err)
	}
	ttl := s.ttl
	if !found {
		ttl = s.negTTL
	}
	ent := &cacheEntry{leaves: leaves, found: found, expires: s.now().Add(ttl)}
	if ttl > 0 {
		s.cache.Add(key, ent)
	} else {
		s.cache.Remove(key)
	}
	return ent, nil
}

// redisBackend answers GET key_prefix+key with a JSON object.
type redisBackend struct {
	client *redis.Client
	prefix string
}

func newRedisBackend(c RedisConfig, timeout time.Duration) *redisBackend {
	if timeout == 0 {
		timeout = DefaultSourceTimeout
	}
	return &redisBackend{prefix: c.KeyPrefix, client: redis.NewClient(&redis.Options{
		Addr:     c.Addr,
		Username: c.Username,
		Password: string(c.Password),
		DB:       c.DB,
		// RESP2, no client identification: the smallest protocol surface, which every
		// Redis-compatible server speaks.
		Protocol:              2,
		DisableIdentity:       true,
		ContextTimeoutEnabled: true,
		DialTimeout:           timeout,
		ReadTimeout:           timeout,
		WriteTimeout:          timeout,
		// One retry covers a pooled connection the server closed; the context bounds it.
		MaxRetries: 1,
	})}
}

func (b *redisBackend) fetch(ctx context.Context, key string) ([]leaf, bool, error) {
	data, err := b.client.Get(ctx, b.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("get %q: %w", truncate(b.prefix+key, 128), err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, false, fmt.Errorf("get %q: the value is not a JSON object", truncate(b.prefix+key, 128))
	}
	return flatten(nil, nil, m), true, nil
}

func (b *redisBackend) close() { _ = b.client.Close() }

// postgresBackend answers a parameterised query's first row.
type postgresBackend struct {
	pool  *pgxpool.Pool
	query string
}

func newPostgresBackend(ctx context.Context, c PostgresConfig) (*postgresBackend, error) {
	pc, err := pgxpool.ParseConfig(string(c.DSN))
	if err != nil {
		// The parse error may quote the connection string: say only what is wrong.
		msg := "cannot parse it"
		if inner := errors.Unwrap(err); inner != nil {
			msg += ": " + inner.Error()
		}
		return nil, errors.New(msg)
	}
	pc.MaxConns = c.MaxConns
	if pc.MaxConns == 0 {
		pc.MaxConns = DefaultPostgresMaxConns
	}
	pc.ConnConfig.RuntimeParams["application_name"] = "sluice-enrich"
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, err
	}
	return &postgresBackend{pool: pool, query: c.Query}, nil
}

func (b *postgresBackend) fetch(ctx context.Context, key string) ([]leaf, bool, error) {
	rows, err := b.pool.Query(ctx, b.query, key)
	if err != nil {
		return nil, false, fmt.Errorf("query for %q: %w", truncate(key, 128), err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, false, fmt.Errorf("query for %q: %w", truncate(key, 128), err)
		}
		return nil, false, nil
	}
	vals, err := rows.Values()
	if err != nil {
		return nil, false, fmt.Errorf("query for %q: read row: %w", truncate(key, 128), err)
	}
	var leaves []leaf
	for i, fd := range rows.FieldDescriptions() {
		if vals[i] == nil {
			continue
		}
		if err := checkPath("column", fd.Name, true); err != nil {
			return nil, false, fmt.Errorf("query for %q: column %q is not a field name", truncate(key, 128), fd.Name)
		}
		v := pgValue(vals[i])
		if m, ok := v.(map[string]any); ok {
			leaves = flatten(leaves, strings.Split(fd.Name, "."), m)
			continue
		}
		leaves = append(leaves, leaf{path: strings.Split(fd.Name, "."), value: v})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("query for %q: %w", truncate(key, 128), err)
	}
	return leaves, true, nil
}

func (b *postgresBackend) close() { b.pool.Close() }

// pgValue turns a column value as pgx decodes it into a JSON-shaped field value.
func pgValue(v any) any {
	switch v := v.(type) {
	case string, bool, int64, float64, map[string]any, []any:
		return v
	case int16:
		return int64(v)
	case int32:
		return int64(v)
	case int8:
		return int64(v)
	case int:
		return int64(v)
	case uint32:
		return int64(v)
	case float32:
		return float64(v)
	case []byte:
		return string(v)
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case netip.Prefix:
		if v.IsSingleIP() {
			return v.Addr().String()
		}
		return v.String()
	case netip.Addr:
		return v.String()
	case [16]byte: // uuid
		h := hex.EncodeToString(v[:])
		return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	case json.Marshaler: // numeric and other pgtype values
		if data, err := v.MarshalJSON(); err == nil {
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.UseNumber()
			var out any
			if dec.Decode(&out) == nil {
				return out
			}
		}
		return fmt.Sprint(v)
	case fmt.Stringer:
		return v.String()
	default:
		return fmt.Sprint(v)
	}
}

// lookupProc is the lookup processor.
type lookupProc struct {
	field         string // the key field, or the key template as written
	tmpl          *keyTemplate
	target        string
	failOpen      bool
	ignoreMissing bool
	src           *source
	count         lookupCounter
	log           *slog.Logger
	limit         *rateLimit
}

// NewLookup returns a lookup processor over the source of r named by cfg. It is safe
// for concurrent use; r must outlive it (Close stops its backend).
func NewLookup(cfg LookupConfig, r *Resources) (event.Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	src, ok := r.sources[cfg.Source]
	if !ok {
		return nil, fmt.Errorf("source: no source %q in lookups.redis or lookups.postgres", cfg.Source)
	}
	l := &lookupProc{field: cfg.Field, target: cfg.TargetField, failOpen: cfg.FailOpen,
		ignoreMissing: cfg.IgnoreMissing, src: src, count: r.metrics.lookupCounter("lookup", cfg.Source),
		log: r.log, limit: &rateLimit{interval: 10 * time.Second}}
	if cfg.Key != "" {
		t, err := parseKeyTemplate(cfg.Key)
		if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		l.tmpl, l.field = &t, cfg.Key
	}
	if l.target == "" {
		l.target = parentPath(cfg.Field)
	}
	return l, nil
}

// Process merges the fields the source has for the event's key.
func (l *lookupProc) Process(ctx context.Context, e *event.Event) error {
	key, err := l.key(e)
	if err != nil {
		if errors.Is(err, errMissing) && l.ignoreMissing {
			return nil
		}
		return fmt.Errorf("lookup of %s: %w", l.field, err)
	}
	ent, result, err := l.src.get(ctx, key)
	l.count.add(result)
	if err != nil {
		if l.failOpen {
			if ok, suppressed := l.limit.allow(time.Now()); ok {
				l.log.WarnContext(ctx, "lookup failed: events pass unenriched (fail_open)",
					"source", l.src.name, "key", l.field, "suppressed", suppressed, "err", err)
			}
			return nil
		}
		return fmt.Errorf("lookup of %s: %w", l.field, err)
	}
	if !ent.found {
		return nil
	}
	obj, err := targetObject(e, l.target)
	if err != nil {
		return fmt.Errorf("lookup of %s: target_field %w", l.field, err)
	}
	if err := applyLeaves(e, obj, ent.leaves); err != nil {
		return fmt.Errorf("lookup of %s: %w", l.field, err)
	}
	return nil
}

// key returns the event's lookup key.
func (l *lookupProc) key(e *event.Event) (string, error) {
	if l.tmpl != nil {
		return l.tmpl.render(e)
	}
	v, ok := e.Get(l.field)
	if !ok || v == nil {
		return "", errMissing
	}
	s, ok := scalarString(v)
	if !ok {
		return "", fmt.Errorf("a %s, not a string or number", event.Kind(v))
	}
	if s == "" {
		return "", errMissing
	}
	return s, nil
}
