package enrich

import (
	"bufio"
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
	"strings"

	"github.com/sluice-siem/sluice/transform/event"
)

// ECS threat.indicator.type values of the indicators a set holds.
const (
	indicatorIPv4   = "ipv4-addr"
	indicatorIPv6   = "ipv6-addr"
	indicatorDomain = "domain-name"
	indicatorFile   = "file"
)

// indicator is one loaded indicator and its metadata.
type indicator struct {
	typ         string // ECS threat.indicator.type
	name        string // as written (normalised): the IP, CIDR, domain or hash
	hashAlgo    string // md5, sha1 or sha256 for file hashes
	cidr        bool   // an IP indicator that is a range
	provider    string
	confidence  string
	description string
	reference   string
	// members are the indicator's threat.indicator members without the matched value
	// and the file hash, boxed once: a match copies them, so its values are not boxed
	// again per event.
	members []member
}

// indicatorSet is one loaded set: IPs and CIDRs in a prefix table (an IP is a /32 or
// /128), domains and hashes in maps. It is read-only once loaded.
type indicatorSet struct {
	ips        prefixTable
	domains    map[string]int32
	hashes     map[string]int32
	indicators []indicator
}

// loadIndicatorSet reads every file of a set. Errors name the file and line. An
// indicator listed twice keeps its first metadata.
func loadIndicatorSet(embedded fs.FS, cfg IndicatorSetConfig) (*indicatorSet, error) {
	s := &indicatorSet{domains: map[string]int32{}, hashes: map[string]int32{}}
	var prefixes []prefixValue
	add := func(path string, line int, raw indicatorRecord) error {
		in, err := parseIndicator(raw.Indicator)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
		in.provider, in.confidence = cfg.Provider, cfg.Confidence
		if raw.Provider != "" {
			in.provider = raw.Provider
		}
		if raw.Confidence != "" {
			in.confidence = raw.Confidence
		}
		in.description, in.reference = raw.Description, raw.Reference
		i := int32(len(s.indicators))
		switch in.typ {
		case indicatorIPv4, indicatorIPv6:
			p, _ := parsePrefix(in.name)
			prefixes = append(prefixes, prefixValue{prefix: p, val: i})
		case indicatorDomain:
			if _, dup := s.domains[in.name]; dup {
				return nil
			}
			s.domains[in.name] = i
		case indicatorFile:
			if _, dup := s.hashes[in.name]; dup {
				return nil
			}
			s.hashes[in.name] = i
		}
		in.members = in.template()
		s.indicators = append(s.indicators, in)
		return nil
	}
	for _, path := range cfg.Files {
		if err := readIndicatorFile(embedded, path, add); err != nil {
			return nil, err
		}
	}
	s.ips = buildPrefixTable(prefixes)
	return s, nil
}

// indicatorRecord is one indicator as a file writes it.
type indicatorRecord struct {
	Indicator   string `json:"indicator"`
	Provider    string `json:"provider"`
	Confidence  string `json:"confidence"`
	Description string `json:"description"`
	Reference   string `json:"reference"`
}

