package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SweepResult is what one sweep did.
type SweepResult struct {
	// RolledOver names the data streams this sweep rolled over.
	RolledOver []string
	// Deleted names the indices this sweep's delete requests removed, not those
	// another task had deleted before. Two tasks deleting the same index at the same
	// instant are both acknowledged by the engine, so both may list it.
	Deleted []string
}

// RunLifecycle runs sluice's retention sweeper until ctx ends or Close is called, and
// returns nil then. It returns nil at once unless Lifecycle is "sweeper". The first
// sweep starts after a random tenth of the sweep interval, the next ones every
// interval give or take a tenth, so the transform tasks that all run it spread out.
// A failed sweep is logged and counted, and the next one tries again.
func (s *Sink) RunLifecycle(ctx context.Context) error {
	if s.lifecycle != lifecycleSweeper {
		return nil
	}
	s.stopMu.Lock()
	if s.stopped {
		s.stopMu.Unlock()
		return nil
	}
	s.running.Add(1)
	s.stopMu.Unlock()
	defer s.running.Done()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	interval := s.cfg.Lifecycle.SweepInterval
	wait := rand.N(interval/10 + 1)
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		res, err := s.Sweep(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "retention sweep failed", "err", err,
				"rolled_over", len(res.RolledOver), "deleted", len(res.Deleted))
		}
		wait = interval - interval/10 + rand.N(interval/5+1)
	}
}

// Sweep does once what Curator did on a timer: it rolls each of the layout's data
// streams over when its write index is older than RolloverMaxAge or larger than
// RolloverMaxPrimaryShardSize, and deletes the indices older than Retention by the
// sink's clock (Options.Now): backing indices by creation time, never a data stream's
// write index; daily indices <prefix>-<type>-YYYY.MM.DD once their day ended Retention
// ago. Other indices are never touched.
//
// Several tasks may sweep at once: the rollover conditions are evaluated by the engine
// (a second task finds the new write index young and does not roll again), the write
// index cannot be deleted, and an index another task deleted first counts as done.
// Sweep goes on after a failed request and returns every failure joined.
func (s *Sink) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	var errs []error
	fail := func(err error) {
		errs = append(errs, err)
		s.sweepErrors.Add(ctx, 1)
	}
	cutoff := s.now().Add(-time.Duration(s.cfg.Lifecycle.Retention))
	var expired []string
	if s.cfg.Layout == LayoutDaily {
		names, err := s.indexNames(ctx, s.cfg.IndexPrefix+"-*")
		if err != nil {
			fail(err)
		}
		for name := range names {
			if day, ok := s.dailyDate(name); ok && !day.Add(24*time.Hour).After(cutoff) {
				expired = append(expired, name)
			}
		}
	} else {
		streams, err := s.dataStreams(ctx)
		if err != nil {
			fail(err)
		}
		for _, ds := range streams {
			rolled, err := s.rollover(ctx, ds.Name)
			if err != nil {
				fail(err)
			} else if rolled {
				res.RolledOver = append(res.RolledOver, ds.Name)
				s.rolledOver.Add(ctx, 1)
				s.log.InfoContext(ctx, "data stream rolled over", "data_stream", ds.Name)
			}
			if len(ds.Indices) < 2 {
				continue // only the write index
			}
			created, err := s.indexNames(ctx, ds.Name)
			if err != nil {
				fail(err)
				continue
			}
			// The write index is the last one; an index listed before it never becomes
			// the write index again, whatever other tasks do meanwhile.
			for _, ix := range ds.Indices[:len(ds.Indices)-1] {
				if at, ok := created[ix.Name]; ok && at.Before(cutoff) {
					expired = append(expired, ix.Name)
				}
			}
		}
	}
	// In random order, so that tasks sweeping at the same time rarely delete the same
	// index at the same instant (harmless, but counted twice).
	rand.Shuffle(len(expired), func(i, j int) { expired[i], expired[j] = expired[j], expired[i] })
	for _, name := range expired {
		gone, err := s.deleteIndex(ctx, name)
		if err != nil {
			fail(err)
			continue
		}
		if gone {
			res.Deleted = append(res.Deleted, name)
			s.indicesDeleted.Add(ctx, 1)
			s.log.InfoContext(ctx, "expired index deleted", "index", name, "retention", s.cfg.Lifecycle.Retention.String())
		}
	}
	return res, errors.Join(errs...)
}

