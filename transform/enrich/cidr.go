package enrich

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sluice-siem/sluice/transform/event"
)

// cidrTable is one loaded CIDR table: its prefixes and, for each row, the fields it
// adds. It is read-only once loaded.
type cidrTable struct {
	prefixes prefixTable
	rows     [][]leaf
}

// loadCIDRTable reads a .csv or .json table. Errors name the file and line.
func loadCIDRTable(embedded fs.FS, path string) (*cidrTable, error) {
	data, err := readLookupFile(embedded, path)
	if err != nil {
		return nil, err
	}
	var rows []cidrRow
	if strings.EqualFold(filepath.Ext(path), ".json") {
		rows, err = parseCIDRJSON(path, data)
	} else {
		rows, err = parseCIDRCSV(path, data)
	}
	if err != nil {
		return nil, err
	}
	t := &cidrTable{rows: make([][]leaf, len(rows))}
	entries := make([]prefixValue, len(rows))
	lines := make(map[netip.Prefix]int, len(rows))
	for i, r := range rows {
		p := normalizePrefix(r.prefix)
		if first, dup := lines[p]; dup {
			return nil, fmt.Errorf("%s:%d: duplicate cidr %s (also on line %d)", path, r.line, p, first)
		}
		lines[p] = r.line
		entries[i] = prefixValue{prefix: p, val: int32(i)}
		t.rows[i] = r.leaves
	}
	t.prefixes = buildPrefixTable(entries)
	return t, nil
}

// cidrRow is one row of a table file.
type cidrRow struct {
	line   int
	prefix netip.Prefix
	leaves []leaf
}

// parsePrefix accepts a CIDR range or a single address (a /32 or /128).
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR range", truncate(s, 64))
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR range or IP address", truncate(s, 64))
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// parseCIDRCSV reads a header row (cidr, then field names, dots allowed) and rows.
// Lines starting with '#' are comments; an empty cell adds no field.
func parseCIDRCSV(path string, data []byte) ([]cidrRow, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.Comment = '#'
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: empty: want a header row (cidr,field,...)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	hline, _ := r.FieldPos(0)
	if len(header) < 2 || strings.TrimSpace(strings.ToLower(header[0])) != "cidr" {
		return nil, fmt.Errorf("%s:%d: want a header row with cidr first and at least one field name", path, hline)
	}
	paths := make([][]string, len(header)-1)
	seen := map[string]bool{}
	for i, h := range header[1:] {
		h = strings.TrimSpace(h)
		if err := checkPath("column", h, true); err != nil {
			return nil, fmt.Errorf("%s:%d: column %d: invalid field name %q", path, hline, i+2, h)
		}
		if seen[h] {
			return nil, fmt.Errorf("%s:%d: field %s named twice", path, hline, h)
		}
		seen[h] = true
		paths[i] = strings.Split(h, ".")
	}
	var rows []cidrRow
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		line, _ := r.FieldPos(0)
		p, err := parsePrefix(rec[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		row := cidrRow{line: line, prefix: p}
		for i, v := range rec[1:] {
			if v = strings.TrimSpace(v); v != "" {
				row.leaves = append(row.leaves, leaf{path: paths[i], value: v})
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// parseCIDRJSON reads a JSON array of {"cidr": "10.0.0.0/8", "fields": {...}}.
// Field names may be dotted and values nested objects; both become field paths.
func parseCIDRJSON(path string, data []byte) ([]cidrRow, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	fail := func(off int64, err error) error {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off = se.Offset
		}
		return fmt.Errorf("%s:%d: %w", path, lineAt(data, off), err)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, fail(dec.InputOffset(), fmt.Errorf("want a JSON array of {cidr, fields}: %w", err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, fail(0, errors.New("want a JSON array of {cidr, fields}"))
	}
	var rows []cidrRow
	for dec.More() {
		off := dec.InputOffset()
		var in struct {
			CIDR   *string        `json:"cidr"`
			Fields map[string]any `json:"fields"`
		}
		if err := dec.Decode(&in); err != nil {
			return nil, fail(off, err)
		}
		line := lineAt(data, off)
		if in.CIDR == nil {
			return nil, fmt.Errorf("%s:%d: cidr required", path, line)
		}
		p, err := parsePrefix(*in.CIDR)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		for k := range in.Fields {
			if err := checkPath("field", k, true); err != nil {
				return nil, fmt.Errorf("%s:%d: invalid field name %q", path, line, k)
			}
		}
		leaves := flatten(nil, nil, in.Fields)
		for _, l := range leaves {
			// Keys of nested objects too: an empty one would make a field the search
			// engine refuses, and with it every document the row enriches.
			if slices.Contains(l.path, "") {
				return nil, fmt.Errorf("%s:%d: invalid field name %q", path, line, strings.Join(l.path, "."))
			}
		}
		rows = append(rows, cidrRow{line: line, prefix: p, leaves: leaves})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fail(dec.InputOffset(), err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fail(dec.InputOffset(), errors.New("data after the array"))
	}
	return rows, nil
}

// lineAt returns the line of the first value at or after off in data (1-based),
// skipping the whitespace and commas between values.
func lineAt(data []byte, off int64) int {
	i := int(min(max(off, 0), int64(len(data))))
	for i < len(data) && strings.IndexByte(" \t\r\n,", data[i]) >= 0 {
		i++
	}
	return 1 + bytes.Count(data[:min(i, len(data))], []byte{'\n'})
}

// cidrLookup is the cidr_lookup processor.
type cidrLookup struct {
	field, target string
	path          event.Path // field, parsed
	ignoreMissing bool
	table         *reloadable[cidrTable]
	count         lookupCounter
}

// NewCIDRLookup returns a cidr_lookup processor over the table of r named by cfg. It is
// safe for concurrent use and serves a reloaded table as soon as Resources.Run swaps it
// in; r must outlive it.
func NewCIDRLookup(cfg CIDRConfig, r *Resources) (event.Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h, ok := r.cidrs[cfg.Table]
	if !ok {
		return nil, fmt.Errorf("table: no cidr table %q in lookups.cidr_tables", cfg.Table)
	}
	c := &cidrLookup{field: cfg.Field, path: event.ParsePath(cfg.Field), target: cfg.TargetField, ignoreMissing: cfg.IgnoreMissing, table: h,
		count: r.metrics.lookupCounter("cidr_lookup", cfg.Table)}
	if c.target == "" {
		c.target = parentPath(cfg.Field)
	}
	return c, nil
}

// Process merges the fields of the longest prefix holding the field's address.
func (c *cidrLookup) Process(ctx context.Context, e *event.Event) error {
	addr, ok, err := ipField(e, c.path, c.ignoreMissing)
	if err != nil {
		c.count.add(resultError)
		return fmt.Errorf("cidr_lookup of %s: %w", c.field, err)
	}
	if !ok {
		return nil
	}
	t := c.table.cur.Load()
	i := t.prefixes.lookup(addr)
	if i < 0 {
		c.count.add(resultMiss)
		return nil
	}
	c.count.add(resultHit)
	obj, err := targetObject(e, c.target)
	if err != nil {
		return fmt.Errorf("cidr_lookup of %s: target_field %w", c.field, err)
	}
	if err := applyLeaves(e, obj, t.rows[i]); err != nil {
		return fmt.Errorf("cidr_lookup of %s: %w", c.field, err)
	}
	return nil
}
