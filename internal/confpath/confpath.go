// Package confpath puts a configuration section's path in front of the problems its
// Validate reports. Each component's configuration reports paths relative to itself
// ("max_bytes: must be positive"); whoever embeds it adds where it sits
// ("stream.kinesis.max_bytes: ..."), so a component never needs to know its place in
// the file.
package confpath

import (
	"errors"
	"fmt"
)

// Prefix returns err with prefix before each of its problems: every error of a joined
// error (errors.Join) gets its own prefix, recursively. A joined error of one problem
// comes back as that problem, so that a section with one problem counts as one, as a
// problem of the configuration's own does. It returns nil for nil.
func Prefix(prefix string, err error) error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Prefix(prefix, e))
		}
		if len(out) == 1 {
			return out[0]
		}
		return errors.Join(out...)
	}
	return fmt.Errorf("%s%w", prefix, err)
}
