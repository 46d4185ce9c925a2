package gateway

import (
	"errors"
	"fmt"
)

// Kind classifies what went wrong, once, so that every transport maps it to its own
// status through one table (HTTP status, gRPC code, lumberjack action).
type Kind uint8

// The error kinds, from the caller's point of view.
const (
	// KindInternal is a bug or an unexpected failure; not the caller's fault.
	KindInternal Kind = iota
	// KindInvalid is malformed input: resending the same bytes will fail again.
	KindInvalid
	// KindTooLarge is input over a configured size or count limit.
	KindTooLarge
	// KindUnsupportedMedia is a content type or encoding the receiver does not speak.
	KindUnsupportedMedia
	// KindUnauthenticated is a missing or unknown API key.
	KindUnauthenticated
	// KindForbidden is a known API key that may not send this log type.
	KindForbidden
	// KindOverloaded is backpressure: the stream or the gateway is full; retry later.
	KindOverloaded
	// KindUnavailable is a gateway that is draining or a stream it cannot reach; retry,
	// possibly elsewhere.
	KindUnavailable
)

var kindNames = [...]string{
	KindInternal:         "internal",
	KindInvalid:          "invalid",
	KindTooLarge:         "too_large",
	KindUnsupportedMedia: "unsupported_media",
	KindUnauthenticated:  "unauthenticated",
	KindForbidden:        "forbidden",
	KindOverloaded:       "overloaded",
	KindUnavailable:      "unavailable",
}

// String returns the kind's name as used in metrics labels and logs.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Retryable reports whether the same request may succeed later.
func (k Kind) Retryable() bool {
	return k == KindOverloaded || k == KindUnavailable || k == KindInternal
}

// Error is an error with a Kind. Its message is meant for the caller to read; Err, when
// set, is the cause, kept for errors.Is and errors.As.
type Error struct {
	Kind Kind
	Msg  string
	Err  error
}

// Error returns Msg, which already includes the wrapped error's text when there is one.
func (e *Error) Error() string {
	if e.Msg == "" && e.Err != nil {
		return e.Err.Error()
	}
	return e.Msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the kind with a formatted message; a %w verb wraps.
func Errorf(kind Kind, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &Error{Kind: kind, Msg: err.Error(), Err: errors.Unwrap(err)}
}

// KindOf returns the kind of the first *Error in err's chain, or KindInternal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}
