package enrich

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/sluice-siem/sluice/transform/event"
)

// fakeBackend answers from a map and counts its calls; block, when set, holds every
// call until it is closed.
type fakeBackend struct {
	mu    sync.Mutex
	data  map[string][]leaf
	err   error
	calls map[string]int
	block chan struct{}
}

func (b *fakeBackend) fetch(ctx context.Context, key string) ([]leaf, bool, error) {
	b.mu.Lock()
	b.calls[key]++
	block, err := b.block, b.err
	l, ok := b.data[key]
	b.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
	if err != nil {
		return nil, false, err
	}
	return l, ok, nil
}

func (b *fakeBackend) close() {}

func (b *fakeBackend) callsOf(key string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls[key]
}

func (b *fakeBackend) setErr(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.err = err
}

// TestSourceCache checks the cache rules with a fake backend and a fake clock: fresh
// answers and misses are served from the cache, expired ones are asked again, and
// expired ones are served within stale_if_error when the backend fails.
func TestSourceCache(t *testing.T) {
	m, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &fakeBackend{calls: map[string]int{}, data: map[string][]leaf{"k": {{path: []string{"v"}, value: "1"}}}}
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	src, err := newSource("s", "fake", b, time.Second,
		CacheConfig{Size: 2, TTL: time.Minute, NegativeTTL: 10 * time.Second, StaleIfError: time.Hour}, m, clock)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	step := func(key string, wantResult result, wantCalls int) {
		t.Helper()
		_, result, err := src.get(ctx, key)
		if wantResult == resultError {
			if err == nil {
				t.Fatalf("get %s: no error", key)
			}
		} else if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		if result != wantResult || b.callsOf(key) != wantCalls {
			t.Fatalf("get %s: result %s after %d calls, want %s after %d", key, result, b.callsOf(key), wantResult, wantCalls)
		}
	}
	step("k", resultHit, 1)
	step("k", resultCacheHit, 1)
	step("x", resultMiss, 1)
	step("x", resultNegativeCacheHit, 1)
	now = now.Add(11 * time.Second) // the miss expired, the answer did not
	step("x", resultMiss, 2)
	step("k", resultCacheHit, 1)
	now = now.Add(time.Minute) // both expired
	b.setErr(errors.New("down"))
	step("k", resultStale, 2)
	step("x", resultStale, 3)
	now = now.Add(2 * time.Hour) // past stale_if_error
	step("k", resultError, 3)
	b.setErr(nil)
	step("k", resultHit, 4)
	// LRU: a third key evicts the least recently used.
	step("y", resultMiss, 1)
	step("z", resultMiss, 1)
	step("k", resultHit, 5)
}

// TestSourceSingleflight checks that concurrent misses of one key make one backend
// call, that a caller giving up does not cancel it for the others, and that its
// answer is cached.
func TestSourceSingleflight(t *testing.T) {
	m, _ := newMetrics(nil)
	b := &fakeBackend{calls: map[string]int{}, data: map[string][]leaf{"k": {{path: []string{"v"}, value: "1"}}},
		block: make(chan struct{})}
	src, err := newSource("s", "fake", b, 5*time.Second, DefaultResourcesConfig().Cache, m, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	impatient, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var hits atomic.Int64
	const n = 32
	for i := range n {
		ctx := context.Background()
		if i == 0 {
			ctx = impatient
		}
		wg.Go(func() {
			ent, _, err := src.get(ctx, "k")
			if i == 0 {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("impatient caller: %v", err)
				}
				return
			}
			if err != nil || !ent.found {
				t.Errorf("get: %v %v", ent, err)
				return
			}
			hits.Add(1)
		})
	}
	eventually(t, "the backend call", func() bool { return b.callsOf("k") == 1 })
	time.Sleep(20 * time.Millisecond) // let the others join the call
	cancel()
	time.Sleep(5 * time.Millisecond)
	close(b.block)
	wg.Wait()
	if got := b.callsOf("k"); got != 1 {
		t.Errorf("%d backend calls for %d concurrent misses, want 1", got, n)
	}
	if hits.Load() != n-1 {
		t.Errorf("%d callers got the answer, want %d", hits.Load(), n-1)
	}
	if _, result, _ := src.get(context.Background(), "k"); result != resultCacheHit {
		t.Errorf("after the call: %s, want a cache hit", result)
	}
}

// uniquePrefix names a test's keys or schema so that tests never see each other's data.
func uniquePrefix(t testing.TB) string {
	return fmt.Sprintf("t%d_%s", time.Now().UnixNano(), strings.ToLower(strings.NewReplacer("/", "_", " ", "_", "-", "_").Replace(t.Name())))
}

