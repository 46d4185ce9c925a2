// Package secret is a credential type that never prints, for configuration fields
// such as passwords, API keys and AWS secret keys: fmt (%v, %s, %#v), slog, YAML and
// JSON output show "[redacted]" instead of its value, so a printed or logged
// configuration holds no secret.
package secret

import (
	"encoding/json"
	"log/slog"
	"strings"
)

// Secret is a credential that never prints. Convert it with string(s) where the value
// is really needed (to authenticate).
type Secret string

// String returns "[redacted]" for a set secret and "" for an empty one.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString is String, so that %#v hides the secret too.
func (s Secret) GoString() string { return s.String() }

// LogValue is String, for slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalYAML writes String, so that a printed configuration holds no secret.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalJSON writes String as a JSON string (slog's JSON handler encodes structs with
// encoding/json).
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// RedactURL returns s, a URL or something meant to be one, with the password of its
// user information replaced by "[redacted]" (the whole user information when it has no
// password: a token may stand there). It works on the text, so it redacts URLs that
// url.Parse refuses too, whose parse errors would otherwise quote them whole.
func RedactURL(s string) string {
	start := 0
	if i := strings.Index(s, "://"); i >= 0 {
		start = i + 3
	}
	end := len(s)
	if i := strings.IndexAny(s[start:], "/?#"); i >= 0 {
		end = start + i
	}
	at := strings.LastIndexByte(s[start:end], '@')
	if at < 0 {
		return s
	}
	at += start
	user := s[start:at]
	if i := strings.IndexByte(user, ':'); i >= 0 {
		return s[:start] + user[:i+1] + "[redacted]" + s[at:]
	}
	return s[:start] + "[redacted]" + s[at:]
}
