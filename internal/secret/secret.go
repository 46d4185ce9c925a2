// Package secret is a credential type that never prints, for configuration fields
// such as passwords, API keys and AWS secret keys: fmt (%v, %s, %#v), slog, YAML and
// JSON output show "[redacted]" instead of its value, so a printed or logged
// configuration holds no secret.
package secret

import (
	"encoding/json"
	"log/slog"
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
