package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/internal/bytesize"
)

// Lifecycle modes (LifecycleConfig.Mode): who rolls data streams over and deletes
// indices past the retention, the job Curator did beside Logstash.
const (
	// LifecycleAuto installs the engine's policy (ILM on Elasticsearch, ISM on
	// OpenSearch) when the engine answers its lifecycle API, and runs sluice's own
	// sweeper when it does not (an OpenSearch without the ISM plugin, an Elasticsearch
	// without ILM).
	LifecycleAuto = "auto"
	// LifecycleEngine installs the engine's policy and fails the start if the engine
	// has no lifecycle API.
	LifecycleEngine = "engine"
	// LifecycleSluice runs sluice's sweeper and installs no policy.
	LifecycleSluice = "sluice"
	// LifecycleOff does neither: indices are kept until someone deletes them.
	LifecycleOff = "off"
)

// LifecycleConfig configures rollover and retention of the indices the sink writes
// (sink.search.lifecycle).
type LifecycleConfig struct {
	Mode string `yaml:"mode" doc:"auto: the engine's ILM/ISM policy when the engine has the API, else sluice's retention sweeper; engine: the policy or fail the start; sluice: the sweeper only; off: keep every index"`
	// Retention is how long indices are kept: a backing index from its creation (its
	// rollover, under ILM), a daily index from the end of its day.
	Retention Age `yaml:"retention" doc:"delete indices this old: data stream backing indices by creation time, daily indices once their day ended this long ago (90d, 36h)"`
	// RolloverMaxAge and RolloverMaxPrimaryShardSize roll a data stream's write index
	// over (data_stream layout only).
	RolloverMaxAge              Age           `yaml:"rollover_max_age" doc:"roll a data stream over when its write index is this old"`
	RolloverMaxPrimaryShardSize bytesize.Size `yaml:"rollover_max_primary_shard_size" doc:"roll a data stream over when a primary shard of its write index is this large (sweeper on OpenSearch: all primaries together, as its rollover API has no per-shard condition)"`
	// SweepInterval is the period of the sweeper (mode sluice, or auto without an
	// engine lifecycle API).
	SweepInterval time.Duration `yaml:"sweep_interval" doc:"period of sluice's retention sweeper; each task waits a random part of it first, so tasks spread out"`
}

// DefaultLifecycleConfig returns the defaults: mode auto, 90 days of retention, data
// streams rolled over daily or at 50GiB per primary shard, a sweep every 15 minutes.
func DefaultLifecycleConfig() LifecycleConfig {
	return LifecycleConfig{
		Mode:                        LifecycleAuto,
		Retention:                   Age(90 * 24 * time.Hour),
		RolloverMaxAge:              Age(24 * time.Hour),
		RolloverMaxPrimaryShardSize: 50 * bytesize.GiB,
		SweepInterval:               15 * time.Minute,
	}
}

// validate reports every problem, each named by its path under prefix (for example
// "lifecycle.", inside the search section).
func (c LifecycleConfig) validate(prefix string) []error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s: %s", prefix, path, fmt.Sprintf(format, args...)))
	}
	switch c.Mode {
	case LifecycleOff:
		return nil
	case LifecycleAuto, LifecycleEngine, LifecycleSluice:
	default:
		bad("mode", "%q, want auto, engine, sluice or off", c.Mode)
	}
	if time.Duration(c.Retention) < time.Hour {
		bad("retention", "%s, want at least 1h", c.Retention)
	}
	if time.Duration(c.RolloverMaxAge) < time.Second {
		bad("rollover_max_age", "%s, want at least 1s", c.RolloverMaxAge)
	}
	if c.RolloverMaxPrimaryShardSize < bytesize.MiB {
		bad("rollover_max_primary_shard_size", "%s, want at least 1MiB", c.RolloverMaxPrimaryShardSize)
	}
	if c.SweepInterval < time.Second {
		bad("sweep_interval", "%s, want at least 1s", c.SweepInterval)
	}
	return errs
}

// Age is a duration that configuration may also write in days ("90d"), the unit of
// retention, besides Go's units ("36h", "90m"). Engines get it in their own time-unit
// syntax (String).
type Age time.Duration