// do sends one request of the sweeper within RequestTimeout. Paths hold index names as
// they are: names from the engine's answers or from validated configuration need no
// escaping, and patterns keep their '*'.
func (s *Sink) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	return s.eng.Do(ctx, method, path, body)
}

// checkDataStreams fails the start of a sweeper over the data_stream layout on an
// engine without the data stream API (the Elasticsearch integ-test-zip lacks the
// module): there the documents would land in plain indices named like the data
// streams, which the sweeper can neither list, roll over nor prune, and every sweep
// would fail. Other layouts, and an answer that says nothing about the API (401 or 403
// of a key without the monitor privilege), pass.
func (s *Sink) checkDataStreams(ctx context.Context) error {
	if s.cfg.Layout != LayoutDataStream {
		return nil
	}
	pattern := s.patterns()[0]
	status, answer, err := s.do(ctx, http.MethodGet, "/_data_stream/"+pattern, nil)
	if err != nil {
		return fmt.Errorf("check the data stream API: %w", err)
	}
	// Without the API, the path reads as an index named _data_stream: Elasticsearch
	// answers 405 (only POST to /<index>/<id>) or 400 (invalid index name).
	if status == http.StatusMethodNotAllowed || noHandler(status, answer) ||
		(status == http.StatusBadRequest && strings.Contains(string(answer), "invalid_index_name_exception")) {
		return fmt.Errorf("layout %s: the engine has no data stream API (GET /_data_stream/%s answers %d), so sluice's sweeper cannot manage the indices; use layout %s",
			LayoutDataStream, pattern, status, LayoutDaily)
	}
	return nil
}

// dataStream is the part of a GET _data_stream answer the sweeper reads.
type dataStream struct {
	Name string `json:"name"`
	// Template is the index template that made the data stream: sluice's own, or
	// another's (Elastic Agent's logs-*-default streams match sluice's pattern too).
	Template string `json:"template"`
	Indices  []struct {
		Name string `json:"index_name"`
	} `json:"indices"`
}

// dataStreams lists the layout's data streams, logs-*-<namespace>, that sluice's index
// template made, each with its backing indices, the write index last. A data stream
// another template made (an Elastic Agent integration sharing the namespace, say) is
// never rolled over or pruned by sluice.
func (s *Sink) dataStreams(ctx context.Context) ([]dataStream, error) {
	pattern := s.patterns()[0]
	status, answer, err := s.do(ctx, http.MethodGet, "/_data_stream/"+pattern, nil)
	if err != nil {
		return nil, fmt.Errorf("list data streams %s: %w", pattern, err)
	}
	if status == http.StatusNotFound {
		return nil, nil
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("list data streams %s: status %d: %s", pattern, status, truncate(string(answer), 300))
	}
	var ans struct {
		DataStreams []dataStream `json:"data_streams"`
	}
	if err := json.Unmarshal(answer, &ans); err != nil {
		return nil, fmt.Errorf("list data streams %s: decode answer: %w", pattern, err)
	}
	own := ans.DataStreams[:0]
	for _, ds := range ans.DataStreams {
		if ds.Template == s.TemplateName() {
			own = append(own, ds)
		}
	}
	return own, nil
}