// redisClient returns a client of the test server, closed when the test ends.
func redisClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// pgSchema makes a schema of its own for the test, dropped when it ends, and runs
// setup statements in it (as search_path).
func pgSchema(t testing.TB, dsn string, setup ...string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to the test PostgreSQL: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	schema := uniquePrefix(t)
	if len(schema) > 60 {
		schema = schema[:60]
	}
	stmts := append([]string{"CREATE SCHEMA " + schema, "SET search_path TO " + schema}, setup...)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	t.Cleanup(func() {
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	return schema
}

func pgExec(t testing.TB, dsn, sql string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func pgCount(t testing.TB, dsn, sql string) int64 {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int64
	if err := conn.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// process runs p on an event with fields and returns the event's fields and the error.
func process(t testing.TB, p event.Processor, fields map[string]any) (map[string]any, error) {
	t.Helper()
	e := eventOf(fields)
	err := p.Process(context.Background(), e)
	return e.Fields, err
}

func TestLookupRedis(t *testing.T) {
	addr := server(t, redisEnv)
	prefix := uniquePrefix(t) + ":"
	c := redisClient(t, addr)
	ctx := context.Background()
	for k, v := range map[string]string{
		"alice":         `{"department": "soc", "manager": {"name": "bob"}, "clearance": 3, "groups": ["a", "b"]}`,
		"web-1:alice":   `{"role": "admin"}`,
		"not-json":      `department=soc`,
		"not-an-object": `[1, 2]`,
		"unicode-ключ":  `{"ok": true}`,
	} {
		if err := c.Set(ctx, prefix+k, v, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		keys, _ := c.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			c.Del(context.Background(), keys...)
		}
	})
	m := newTestMeter(t)
	cfg := DefaultResourcesConfig()
	cfg.Redis = map[string]RedisConfig{"users": {Addr: addr, KeyPrefix: prefix, Timeout: 2 * time.Second}}
	res := newTestResources(t, cfg, m, false)
	p, err := NewLookup(LookupConfig{Field: "user.name", Source: "users"}, res)
	if err != nil {
		t.Fatal(err)
	}
	alice := map[string]any{"user": map[string]any{"name": "alice", "department": "soc",
		"manager": map[string]any{"name": "bob"}, "clearance": json.Number("3"), "groups": []any{"a", "b"}}}
	for range 2 {
		got, err := process(t, p, map[string]any{"user": map[string]any{"name": "alice"}})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, alice) {
			t.Fatalf("fields\n got %v\nwant %v", got, alice)
		}
	}
	for range 3 {
		got, err := process(t, p, map[string]any{"user": map[string]any{"name": "mallory"}})
		if err != nil || !reflect.DeepEqual(got, map[string]any{"user": map[string]any{"name": "mallory"}}) {
			t.Fatalf("miss: %v %v", got, err)
		}
	}
	got, err := process(t, p, map[string]any{"user": map[string]any{"name": "unicode-ключ"}})
	if err != nil || got["user"].(map[string]any)["ok"] != true {
		t.Fatalf("unicode key: %v %v", got, err)
	}
	for _, k := range []string{"not-json", "not-an-object"} {
		_, err := process(t, p, map[string]any{"user": map[string]any{"name": k}})
		want := fmt.Sprintf(`lookup of user.name: redis source users: get "%s%s": the value is not a JSON object`, prefix, k)
		if err == nil || err.Error() != want {
			t.Fatalf("error %v\nwant %s", err, want)
		}
	}
	tmpl, err := NewLookup(LookupConfig{Key: "{{host.name}}:{{user.name}}", TargetField: "user", Source: "users"}, res)
	if err != nil {
		t.Fatal(err)
	}
	got, err = process(t, tmpl, map[string]any{"host": map[string]any{"name": "web-1"}, "user": map[string]any{"name": "alice"}})
	if err != nil || got["user"].(map[string]any)["role"] != "admin" {
		t.Fatalf("template key: %v %v", got, err)
	}
	_, err = process(t, tmpl, map[string]any{"user": map[string]any{"name": "alice"}})
	if err == nil || err.Error() != "lookup of {{host.name}}:{{user.name}}: field host.name: the field is absent" {
		t.Fatalf("template with an absent field: %v", err)
	}

	lookups := func(r result) int64 {
		return m.sum(t, "sluice_enrich_lookups_total", "processor=lookup", "resource=users", "result="+r.String())
	}
	calls := func(r result) int64 {
		return m.sum(t, "sluice_enrich_backend_duration_seconds", "source=users", "backend=redis", "result="+r.String())
	}
	if lookups(resultHit) != 3 || lookups(resultCacheHit) != 1 || lookups(resultMiss) != 1 ||
		lookups(resultNegativeCacheHit) != 2 || lookups(resultError) != 2 {
		t.Errorf("lookups: hit %d cache_hit %d miss %d negative_cache_hit %d error %d; want 3 1 1 2 2",
			lookups(resultHit), lookups(resultCacheHit), lookups(resultMiss), lookups(resultNegativeCacheHit), lookups(resultError))
	}
	if calls(resultHit) != 3 || calls(resultMiss) != 1 || calls(resultError) != 2 {
		t.Errorf("backend calls: hit %d miss %d error %d; want 3 1 2", calls(resultHit), calls(resultMiss), calls(resultError))
	}
}

func TestLookupPostgres(t *testing.T) {
	dsn := server(t, postgresEnv)
	schema := pgSchema(t, dsn,
		`CREATE TABLE hosts (name text PRIMARY KEY, owner text, criticality int, ip inet, net cidr, seen timestamptz,
			meta jsonb, score numeric, note text, id uuid)`,
		`INSERT INTO hosts VALUES ('web-1', 'web team', 3, '10.0.0.5', '10.0.0.0/24', '2026-01-02 03:04:05.5+00',
			'{"os": "linux", "tags": ["pci"]}', 12.50, NULL, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')`)
	m := newTestMeter(t)
	cfg := DefaultResourcesConfig()
	cfg.Postgres = map[string]PostgresConfig{"cmdb": {DSN: Secret(dsn), Timeout: 5 * time.Second,
		Query: `SELECT owner AS "asset.owner", criticality, ip, net, seen, meta, score, note, id FROM ` + schema + `.hosts WHERE name = $1`}}
	res := newTestResources(t, cfg, m, false)
	p, err := NewLookup(LookupConfig{Field: "host.name", Source: "cmdb"}, res)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"host": map[string]any{"name": "web-1", "asset": map[string]any{"owner": "web team"},
		"criticality": int64(3), "ip": "10.0.0.5", "net": "10.0.0.0/24", "seen": "2026-01-02T03:04:05.5Z",
		"meta": map[string]any{"os": "linux", "tags": []any{"pci"}}, "score": json.Number("12.50"),
		"id": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}}
	for range 2 {
		got, err := process(t, p, map[string]any{"host": map[string]any{"name": "web-1"}})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("fields\n got %#v\nwant %#v", got, want)
		}
	}
	for range 2 {
		got, err := process(t, p, map[string]any{"host": map[string]any{"name": "db-9"}})
		if err != nil || !reflect.DeepEqual(got, map[string]any{"host": map[string]any{"name": "db-9"}}) {
			t.Fatalf("miss: %v %v", got, err)
		}
	}
	// A number is a key too.
	num, err := NewLookup(LookupConfig{Field: "host.id", TargetField: "host", Source: "cmdb"}, res)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := process(t, num, map[string]any{"host": map[string]any{"id": json.Number("42")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := process(t, num, map[string]any{"host": map[string]any{"id": map[string]any{}}}); err == nil ||
		err.Error() != "lookup of host.id: a object, not a string or number" {
		t.Fatalf("object key: %v", err)
	}
	lookups := func(r result) int64 {
		return m.sum(t, "sluice_enrich_lookups_total", "processor=lookup", "resource=cmdb", "result="+r.String())
	}
	if lookups(resultHit) != 1 || lookups(resultCacheHit) != 1 || lookups(resultMiss) != 2 || lookups(resultNegativeCacheHit) != 1 {
		t.Errorf("lookups: hit %d cache_hit %d miss %d negative_cache_hit %d; want 1 1 2 1",
			lookups(resultHit), lookups(resultCacheHit), lookups(resultMiss), lookups(resultNegativeCacheHit))
	}
	// A query error (here: a missing table) is an error of the processor.
	pgExec(t, dsn, "DROP TABLE "+schema+".hosts")
	_, err = process(t, p, map[string]any{"host": map[string]any{"name": "web-2"}})
	if err == nil || !strings.Contains(err.Error(), `lookup of host.name: postgres source cmdb: query for "web-2":`) {
		t.Fatalf("query error: %v", err)
	}
}

// TestLookupSingleflightPostgres sends concurrent events with one uncached key: the
// query (a function that counts its calls and takes 300ms) runs once.
func TestLookupSingleflightPostgres(t *testing.T) {
	dsn := server(t, postgresEnv)
	schema := pgSchema(t, dsn,
		`CREATE TABLE calls (n int NOT NULL)`,
		`INSERT INTO calls VALUES (0)`,
		`CREATE FUNCTION owner_of(k text) RETURNS TABLE (owner text) LANGUAGE plpgsql
		SET search_path FROM CURRENT AS $$
		BEGIN
			UPDATE calls SET n = n + 1;
			PERFORM pg_sleep(0.3);
			RETURN QUERY SELECT 'team-' || k;
		END $$`)
	cfg := DefaultResourcesConfig()
	cfg.Postgres = map[string]PostgresConfig{"cmdb": {DSN: Secret(dsn), Timeout: 5 * time.Second,
		Query: `SELECT owner FROM ` + schema + `.owner_of($1)`}}
	res := newTestResources(t, cfg, nil, false)
	p, err := NewLookup(LookupConfig{Field: "host.name", Source: "cmdb"}, res)
	if err != nil {
		t.Fatal(err)
	}
	const n = 24
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			got, err := process(t, p, map[string]any{"host": map[string]any{"name": "web-1"}})
			if err != nil || got["host"].(map[string]any)["owner"] != "team-web-1" {
				t.Errorf("lookup: %v %v", got, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if calls := pgCount(t, dsn, "SELECT n FROM "+schema+".calls"); calls != 1 {
		t.Errorf("%d queries for %d concurrent events with one key, want 1", calls, n)
	}
}

// TestLookupTimeout checks that a backend that does not answer fails the call after the
// source's timeout: a PostgreSQL query that sleeps, a Redis server that accepts and never
// answers.
func TestLookupTimeout(t *testing.T) {
	t.Run("postgres", func(t *testing.T) {
		dsn := server(t, postgresEnv)
		cfg := DefaultResourcesConfig()
		cfg.Postgres = map[string]PostgresConfig{"slow": {DSN: Secret(dsn), Timeout: 150 * time.Millisecond,
			Query: `SELECT 'x' AS owner FROM pg_sleep(CASE WHEN $1::text = 'slow' THEN 3 ELSE 0 END)`}}
		res := newTestResources(t, cfg, nil, false)
		checkTimeout(t, res, "slow")
	})
	t.Run("redis", func(t *testing.T) {
		addr := server(t, redisEnv)
		px := newProxy(t, addr)
		px.setMode("stall")
		cfg := DefaultResourcesConfig()
		cfg.Redis = map[string]RedisConfig{"slow": {Addr: px.addr(), Timeout: 150 * time.Millisecond}}
		res := newTestResources(t, cfg, nil, false)
		checkTimeout(t, res, "slow")
	})
}

func checkTimeout(t *testing.T, res *Resources, source string) {
	t.Helper()
	closed, err := NewLookup(LookupConfig{Field: "k", Source: source}, res)
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	_, err = process(t, closed, map[string]any{"k": "slow"})
	took := time.Since(begin)
	if err == nil || !strings.Contains(err.Error(), "lookup of k: ") {
		t.Fatalf("error %v", err)
	}
	if took > time.Second {
		t.Errorf("the call took %v with a 150ms timeout", took)
	}
	open, err := NewLookup(LookupConfig{Field: "k", Source: source, FailOpen: true}, res)
	if err != nil {
		t.Fatal(err)
	}
	got, err := process(t, open, map[string]any{"k": "slow"})
	if err != nil || !reflect.DeepEqual(got, map[string]any{"k": "slow"}) {
		t.Fatalf("fail-open: %v %v", got, err)
	}
}

// TestLookupBackendGone takes the backend away mid-run (a proxy in front of it closes
// every connection and refuses new ones) and brings it back: cached keys are still
// served, fail-open passes events unenriched and counts the errors, fail-closed
// returns them, expired entries are served within stale_if_error, and lookups work
// again once the backend is back.
func TestLookupBackendGone(t *testing.T) {
	backends := []struct {
		name  string
		setup func(t *testing.T, addr string) ResourcesConfig
		env   string
	}{
		{"redis", func(t *testing.T, addr string) ResourcesConfig {
			prefix := uniquePrefix(t) + ":"
			c := redisClient(t, addr)
			for _, k := range []string{"alice", "bob", "carol"} {
				if err := c.Set(context.Background(), prefix+k, `{"team": "team-`+k+`"}`, time.Hour).Err(); err != nil {
					t.Fatal(err)
				}
			}
			t.Cleanup(func() { c.Del(context.Background(), prefix+"alice", prefix+"bob", prefix+"carol") })
			cfg := DefaultResourcesConfig()
			cfg.Redis = map[string]RedisConfig{"src": {KeyPrefix: prefix, Timeout: time.Second}}
			return cfg
		}, redisEnv},
		{"postgres", func(t *testing.T, dsn string) ResourcesConfig {
			schema := pgSchema(t, dsn, `CREATE TABLE users (name text PRIMARY KEY, team text)`,
				`INSERT INTO users VALUES ('alice', 'team-alice'), ('bob', 'team-bob'), ('carol', 'team-carol')`)
			cfg := DefaultResourcesConfig()
			cfg.Postgres = map[string]PostgresConfig{"src": {Timeout: time.Second,
				Query: "SELECT team FROM " + schema + ".users WHERE name = $1"}}
			return cfg
		}, postgresEnv},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			target := server(t, b.env)
			cfg := b.setup(t, target)
			var px *proxy
			if b.name == "redis" {
				px = newProxy(t, target)
				rc := cfg.Redis["src"]
				rc.Addr = px.addr()
				cfg.Redis["src"] = rc
			} else {
				pc, err := pgx.ParseConfig(target)
				if err != nil {
					t.Fatal(err)
				}
				px = newProxy(t, fmt.Sprintf("%s:%d", pc.Host, pc.Port))
				pgc := cfg.Postgres["src"]
				pgc.DSN = Secret(strings.Replace(target, fmt.Sprintf("%s:%d", pc.Host, pc.Port), px.addr(), 1))
				cfg.Postgres["src"] = pgc
			}
			// bob's entry expires at once but may be served stale for an hour.
			cfg.Cache = CacheConfig{Size: 100, TTL: time.Hour, NegativeTTL: time.Hour, StaleIfError: time.Hour}
			m := newTestMeter(t)
			res := newTestResources(t, cfg, m, false)
			closed, err := NewLookup(LookupConfig{Field: "user.name", Source: "src"}, res)
			if err != nil {
				t.Fatal(err)
			}
			open, err := NewLookup(LookupConfig{Field: "user.name", Source: "src", FailOpen: true}, res)
			if err != nil {
				t.Fatal(err)
			}
			team := func(p event.Processor, name string) (any, error) {
				got, err := process(t, p, map[string]any{"user": map[string]any{"name": name}})
				return got["user"].(map[string]any)["team"], err
			}
			src := res.sources["src"]
			for _, k := range []string{"alice", "bob", "nobody"} {
				if _, err := team(closed, k); err != nil {
					t.Fatalf("warm-up %s: %v", k, err)
				}
			}
			// Expire bob's entry (as time would).
			ent, _ := src.cache.Peek("bob")
			src.cache.Add("bob", &cacheEntry{leaves: ent.leaves, found: true, expires: time.Now().Add(-time.Minute)})

			px.setMode("down")
			if got, err := team(closed, "alice"); err != nil || got != "team-alice" {
				t.Errorf("cached key while the backend is down: %v %v", got, err)
			}
			if got, err := team(closed, "nobody"); err != nil || got != nil {
				t.Errorf("cached miss while the backend is down: %v %v", got, err)
			}
			if got, err := team(closed, "bob"); err != nil || got != "team-bob" {
				t.Errorf("expired key within stale_if_error while the backend is down: %v %v", got, err)
			}
			if got, err := team(closed, "carol"); err == nil || got != nil {
				t.Errorf("fail-closed, uncached key while the backend is down: %v %v", got, err)
			} else if !strings.Contains(err.Error(), "lookup of user.name: "+b.name+" source src: ") {
				t.Errorf("error %v", err)
			}
			for range 3 {
				if got, err := team(open, "carol"); err != nil || got != nil {
					t.Errorf("fail-open, uncached key while the backend is down: %v %v", got, err)
				}
			}
			lookups := func(r result) int64 {
				return m.sum(t, "sluice_enrich_lookups_total", "processor=lookup", "resource=src", "result="+r.String())
			}
			if lookups(resultError) != 4 || lookups(resultCacheHit) != 1 || lookups(resultStale) != 1 {
				t.Errorf("lookups: error %d cache_hit %d stale %d, want 4 1 1", lookups(resultError), lookups(resultCacheHit), lookups(resultStale))
			}

			px.setMode("up")
			eventually(t, "lookups after the backend is back", func() bool {
				got, err := team(closed, "carol")
				return err == nil && got == "team-carol"
			})
			if got, err := team(closed, "bob"); err != nil || got != "team-bob" {
				t.Errorf("bob after the backend is back: %v %v", got, err)
			}
			if calls := m.sum(t, "sluice_enrich_backend_duration_seconds", "source=src", "result=hit"); calls < 4 {
				t.Errorf("%d successful backend calls, want at least 4 (alice, bob, carol, bob refreshed)", calls)
			}
		})
	}
}
