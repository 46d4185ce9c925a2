package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/transform/event"
)

type cefOptions struct {
	Field         string `yaml:"field"`
	TargetField   string `yaml:"target_field"`
	ECS           *bool  `yaml:"ecs"`
	IgnoreMissing bool   `yaml:"ignore_missing"`
}

// cefProc parses ArcSight Common Event Format, found anywhere in the field (after a
// syslog header, say): CEF:Version|Device Vendor|Device Product|Device Version|
// Signature ID|Name|Severity|Extension. The header goes to target_field (cef):
// version, device.vendor, device.product, device.version, device.event_class_id,
// name, severity; each extension key=value to extensions.<key>, unescaped. With ecs
// (the default) the well-known keys are also mapped to ECS fields: src to source.ip,
// dpt to destination.port, act to event.action, and so on (cefECS).
type cefProc struct {
	field         event.Path
	target        string
	ecs           bool
	ignoreMissing bool
}

func newCEF(node *yaml.Node, _ *Deps) (event.Processor, error) {
	var o cefOptions
	given, errs := decodeOptions(node, &o)
	if o.Field == "" {
		o.Field = "message"
	}
	if err := requireField("field", o.Field, given["field"]); err != nil {
		errs = append(errs, err)
	}
	if o.TargetField == "" {
		o.TargetField = "cef"
	}
	if err := requireField("target_field", o.TargetField, given["target_field"]); err != nil {
		errs = append(errs, err)
	}
	return &cefProc{field: event.ParsePath(o.Field), target: o.TargetField, ecs: o.ECS == nil || *o.ECS, ignoreMissing: o.IgnoreMissing}, errors.Join(errs...)
}

// cefHeader names the header fields, in order, below the target.
func cefHeader() []string {
	return []string{"version", "device.vendor", "device.product", "device.version", "device.event_class_id", "name", "severity"}
}

// cefECS maps extension keys to ECS fields; kind "int" converts (or skips a value that
// is not a number), "lower" lowercases, "ms" reads epoch milliseconds into a timestamp.
func cefECS() map[string]struct{ field, kind string } {
	return map[string]struct{ field, kind string }{
		"src": {"source.ip", ""}, "dst": {"destination.ip", ""},
		"spt": {"source.port", "int"}, "dpt": {"destination.port", "int"},
		"smac": {"source.mac", ""}, "dmac": {"destination.mac", ""},
		"shost": {"source.domain", ""}, "dhost": {"destination.domain", ""},
		"suser": {"source.user.name", ""}, "duser": {"destination.user.name", ""},
		"sntdom": {"source.user.domain", ""}, "dntdom": {"destination.user.domain", ""},
		"proto": {"network.transport", "lower"}, "app": {"network.protocol", "lower"},
		"in": {"source.bytes", "int"}, "out": {"destination.bytes", "int"},
		"act": {"event.action", "lower"}, "outcome": {"event.outcome", "lower"},
		"reason": {"event.reason", ""}, "msg": {"message", ""},
		"request": {"url.original", ""}, "requestMethod": {"http.request.method", ""},
		"requestClientApplication": {"user_agent.original", ""},
		"dvc":                      {"observer.ip", ""}, "dvchost": {"observer.hostname", ""},
		"fname": {"file.name", ""}, "filePath": {"file.path", ""}, "fsize": {"file.size", "int"},
		"fileHash": {"file.hash.sha256", ""}, "rt": {"@timestamp", "ms"},
	}
}

