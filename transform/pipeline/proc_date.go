package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/transform/event"
)

type dateOptions struct {
	Field         string   `yaml:"field"`
	TargetField   string   `yaml:"target_field"`
	Formats       []string `yaml:"formats"`
	Timezone      string   `yaml:"timezone"`
	OutputFormat  string   `yaml:"output_format"`
	IgnoreMissing bool     `yaml:"ignore_missing"`
}

// dateProc parses a date with the first format that fits and writes it to
// target_field (@timestamp by default), in UTC, as RFC 3339 with as many fractional
// digits as needed (or output_format).
//
// Formats: ISO8601 (RFC 3339 and its relatives: "T" or space, offset with or without
// colon, or none), UNIX (seconds, fractions allowed), UNIX_MS (milliseconds), a Go
// layout (anything containing 2006 or 15:04), or a Java-style pattern as in ES ingest
// and Logstash (yyyy-MM-dd'T'HH:mm:ss.SSSZ, MMM d HH:mm:ss, dd/MMM/yyyy:HH:mm:ss Z).
// A date without a zone is in timezone (an IANA name or UTC, the default). A date
// without a year (syslog's "Nov 26 07:00:01") gets the year in which the event was
// received, or the year before if that would put it more than two days after. A date
// outside the years 0000 to 9999 in UTC, which RFC 3339 cannot write, is an error.
type dateProc struct {
	field, target event.Path
	formats       []dateFormat
	names         string
	loc           *time.Location
	output        string
	ignoreMissing bool
}

type dateFormat struct {
	kind   string // "ISO8601", "UNIX", "UNIX_MS", "layout"
	layout string
	noYear bool
}

// iso8601Layouts are tried in order for ISO8601.
func iso8601Layouts() []string {
	return []string{
		"2006-01-02T15:04:05.999999999Z07:00",
		"2006-01-02T15:04:05.999999999Z0700",
		"2006-01-02T15:04:05.999999999",
		"2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02 15:04:05.999999999Z0700",
		"2006-01-02 15:04:05.999999999",
		"2006-01-02T15:04Z07:00",
		"2006-01-02T15:04",
		"2006-01-02",
	}
}

func newDate(node *yaml.Node, _ *Deps) (event.Processor, error) {
	var o dateOptions
	given, errs := decodeOptions(node, &o)
	if err := requireField("field", o.Field, given["field"]); err != nil {
		errs = append(errs, err)
	}
	if o.TargetField == "" {
		o.TargetField = "@timestamp"
	}
	p := &dateProc{field: event.ParsePath(o.Field), target: event.ParsePath(o.TargetField), ignoreMissing: o.IgnoreMissing,
		loc: time.UTC, output: time.RFC3339Nano, names: strings.Join(o.Formats, ", ")}
	if len(o.Formats) == 0 {
		errs = append(errs, optErr("formats", node, "required: one or more of ISO8601, UNIX, UNIX_MS, a Go layout or a Java-style pattern"))
	}
	for i, f := range o.Formats {
		df, err := parseDateFormat(f)
		if err != nil {
			errs = append(errs, optErr(fmt.Sprintf("formats[%d]", i), given["formats"], "%v", err))
			continue
		}
		p.formats = append(p.formats, df)
	}
	if o.Timezone != "" {
		loc, err := loadLocation(o.Timezone)
		if err != nil {
			errs = append(errs, optErr("timezone", given["timezone"], "%v", err))
		} else {
			p.loc = loc
		}
	}
	if o.OutputFormat != "" {
		df, err := parseDateFormat(o.OutputFormat)
		if err != nil || df.kind != "layout" {
			errs = append(errs, optErr("output_format", given["output_format"], "want a Go layout or a Java-style pattern"))
		} else {
			p.output = df.layout
		}
	}
	return p, errors.Join(errs...)
}

// loadLocation accepts an IANA zone name, UTC, or a fixed offset such as +02:00.
func loadLocation(name string) (*time.Location, error) {
	if len(name) == 6 && (name[0] == '+' || name[0] == '-') && name[3] == ':' {
		h, err1 := strconv.Atoi(name[1:3])
		m, err2 := strconv.Atoi(name[4:6])
		if err1 == nil && err2 == nil && h <= 14 && m < 60 {
			off := h*3600 + m*60
			if name[0] == '-' {
				off = -off
			}
			return time.FixedZone(name, off), nil
		}
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q (an IANA name such as Europe/Amsterdam, UTC, or an offset such as +02:00)", name)
	}
	return loc, nil
}

// parseDateFormat reads one entry of formats.
func parseDateFormat(f string) (dateFormat, error) {
	switch f {
	case "ISO8601", "UNIX", "UNIX_MS":
		return dateFormat{kind: f}, nil
	case "":
		return dateFormat{}, errors.New("empty format")
	}
	layout := f
	if !strings.Contains(f, "2006") && !strings.Contains(f, "15:04") {
		var err error
		if layout, err = javaLayout(f); err != nil {
			return dateFormat{}, err
		}
	}
	return dateFormat{kind: "layout", layout: layout, noYear: !strings.Contains(layout, "06")}, nil
}