// ParseAge reads "90d", "1.5d", any Go duration ("36h", "15m") or a whole number of
// nanos, the finest unit String writes.
func ParseAge(s string) (Age, error) {
	t := strings.TrimSpace(s)
	if nanos, ok := strings.CutSuffix(t, "nanos"); ok {
		n, err := strconv.ParseInt(nanos, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid age %q: want a number of days such as 90d, or a duration such as 36h", s)
		}
		return Age(n), nil
	}
	if days, ok := strings.CutSuffix(t, "d"); ok {
		f, err := strconv.ParseFloat(days, 64)
		if err != nil || f < 0 || f > 100*365 {
			return 0, fmt.Errorf("invalid age %q: want a number of days such as 90d, or a duration such as 36h", s)
		}
		return Age(f * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(t)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid age %q: want a number of days such as 90d, or a duration such as 36h", s)
	}
	return Age(d), nil
}

// String writes the age with the largest unit that divides it (d, h, m, s, ms), the
// syntax Elasticsearch and OpenSearch read; anything finer in nanos.
func (a Age) String() string {
	units := []struct {
		name string
		d    time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}}
	d := time.Duration(a)
	for _, u := range units {
		if d != 0 && d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(d), 10) + "nanos"
}

// UnmarshalYAML reads a string for ParseAge. Its errors are *yaml.TypeError, which
// yaml.v3 collects with the document's other type errors.
func (a *Age) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: age must be a string like 90d or 36h", n.Line)}}
	}
	v, err := ParseAge(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*a = v
	return nil
}

// MarshalYAML writes the age as String does.
func (a Age) MarshalYAML() (any, error) { return a.String(), nil }

// engineSize writes a byte size in the engines' unit syntax, where kb, mb and gb are
// binary (1gb = 1024mb).
func engineSize(s bytesize.Size) string {
	switch {
	case s != 0 && s%bytesize.GiB == 0:
		return strconv.FormatInt(int64(s/bytesize.GiB), 10) + "gb"
	case s != 0 && s%bytesize.MiB == 0:
		return strconv.FormatInt(int64(s/bytesize.MiB), 10) + "mb"
	case s != 0 && s%bytesize.KiB == 0:
		return strconv.FormatInt(int64(s/bytesize.KiB), 10) + "kb"
	}
	return strconv.FormatInt(int64(s), 10) + "b"
}

// Effective lifecycle of a started sink (Sink.Lifecycle).
const (
	lifecycleNone    = "off"
	lifecycleILM     = "ilm"
	lifecycleISM     = "ism"
	lifecycleSweeper = "sweeper"
)

// PolicyName is the name of the ILM policy or the id of the ISM policy New installs:
// the index template's name.
func (s *Sink) PolicyName() string { return s.TemplateName() }

// Lifecycle reports what manages rollover and retention of the sink's indices: "ilm"
// or "ism" (the engine's policy), "sweeper" (sluice's own, run by RunLifecycle) or
// "off".
func (s *Sink) Lifecycle() string { return s.lifecycle }

// patterns are the index patterns of the layout: the data streams' names, or the daily
// indices.
func (s *Sink) patterns() []string {
	if s.cfg.Layout == LayoutDaily {
		return []string{s.cfg.IndexPrefix + "-*"}
	}
	return []string{"logs-*-" + s.cfg.Namespace}
}

// ilmPolicy is the Elasticsearch ILM policy (PUT _ilm/policy/<name>): data streams roll
// over in the hot phase; every index is deleted Retention after its rollover (daily
// indices: after the date in their name, see the template's
// index.lifecycle.parse_origination_date).
func (s *Sink) ilmPolicy() map[string]any {
	lc := s.cfg.Lifecycle
	hot := map[string]any{}
	if s.cfg.Layout == LayoutDataStream {
		hot["rollover"] = map[string]any{
			"max_age":                lc.RolloverMaxAge.String(),
			"max_primary_shard_size": engineSize(lc.RolloverMaxPrimaryShardSize),
		}
	}
	return map[string]any{"policy": map[string]any{
		"_meta": map[string]any{"managed_by": "sluice"},
		"phases": map[string]any{
			"hot":    map[string]any{"min_age": "0ms", "actions": hot},
			"delete": map[string]any{"min_age": lc.Retention.String(), "actions": map[string]any{"delete": map[string]any{}}},
		},
	}}
}

