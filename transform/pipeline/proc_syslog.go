package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	syslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/common"
	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"
	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/transform/event"
)

type syslogOptions struct {
	Field          string `yaml:"field"`
	Format         string `yaml:"format"`
	Timezone       string `yaml:"timezone"`
	TimestampField string `yaml:"timestamp_field"`
	MessageField   string `yaml:"message_field"`
	IgnoreMissing  bool   `yaml:"ignore_missing"`
}

// syslogProc parses a syslog line, RFC 3164 (BSD) or RFC 5424, with
// github.com/leodido/go-syslog, into ECS fields: log.syslog.priority,
// log.syslog.facility.code and .name, log.syslog.severity.code and .name,
// log.syslog.hostname, .appname, .procid, .msgid, .version and .structured_data; the
// timestamp goes to timestamp_field (@timestamp; "-" for nowhere) in UTC, and the
// MSG part to message_field (message).
//
// format is auto (the default: RFC 5424 when a version follows the priority), rfc3164
// or rfc5424. RFC 3164 lines may lack the <PRI>; their timestamps have no year and no
// zone: the zone is timezone (UTC by default) and the year is the one in which the
// event was received (the year before if that would put it more than two days after).
type syslogProc struct {
	field, message event.Path
	timestamp      *event.Path
	format         string
	loc            *time.Location
	ignoreMissing  bool
}

func newSyslog(node *yaml.Node, _ *Deps) (event.Processor, error) {
	var o syslogOptions
	given, errs := decodeOptions(node, &o)
	if o.Field == "" {
		o.Field = "message"
	}
	if err := requireField("field", o.Field, given["field"]); err != nil {
		errs = append(errs, err)
	}
	p := &syslogProc{field: event.ParsePath(o.Field), format: o.Format, loc: time.UTC, ignoreMissing: o.IgnoreMissing}
	switch o.Format {
	case "":
		p.format = "auto"
	case "auto", "rfc3164", "rfc5424":
	default:
		errs = append(errs, optErr("format", given["format"], "want auto, rfc3164 or rfc5424, not %q", o.Format))
	}
	if o.Timezone != "" {
		loc, err := loadLocation(o.Timezone)
		if err != nil {
			errs = append(errs, optErr("timezone", given["timezone"], "%v", err))
		} else {
			p.loc = loc
		}
	}
	switch o.TimestampField {
	case "":
		ts := event.ParsePath("@timestamp")
		p.timestamp = &ts
	case "-":
	default:
		if err := requireField("timestamp_field", o.TimestampField, given["timestamp_field"]); err != nil {
			errs = append(errs, err)
		}
		ts := event.ParsePath(o.TimestampField)
		p.timestamp = &ts
	}
	if o.MessageField == "" {
		o.MessageField = "message"
	}
	if err := requireField("message_field", o.MessageField, given["message_field"]); err != nil {
		errs = append(errs, err)
	}
	p.message = event.ParsePath(o.MessageField)
	return p, errors.Join(errs...)
}

// is5424 reports whether a line looks like RFC 5424: <PRI> then a version digit and a
// space.
func is5424(s string) bool {
	if !strings.HasPrefix(s, "<") {
		return false
	}
	i := strings.IndexByte(s, '>')
	if i < 0 || i > 4 {
		return false
	}
	rest := s[i+1:]
	j := 0
	for j < len(rest) && j < 3 && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	return j > 0 && j < len(rest) && rest[j] == ' '
}

func (p *syslogProc) Process(_ context.Context, e *event.Event) error {
	s, ok, err := stringField(e, p.field, p.ignoreMissing)
	if !ok {
		return err
	}
	format := p.format
	if format == "auto" {
		format = "rfc3164"
		if is5424(s) {
			format = "rfc5424"
		}
	}
	var msg syslog.Message
	var base *syslog.Base
	var sd *map[string]map[string]string
	var version uint16
	if format == "rfc5424" {
		msg, err = rfc5424.NewMachine().Parse([]byte(s))
		if m, ok := msg.(*rfc5424.SyslogMessage); ok && err == nil {
			base, sd, version = &m.Base, m.StructuredData, m.Version
		}
	} else {
		msg, err = rfc3164.NewMachine(rfc3164.WithLocaleTimezone(p.loc), rfc3164.WithOptionalPriority(), rfc3164.WithLenientDay()).Parse([]byte(s))
		if m, ok := msg.(*rfc3164.SyslogMessage); ok && err == nil {
			base = &m.Base
		}
	}
	if err != nil || base == nil {
		if err == nil {
			err = errors.New("not a syslog message")
		}
		return fmt.Errorf("field %s: parse %s: %w", p.field, strings.ToUpper(format[:3])+" "+format[3:], err)
	}
	set := func(path string, v any) {
		if err == nil {
			err = e.Set(path, v)
		}
	}
	if base.Priority != nil {
		set("log.syslog.priority", int64(*base.Priority))
		set("log.syslog.facility.code", int64(*base.Facility))
		if name, ok := common.FacilityKeywords[*base.Facility]; ok {
			set("log.syslog.facility.name", name)
		}
		set("log.syslog.severity.code", int64(*base.Severity))
		set("log.syslog.severity.name", common.SeverityLevels[*base.Severity])
	}
	for _, f := range []struct {
		path string
		v    *string
	}{{"log.syslog.hostname", base.Hostname}, {"log.syslog.appname", base.Appname}, {"log.syslog.procid", base.ProcID}, {"log.syslog.msgid", base.MsgID}} {
		if f.v != nil && *f.v != "" {
			set(f.path, *f.v)
		}
	}
	if version > 0 {
		set("log.syslog.version", fmt.Sprint(version))
	}
	if sd != nil && len(*sd) > 0 {
		out := make(map[string]any, len(*sd))
		for id, params := range *sd {
			m := make(map[string]any, len(params))
			for k, v := range params {
				m[k] = v
			}
			out[id] = m
		}
		set("log.syslog.structured_data", out)
	}
	if base.Timestamp != nil && p.timestamp != nil {
		t := *base.Timestamp
		if format == "rfc3164" {
			t = withYear(t, e.Received, p.loc)
		}
		if err == nil {
			err = e.SetPath(*p.timestamp, t.UTC().Format(time.RFC3339Nano))
		}
	}
	text := ""
	if base.Message != nil {
		text = *base.Message
	}
	if err == nil {
		err = e.SetPath(p.message, text)
	}
	if err != nil {
		return fmt.Errorf("field %s: %w", p.field, err)
	}
	return nil
}

// withYear gives a year-less timestamp (year 0) the year in which the event was
// received, or the year before if that would put it more than two days after.
func withYear(t, received time.Time, loc *time.Location) time.Time {
	if t.Year() > 0 {
		return t
	}
	if received.IsZero() {
		received = time.Now()
	}
	t = t.AddDate(received.In(loc).Year()-t.Year(), 0, 0)
	if t.Sub(received) > 48*time.Hour {
		t = t.AddDate(-1, 0, 0)
	}
	return t
}