// javaLayout translates a Java-style date pattern (as ES ingest and Logstash take)
// into a Go layout.
func javaLayout(pattern string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(pattern); {
		c := pattern[i]
		if c == '\'' {
			j := strings.IndexByte(pattern[i+1:], '\'')
			if j < 0 {
				return "", fmt.Errorf("%q: unterminated quote", pattern)
			}
			if j == 0 {
				b.WriteByte('\'')
			} else {
				b.WriteString(pattern[i+1 : i+1+j])
			}
			i += j + 2
			continue
		}
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			b.WriteByte(c)
			i++
			continue
		}
		n := 1
		for i+n < len(pattern) && pattern[i+n] == c {
			n++
		}
		i += n
		var tok string
		switch c {
		case 'y', 'u':
			tok = "2006"
			if n == 2 {
				tok = "06"
			}
		case 'M':
			tok = [...]string{"1", "01", "Jan", "January"}[min(n, 4)-1]
		case 'd':
			tok = "2"
			if n >= 2 {
				tok = "02"
			}
		case 'H':
			tok = "15"
		case 'h':
			tok = "3"
			if n >= 2 {
				tok = "03"
			}
		case 'm':
			tok = "4"
			if n >= 2 {
				tok = "04"
			}
		case 's':
			tok = "5"
			if n >= 2 {
				tok = "05"
			}
		case 'S':
			tok = strings.Repeat("0", min(n, 9))
		case 'a':
			tok = "PM"
		case 'E':
			tok = "Mon"
			if n >= 4 {
				tok = "Monday"
			}
		case 'Z':
			tok = "-0700"
			if n == 2 {
				tok = "-07:00"
			}
		case 'X':
			tok = [...]string{"Z07", "Z0700", "Z07:00"}[min(n, 3)-1]
		case 'x':
			tok = [...]string{"-07", "-0700", "-07:00"}[min(n, 3)-1]
		case 'z':
			tok = "MST"
		default:
			return "", fmt.Errorf("%q: pattern letter %q is not supported", pattern, string(c))
		}
		b.WriteString(tok)
	}
	return b.String(), nil
}

func (p *dateProc) Process(_ context.Context, e *event.Event) error {
	v, ok := e.GetPath(p.field)
	if !ok {
		if p.ignoreMissing {
			return nil
		}
		return missing(p.field.String())
	}
	for _, f := range p.formats {
		t, ok := p.parse(f, v, e.Received)
		if ok {
			t = t.UTC()
			if y := t.Year(); y < 0 || y > 9999 {
				return fmt.Errorf("field %s: %s is in the year %d (UTC), outside 0000 to 9999", p.field, describe(v), y)
			}
			if err := e.SetPath(p.target, t.Format(p.output)); err != nil {
				return fmt.Errorf("field %s: %w", p.target, err)
			}
			return nil
		}
	}
	return fmt.Errorf("field %s: %s matches none of the formats %s", p.field, describe(v), p.names)
}

func (p *dateProc) parse(f dateFormat, v any, received time.Time) (time.Time, bool) {
	switch f.kind {
	case "UNIX", "UNIX_MS":
		return parseEpoch(v, f.kind == "UNIX_MS")
	}
	s, ok := v.(string)
	if !ok {
		return time.Time{}, false
	}
	s = strings.TrimSpace(s)
	if f.kind == "ISO8601" {
		for _, l := range iso8601Layouts() {
			if t, err := time.ParseInLocation(l, s, p.loc); err == nil {
				return t, true
			}
		}
		return time.Time{}, false
	}
	t, err := time.ParseInLocation(f.layout, s, p.loc)
	if err != nil {
		return time.Time{}, false
	}
	if f.noYear {
		t = withYear(t, received, p.loc)
	}
	return t, true
}

// parseEpoch reads seconds (or milliseconds) since the Unix epoch from a number or a
// numeric string, keeping the fraction exactly.
func parseEpoch(v any, millis bool) (time.Time, bool) {
	var s string
	switch x := v.(type) {
	case string:
		s = strings.TrimSpace(x)
	case json.Number:
		s = string(x)
	case int64:
		s = strconv.FormatInt(x, 10)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return time.Time{}, false
		}
		s = strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return time.Time{}, false
	}
	whole, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || len(frac) > 9 {
		return time.Time{}, false
	}
	var nanos int64
	if frac != "" {
		f, err := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
		if err != nil || frac[0] == '-' || frac[0] == '+' {
			return time.Time{}, false
		}
		nanos = f
		if strings.HasPrefix(whole, "-") {
			nanos = -nanos
		}
	}
	const maxSeconds = 253402300799 // 9999-12-31T23:59:59Z
	if millis {
		if n > maxSeconds*1000 || n < -maxSeconds*1000 {
			return time.Time{}, false
		}
		return time.UnixMilli(n).Add(time.Duration(nanos / 1000)), true
	}
	if n > maxSeconds || n < -maxSeconds {
		return time.Time{}, false
	}
	return time.Unix(n, nanos), true
}