// ismPolicy is the OpenSearch ISM policy (PUT _plugins/_ism/policies/<id>): data streams
// roll over in state hot (no rollover_alias: the data stream is the target); every
// index moves to state delete Retention after its creation. ism_template attaches it to
// new indices of sluice's patterns (the data stream names and their backing indices).
func (s *Sink) ismPolicy() map[string]any {
	lc := s.cfg.Lifecycle
	actions := []any{}
	patterns := s.patterns()
	desc := fmt.Sprintf("managed by sluice: delete after %s", lc.Retention)
	if s.cfg.Layout == LayoutDataStream {
		actions = append(actions, map[string]any{"rollover": map[string]any{
			"min_index_age":          lc.RolloverMaxAge.String(),
			"min_primary_shard_size": engineSize(lc.RolloverMaxPrimaryShardSize),
		}})
		patterns = append(patterns, ".ds-logs-*-"+s.cfg.Namespace+"-*")
		desc = fmt.Sprintf("managed by sluice: roll over at %s or %s per primary shard, delete after %s",
			lc.RolloverMaxAge, engineSize(lc.RolloverMaxPrimaryShardSize), lc.Retention)
	}
	return map[string]any{"policy": map[string]any{
		"description":   desc,
		"default_state": "hot",
		"states": []any{
			map[string]any{
				"name":        "hot",
				"actions":     actions,
				"transitions": []any{map[string]any{"state_name": "delete", "conditions": map[string]any{"min_index_age": lc.Retention.String()}}},
			},
			map[string]any{
				"name":        "delete",
				"actions":     []any{map[string]any{"delete": map[string]any{}}},
				"transitions": []any{},
			},
		},
		"ism_template": []any{map[string]any{"index_patterns": patterns, "priority": 200}},
	}}
}

// errNoLifecycleAPI is the answer of an engine without the lifecycle API (no ISM
// plugin, no ILM).
var errNoLifecycleAPI = errors.New("the engine has no lifecycle API")

// setupLifecycle decides the effective lifecycle of the configured mode and installs
// the engine's policy when that is it. It runs before the index template, which names
// the ILM policy.
func (s *Sink) setupLifecycle(ctx context.Context) error {
	mode := s.cfg.Lifecycle.Mode
	switch mode {
	case LifecycleOff:
		s.lifecycle = lifecycleNone
		return nil
	case LifecycleSluice:
		s.lifecycle = lifecycleSweeper
		return s.checkDataStreams(ctx)
	}
	var err error
	if s.cfg.Engine == EngineElasticsearch {
		err = s.installILM(ctx)
	} else {
		err = s.installISM(ctx)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errNoLifecycleAPI) && mode == LifecycleAuto:
		s.lifecycle = lifecycleSweeper
		s.log.WarnContext(ctx, "the engine has no lifecycle API (no ISM plugin or ILM): sluice's sweeper rolls data streams over and deletes expired indices",
			"engine", s.cfg.Engine, "retention", s.cfg.Lifecycle.Retention.String(), "sweep_interval", s.cfg.Lifecycle.SweepInterval)
		return s.checkDataStreams(ctx)
	case errors.Is(err, errNoLifecycleAPI):
		return fmt.Errorf("lifecycle mode engine: %w; use mode auto or sluice for sluice's sweeper", err)
	default:
		return err
	}
}

// noHandler reports whether an answer says the endpoint does not exist, which is how
// both engines answer a plugin's path when the plugin is not installed.
func noHandler(status int, body []byte) bool {
	return (status == http.StatusBadRequest || status == http.StatusNotFound || status == http.StatusMethodNotAllowed) &&
		strings.Contains(strings.ToLower(string(body)), "no handler found")
}

// installILM reads the ILM policy and writes it if it differs from ilmPolicy.
func (s *Sink) installILM(ctx context.Context) error {
	name := s.PolicyName()
	path := "/_ilm/policy/" + url.PathEscape(name)
	want := normalize(s.ilmPolicy())
	status, answer, err := s.eng.Do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return fmt.Errorf("read ilm policy %s: %w", name, err)
	}
	switch {
	case noHandler(status, answer):
		return fmt.Errorf("read ilm policy %s: %w", name, errNoLifecycleAPI)
	case status == http.StatusOK:
		var current map[string]struct {
			Policy any `json:"policy"`
		}
		if err := json.Unmarshal(answer, &current); err != nil {
			return fmt.Errorf("read ilm policy %s: decode answer: %w", name, err)
		}
		if subset(want.(map[string]any)["policy"], current[name].Policy) {
			s.lifecycle = lifecycleILM
			return nil
		}
	case status != http.StatusNotFound:
		return fmt.Errorf("read ilm policy %s: status %d: %s", name, status, truncate(string(answer), 300))
	}
	// PUT replaces the policy as a whole (a new version), so concurrent starts writing
	// the same policy converge.
	if err := s.put(ctx, path, want, "write ilm policy "+name); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "ilm policy written", "policy", name, "retention", s.cfg.Lifecycle.Retention.String())
	s.lifecycle = lifecycleILM
	return nil
}

