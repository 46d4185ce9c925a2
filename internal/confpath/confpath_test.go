package confpath_test

import (
	"errors"
	"testing"

	"github.com/sluice-siem/sluice/internal/confpath"
)

func TestPrefix(t *testing.T) {
	if confpath.Prefix("a.", nil) != nil {
		t.Error("nil is not nil")
	}
	base := errors.New("y: bad")
	err := confpath.Prefix("a.", errors.Join(errors.New("x: must be positive"), errors.Join(base)))
	if got, want := err.Error(), "a.x: must be positive\na.y: bad"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if !errors.Is(err, base) {
		t.Error("the problems are not wrapped")
	}
}