func (p *cefProc) Process(_ context.Context, e *event.Event) error {
	s, ok, err := stringField(e, p.field, p.ignoreMissing)
	if !ok {
		return err
	}
	header, ext, err := parseCEF(s)
	if err != nil {
		return fmt.Errorf("field %s: %w", p.field, err)
	}
	out := map[string]any{}
	obj := event.Event{Fields: out}
	for i, name := range cefHeader() {
		_ = obj.Set(name, header[i]) // a fresh object: never fails
	}
	if len(ext) > 0 {
		exts := make(map[string]any, len(ext))
		for _, kv := range ext {
			exts[kv.key] = kv.value
		}
		out["extensions"] = exts
	}
	if err := e.Set(p.target, out); err != nil {
		return fmt.Errorf("field %s: %w", p.target, err)
	}
	if !p.ecs {
		return nil
	}
	set := func(path string, v any) {
		if err == nil {
			err = e.Set(path, v)
		}
	}
	set("observer.vendor", header[1])
	set("observer.product", header[2])
	set("observer.version", header[3])
	set("event.code", header[4])
	if sev, convErr := strconv.ParseInt(header[6], 10, 64); convErr == nil {
		set("event.severity", sev)
	}
	mapping := cefECS()
	for _, kv := range ext {
		m, ok := mapping[kv.key]
		if !ok || kv.value == "" {
			continue
		}
		switch m.kind {
		case "int":
			if n, convErr := strconv.ParseInt(kv.value, 10, 64); convErr == nil {
				set(m.field, n)
			}
		case "lower":
			set(m.field, strings.ToLower(kv.value))
		case "ms":
			if ms, convErr := strconv.ParseInt(kv.value, 10, 64); convErr == nil && ms > 0 && ms < 253402300799999 {
				set(m.field, time.UnixMilli(ms).UTC().Format(time.RFC3339Nano))
			}
		default:
			set(m.field, kv.value)
		}
	}
	if err != nil {
		return fmt.Errorf("field %s: %w", p.field, err)
	}
	return nil
}

type cefPair struct{ key, value string }

// parseCEF splits a CEF record into its seven header fields (unescaped) and its
// extension pairs, in order.
func parseCEF(s string) ([7]string, []cefPair, error) {
	var header [7]string
	i := strings.Index(s, "CEF:")
	if i < 0 {
		return header, nil, errors.New("no CEF: record")
	}
	s = s[i+4:]
	for n := range 7 {
		end := -1
		for j := 0; j < len(s); j++ {
			if s[j] == '\\' {
				j++
				continue
			}
			if s[j] == '|' {
				end = j
				break
			}
		}
		if end < 0 {
			if n == 6 {
				// No extension at all: the severity runs to the end.
				header[n] = unescapeCEF(strings.TrimSpace(s), true)
				s = ""
				break
			}
			return header, nil, fmt.Errorf("CEF header has %d of 7 fields", n+1)
		}
		header[n] = unescapeCEF(s[:end], true)
		s = s[end+1:]
	}
	if v := strings.TrimSpace(header[0]); v != "0" && v != "1" {
		return header, nil, fmt.Errorf("CEF version %q is not 0 or 1", truncate(v, 16))
	}
	return header, parseCEFExtension(s), nil
}

// parseCEFExtension reads key=value pairs separated by spaces; a value runs to the
// space before the next key (keys are letters, digits, '_', '.', '[', ']', '-'), and
// an escaped \= never starts one.
func parseCEFExtension(s string) []cefPair {
	var pairs []cefPair
	keyStart, valueStart := -1, -1
	var key string
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
			continue
		case '=':
		default:
			continue
		}
		// A key is the word right before '=', at the start or after a space.
		j := i
		for j > 0 && isCEFKeyByte(s[j-1]) {
			j--
		}
		if j == i || (j > 0 && s[j-1] != ' ') {
			continue
		}
		if keyStart >= 0 {
			pairs = append(pairs, cefPair{key: key, value: unescapeCEF(strings.TrimRight(s[valueStart:j], " "), false)})
		}
		keyStart, key, valueStart = j, s[j:i], i+1
	}
	if keyStart >= 0 {
		pairs = append(pairs, cefPair{key: key, value: unescapeCEF(strings.TrimRight(s[valueStart:], " \r\n"), false)})
	}
	return pairs
}

func isCEFKeyByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '.' || b == '[' || b == ']' || b == '-'
}

// unescapeCEF undoes CEF's escapes: \\ and \| in the header; \\, \=, \n and \r in
// extension values.
func unescapeCEF(s string, header bool) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch c := s[i]; {
		case c == '\\', c == '|', c == '=' && !header:
			b.WriteByte(c)
		case c == 'n' && !header:
			b.WriteByte('\n')
		case c == 'r' && !header:
			b.WriteByte('\r')
		default:
			b.WriteByte('\\')
			b.WriteByte(c)
		}
	}
	return b.String()
}