// ismAttempts bounds the read-compare-write rounds of installISM that lose a race with
// another task writing the policy.
const ismAttempts = 5

// installISM reads the ISM policy and writes it if it differs from ismPolicy: created
// when absent, updated with if_seq_no and if_primary_term (as ISM demands) otherwise. A
// conflict (another task wrote it meanwhile) reads it again.
func (s *Sink) installISM(ctx context.Context) error {
	id := s.PolicyName()
	path := "/_plugins/_ism/policies/" + url.PathEscape(id)
	want := normalize(s.ismPolicy())
	for range ismAttempts {
		status, answer, err := s.eng.Do(ctx, http.MethodGet, path, nil)
		if err != nil {
			return fmt.Errorf("read ism policy %s: %w", id, err)
		}
		put := path
		switch {
		case noHandler(status, answer):
			return fmt.Errorf("read ism policy %s: %w", id, errNoLifecycleAPI)
		case status == http.StatusOK:
			var current struct {
				SeqNo       *int64 `json:"_seq_no"`
				PrimaryTerm *int64 `json:"_primary_term"`
				Policy      any    `json:"policy"`
			}
			if err := json.Unmarshal(answer, &current); err != nil {
				return fmt.Errorf("read ism policy %s: decode answer: %w", id, err)
			}
			if subset(want.(map[string]any)["policy"], current.Policy) {
				s.lifecycle = lifecycleISM
				return nil
			}
			if current.SeqNo == nil || current.PrimaryTerm == nil {
				return fmt.Errorf("read ism policy %s: answer has no _seq_no and _primary_term", id)
			}
			put += "?if_seq_no=" + strconv.FormatInt(*current.SeqNo, 10) + "&if_primary_term=" + strconv.FormatInt(*current.PrimaryTerm, 10)
		case status != http.StatusNotFound:
			return fmt.Errorf("read ism policy %s: status %d: %s", id, status, truncate(string(answer), 300))
		}
		err = s.put(ctx, put, want, "write ism policy "+id)
		var conflict *statusError
		if errors.As(err, &conflict) && conflict.status == http.StatusConflict {
			continue // written by another task since the read: compare again
		}
		if err != nil {
			return err
		}
		s.log.InfoContext(ctx, "ism policy written", "policy", id, "retention", s.cfg.Lifecycle.Retention.String(),
			"note", "indices already managed keep the policy version they started with")
		s.lifecycle = lifecycleISM
		return nil
	}
	return fmt.Errorf("write ism policy %s: still changed by others after %d attempts", id, ismAttempts)
}

// statusError is an engine answer with an unexpected status.
type statusError struct {
	what   string
	status int
	body   string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s: status %d: %s", e.what, e.status, truncate(e.body, 300))
}

// put writes v as JSON with PUT and wants a 200 or 201 answer.
func (s *Sink) put(ctx context.Context, path string, v any, what string) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s: encode: %w", what, err)
	}
	status, answer, err := s.eng.Do(ctx, http.MethodPut, path, body)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if status != http.StatusOK && status != http.StatusCreated {
		return &statusError{what: what, status: status, body: string(answer)}
	}
	return nil
}

// normalize turns v into what decoding its JSON gives (maps, slices, float64s), so
// that it compares with a decoded answer.
func normalize(v any) any {
	data, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		return v
	}
	return out
}

// subset reports whether current holds everything of want: every key of an object with
// an equal value, arrays of the same length with equal elements, equal scalars. Keys
// the engine adds (versions, dates, retry defaults) do not count as a difference; a
// changed or missing value does.
func subset(want, current any) bool {
	switch w := want.(type) {
	case map[string]any:
		c, ok := current.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			cv, ok := c[k]
			if !ok || !subset(wv, cv) {
				return false
			}
		}
		return true
	case []any:
		c, ok := current.([]any)
		if !ok || len(c) != len(w) {
			return false
		}
		for i := range w {
			if !subset(w[i], c[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(want, current)
	}
}