// readIndicatorFile calls add for every indicator of a file, in order.
func readIndicatorFile(embedded fs.FS, path string, add func(path string, line int, r indicatorRecord) error) error {
	data, err := readLookupFile(embedded, path)
	if err != nil {
		return err
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		fail := func(off int64, err error) error {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				off = se.Offset
			}
			return fmt.Errorf("%s:%d: %w", path, lineAt(data, off), err)
		}
		tok, err := dec.Token()
		if d, ok := tok.(json.Delim); err != nil || !ok || d != '[' {
			return fail(0, errors.New("want a JSON array of {indicator, provider, confidence, description, reference}"))
		}
		for dec.More() {
			off := dec.InputOffset()
			var r indicatorRecord
			if err := dec.Decode(&r); err != nil {
				return fail(off, err)
			}
			if err := add(path, lineAt(data, off), r); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return fail(dec.InputOffset(), err)
		}
		return nil
	case ".csv":
		r := csv.NewReader(bytes.NewReader(data))
		r.Comment = '#'
		r.TrimLeadingSpace = true
		header, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		hline, _ := r.FieldPos(0)
		cols := map[string]int{}
		for i, h := range header {
			h = strings.ToLower(strings.TrimSpace(h))
			switch h {
			case "indicator", "provider", "confidence", "description", "reference":
			default:
				return fmt.Errorf("%s:%d: unknown column %q (want indicator, provider, confidence, description, reference)", path, hline, h)
			}
			if _, dup := cols[h]; dup {
				return fmt.Errorf("%s:%d: column %s named twice", path, hline, h)
			}
			cols[h] = i
		}
		if _, ok := cols["indicator"]; !ok {
			return fmt.Errorf("%s:%d: want a header row with an indicator column", path, hline)
		}
		cell := func(rec []string, name string) string {
			if i, ok := cols[name]; ok {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		for {
			rec, err := r.Read()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			line, _ := r.FieldPos(0)
			err = add(path, line, indicatorRecord{
				Indicator: cell(rec, "indicator"), Provider: cell(rec, "provider"),
				Confidence: cell(rec, "confidence"), Description: cell(rec, "description"),
				Reference: cell(rec, "reference"),
			})
			if err != nil {
				return err
			}
		}
	default:
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
		for line := 1; sc.Scan(); line++ {
			s := strings.TrimSpace(sc.Text())
			if s == "" || s[0] == '#' {
				continue
			}
			if err := add(path, line, indicatorRecord{Indicator: s}); err != nil {
				return err
			}
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	}
}

// parseIndicator classifies and normalises one indicator: an IP address or CIDR range,
// a hex MD5/SHA-1/SHA-256 hash, or a domain name (lower case, no trailing dot).
func parseIndicator(s string) (indicator, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return indicator{}, errors.New("empty indicator")
	}
	// A hash before an address: an all-digit hash would look like a broken IPv4 one.
	if algo := hashAlgo(s); algo != "" {
		return indicator{typ: indicatorFile, name: strings.ToLower(s), hashAlgo: algo}, nil
	}
	if strings.ContainsAny(s, ":/") || isIPv4ish(s) {
		p, err := parsePrefix(s)
		if err != nil {
			return indicator{}, err
		}
		p = normalizePrefix(p)
		in := indicator{typ: indicatorIPv4, name: p.String(), cidr: p.Bits() < p.Addr().BitLen()}
		if !p.Addr().Is4() {
			in.typ = indicatorIPv6
		}
		if !in.cidr {
			in.name = p.Addr().String()
		}
		return in, nil
	}
	d := strings.TrimSuffix(strings.ToLower(s), ".")
	if !validDomain(d) {
		return indicator{}, fmt.Errorf("%q is not an IP address, CIDR range, domain or MD5/SHA-1/SHA-256 hash", truncate(s, 80))
	}
	return indicator{typ: indicatorDomain, name: d}, nil
}

// isIPv4ish reports strings made of digits and dots only (IPv4 addresses, valid or
// not), so that a bad address is reported as one rather than as a bad domain.
func isIPv4ish(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// hashAlgo names the hash algorithm of a hex string by its length, or returns "".
func hashAlgo(s string) string {
	var algo string
	switch len(s) {
	case 32:
		algo = "md5"
	case 40:
		algo = "sha1"
	case 64:
		algo = "sha256"
	default:
		return ""
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return ""
		}
	}
	return algo
}

// validDomain accepts lower-case host names of at least two labels: letters, digits,
// '-' and '_' (seen in real DNS names), labels of 1 to 63 bytes, 253 bytes in all.
func validDomain(d string) bool {
	if len(d) == 0 || len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for label := range strings.SplitSeq(d, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// threatIntel is the threat_intel processor.
type threatIntel struct {
	fields   []string
	paths    []event.Path // fields, parsed
	tag      string
	tagValue any // tag, boxed once
	set      *reloadable[indicatorSet]
	count    lookupCounter
}

// NewThreatIntel returns a threat_intel processor over the indicator set of r named by
// cfg. It is safe for concurrent use and serves a reloaded set as soon as Resources.Run
// swaps it in; r must outlive it.
func NewThreatIntel(cfg ThreatIntelConfig, r *Resources) (event.Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h, ok := r.sets[cfg.Set]
	if !ok {
		return nil, fmt.Errorf("set: no indicator set %q in lookups.threat_intel", cfg.Set)
	}
	t := &threatIntel{fields: cfg.Fields, paths: parsePaths(cfg.Fields), tag: cfg.Tag, set: h, count: r.metrics.lookupCounter("threat_intel", cfg.Set)}
	if t.tag == "" {
		t.tag = DefaultThreatTag
	}
	t.tagValue = t.tag
	return t, nil
}

// match is one indicator an event matched.
type match struct {
	ind    *indicator
	field  string
	atomic string
}

// Process matches the fields' values against the set. Values that are neither IP
// addresses, hashes nor domains simply do not match.
func (t *threatIntel) Process(ctx context.Context, e *event.Event) error {
	s := t.set.cur.Load()
	var buf [4]match
	matches := buf[:0]
	for i, f := range t.fields {
		v, ok := e.GetPath(t.paths[i])
		if !ok {
			continue
		}
		switch v := v.(type) {
		case string:
			matches = s.match(matches, f, v)
		case []any:
			for _, x := range v {
				if str, ok := x.(string); ok {
					matches = s.match(matches, f, str)
				}
			}
		}
	}
	if len(matches) == 0 {
		t.count.add(resultMiss)
		return nil
	}
	t.count.add(resultHit)
	threat, err := targetObject(e, "threat")
	if err != nil {
		return fmt.Errorf("threat_intel: %w", err)
	}
	enrichments, _ := threat["enrichments"].([]any)
	if v, ok := threat["enrichments"]; ok && enrichments == nil && v != nil {
		return fmt.Errorf("threat_intel: threat.enrichments is a %s, not an array", event.Kind(v))
	}
	var first any // the first match's value, boxed once for both objects
	for i, m := range matches {
		atomic := any(m.atomic)
		if i == 0 {
			first = atomic
		}
		matched := e.NewObject(3)
		matched["atomic"], matched["field"], matched["type"] = atomic, m.field, "indicator_match_rule"
		enrichment := e.NewObject(2)
		enrichment["indicator"], enrichment["matched"] = m.ind.fields(e, atomic), matched
		enrichments = append(enrichments, enrichment)
	}
	threat["enrichments"] = enrichments
	if _, ok := threat["indicator"]; !ok {
		threat["indicator"] = matches[0].ind.fields(e, first)
	}
	if err := addTag(e, t.tagValue); err != nil {
		return fmt.Errorf("threat_intel: %w", err)
	}
	return nil
}

// match appends the indicator that value of field matches, if any.
func (s *indicatorSet) match(out []match, field, value string) []match {
	if value == "" {
		return out
	}
	// Only strings that can be addresses are parsed: a failed parse allocates its error.
	if strings.IndexByte(value, ':') >= 0 || isIPv4ish(value) {
		if a, err := netip.ParseAddr(value); err == nil {
			if i := s.ips.lookup(normalizeAddr(a)); i >= 0 {
				out = append(out, match{ind: &s.indicators[i], field: field, atomic: value})
			}
			return out
		}
	}
	if hashAlgo(value) != "" {
		i, ok := s.hashes[value]
		if !ok && hasUpper(value) {
			i, ok = s.hashes[strings.ToLower(value)]
		}
		if ok {
			out = append(out, match{ind: &s.indicators[i], field: field, atomic: value})
		}
		return out
	}
	d := value
	if hasUpper(d) {
		d = strings.ToLower(d)
	}
	d = strings.TrimSuffix(d, ".")
	// The domain itself, then each parent: a.b.evil.example matches evil.example.
	for d != "" {
		if i, ok := s.domains[d]; ok {
			return append(out, match{ind: &s.indicators[i], field: field, atomic: value})
		}
		dot := strings.IndexByte(d, '.')
		if dot < 0 {
			break
		}
		d = d[dot+1:]
	}
	return out
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return true
		}
	}
	return false
}

// fields returns the ECS threat.indicator object of a match of value (boxed once by
// the caller), made with e's objects.
func (in *indicator) fields(e *event.Event, value any) map[string]any {
	members := in.members
	if members == nil { // an indicator made without a template
		members = in.template()
	}
	m := e.NewObject(len(members) + 1)
	for _, mb := range members {
		m[mb.key] = mb.val
	}
	switch in.typ {
	case indicatorIPv4, indicatorIPv6:
		m["ip"] = value
	case indicatorFile: // the event owns its objects
		hash := e.NewObject(1)
		hash[in.hashAlgo] = in.name
		file := e.NewObject(1)
		file["hash"] = hash
		m["file"] = file
	}
	return m
}

// template makes the threat.indicator members of the indicator that do not depend on
// the match: all but "ip" (the matched address) and "file" (an object of each event).
func (in *indicator) template() []member {
	m := make([]member, 0, 6)
	put := func(k, v string) {
		if v != "" {
			m = append(m, member{k, v})
		}
	}
	put("type", in.typ)
	put("name", in.name)
	if in.typ == indicatorDomain {
		put("domain", in.name)
	}
	put("provider", in.provider)
	put("confidence", in.confidence)
	put("description", in.description)
	put("reference", in.reference)
	return m
}