// rollover asks the engine to roll data stream ds over if its write index meets a
// condition, and reports whether it did. The engine evaluates the conditions, so a task
// that comes after another's rollover finds the fresh write index and leaves it; one
// that comes at the same time is refused ("concurrent modification"), which counts as
// not rolled, not as an error.
func (s *Sink) rollover(ctx context.Context, ds string) (bool, error) {
	lc := s.cfg.Lifecycle
	conditions := map[string]any{"max_age": lc.RolloverMaxAge.String()}
	if s.cfg.Engine == EngineElasticsearch {
		conditions["max_primary_shard_size"] = engineSize(lc.RolloverMaxPrimaryShardSize)
	} else {
		// OpenSearch's rollover API has no per-shard condition: max_size is the size
		// of all primaries, equal with the one primary shard of its default.
		conditions["max_size"] = engineSize(lc.RolloverMaxPrimaryShardSize)
	}
	body, err := json.Marshal(map[string]any{"conditions": conditions})
	if err != nil {
		return false, fmt.Errorf("roll over %s: encode: %w", ds, err)
	}
	status, answer, err := s.do(ctx, http.MethodPost, "/"+ds+"/_rollover", body)
	if err != nil {
		return false, fmt.Errorf("roll over %s: %w", ds, err)
	}
	if status != http.StatusOK {
		if status == http.StatusInternalServerError && strings.Contains(string(answer), "Concurrent modification") {
			// Another task's rollover of the same write index won the race: the
			// engine refuses the second one, which is what we want.
			return false, nil
		}
		return false, fmt.Errorf("roll over %s: status %d: %s", ds, status, truncate(string(answer), 300))
	}
	var ans struct {
		RolledOver bool `json:"rolled_over"`
	}
	if err := json.Unmarshal(answer, &ans); err != nil {
		return false, fmt.Errorf("roll over %s: decode answer: %w", ds, err)
	}
	return ans.RolledOver, nil
}

// indexNames returns the indices that target (an index pattern or a data stream) names,
// with their creation times.
func (s *Sink) indexNames(ctx context.Context, target string) (map[string]time.Time, error) {
	path := "/" + target + "/_settings/index.creation_date?expand_wildcards=open,closed"
	status, answer, err := s.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, fmt.Errorf("list indices %s: %w", target, err)
	}
	if status == http.StatusNotFound {
		return nil, nil
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("list indices %s: status %d: %s", target, status, truncate(string(answer), 300))
	}
	var ans map[string]struct {
		Settings struct {
			Index struct {
				CreationDate string `json:"creation_date"`
			} `json:"index"`
		} `json:"settings"`
	}
	if err := json.Unmarshal(answer, &ans); err != nil {
		return nil, fmt.Errorf("list indices %s: decode answer: %w", target, err)
	}
	out := make(map[string]time.Time, len(ans))
	for name, ix := range ans {
		ms, err := strconv.ParseInt(ix.Settings.Index.CreationDate, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("list indices %s: index %s: creation date %q: %w", target, name, ix.Settings.Index.CreationDate, err)
		}
		out[name] = time.UnixMilli(ms)
	}
	return out, nil
}

// dailyDate returns the UTC day of a daily index <prefix>-<type>-YYYY.MM.DD, and false
// for any other name.
func (s *Sink) dailyDate(name string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(name, s.cfg.IndexPrefix+"-")
	const dateLen = len("-2006.01.02")
	if !ok || len(rest) <= dateLen || rest[len(rest)-dateLen] != '-' {
		return time.Time{}, false
	}
	day, err := time.Parse("2006.01.02", rest[len(rest)-dateLen+1:])
	if err != nil {
		return time.Time{}, false
	}
	return day, true
}

// deleteIndex deletes one index by its exact name. It reports false without an error
// when the index is already gone (another task deleted it first).
func (s *Sink) deleteIndex(ctx context.Context, name string) (bool, error) {
	status, answer, err := s.do(ctx, http.MethodDelete, "/"+name+"?expand_wildcards=none", nil)
	if err != nil {
		return false, fmt.Errorf("delete index %s: %w", name, err)
	}
	switch status {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	default:
		return false, fmt.Errorf("delete index %s: status %d: %s", name, status, truncate(string(answer), 300))
	}
}
