package budget_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluice-siem/sluice/stream"
	"github.com/sluice-siem/sluice/stream/embedded/internal/budget"
)

// patience bounds every wait that should succeed; failures are reported, not hung.
const patience = 5 * time.Second

// errClosed stands for the "closed" error of a stream.
var errClosed = errors.New("test stream closed")

// reserve runs b.Reserve(ctx, n) in the background, waits until it blocks and
// returns the channel its result arrives on.
func reserve(t *testing.T, ctx context.Context, b *budget.Budget, n int64) <-chan error {
	t.Helper()
	before := b.Waiting()
	out := make(chan error, 1)
	go func() { out <- b.Reserve(ctx, n) }()
	waitFor(t, "Reserve to block", func() bool { return b.Waiting() == before+1 })
	return out
}

// result returns what a background call returned, failing after patience.
func result(t *testing.T, ch <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(patience):
		t.Fatalf("%s did not return", what)
		return nil
	}
}

// blocked checks that a background call has not returned.
func blocked(t *testing.T, ch <-chan error, what string) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("%s returned %v, want it still blocked", what, err)
	case <-time.After(10 * time.Millisecond):
	}
}

// waitEmpty runs b.WaitEmpty(ctx) in the background and returns the channel its
// result arrives on.
func waitEmpty(ctx context.Context, b *budget.Budget) <-chan error {
	out := make(chan error, 1)
	go func() { out <- b.WaitEmpty(ctx) }()
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestReserveAndRelease(t *testing.T) {
	ctx := context.Background()
	b := budget.New(100, 0)
	if err := b.Reserve(ctx, 60); err != nil {
		t.Fatal(err)
	}
	if err := b.Reserve(ctx, 40); err != nil {
		t.Fatal(err)
	}
	if got := b.Used(); got != 100 {
		t.Fatalf("Used() = %d, want 100", got)
	}

	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	err := b.Reserve(short, 1)
	if !errors.Is(err, stream.ErrFull) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Reserve on a full budget = %v, want ErrFull and DeadlineExceeded", err)
	}
	if got, want := err.Error(), "100 of 100 bytes in use: "; !strings.HasPrefix(got, want) {
		t.Errorf("Reserve error %q does not start with %q", got, want)
	}
	if got := b.Used(); got != 100 || b.Waiting() != 0 {
		t.Fatalf("after a Reserve gave up: Used() = %d, Waiting() = %d; want 100, 0", got, b.Waiting())
	}

	waiting := reserve(t, ctx, b, 50)
	b.Release(40)
	blocked(t, waiting, "Reserve of 50 with 40 free")
	b.Release(10)
	if err := result(t, waiting, "Reserve"); err != nil {
		t.Fatal(err)
	}
	if got := b.Used(); got != 100 {
		t.Errorf("Used() = %d, want 100", got)
	}
	b.Release(0) // a no-op
}

// TestFirstComeFirstServed: waiters are served in arrival order; a large one at the
// head is not overtaken by a smaller one that would fit, nor by a new call.
func TestFirstComeFirstServed(t *testing.T) {
	ctx := context.Background()
	b := budget.New(100, 90)
	large := reserve(t, ctx, b, 50)
	small := reserve(t, ctx, b, 5)
	blocked(t, small, "a small Reserve behind a large one")

	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := b.Reserve(short, 1); !errors.Is(err, stream.ErrFull) {
		t.Fatalf("a new Reserve while others wait = %v, want ErrFull", err)
	}

	b.Release(45) // 45 used: the large one fits, then the small one
	if err := result(t, large, "Reserve"); err != nil {
		t.Fatal(err)
	}
	if err := result(t, small, "Reserve"); err != nil {
		t.Fatal(err)
	}
	if got := b.Used(); got != 100 {
		t.Errorf("Used() = %d, want 100", got)
	}
}

// TestHeadLeaves: when the waiter at the head gives up, those behind it that fit are
// served at once, without waiting for a Release.
func TestHeadLeaves(t *testing.T) {
	ctx := context.Background()
	b := budget.New(100, 90)
	headCtx, leave := context.WithCancel(ctx)
	defer leave()
	head := reserve(t, headCtx, b, 50)
	small := reserve(t, ctx, b, 5)
	leave()
	if err := result(t, head, "Reserve"); !errors.Is(err, stream.ErrFull) || !errors.Is(err, context.Canceled) {
		t.Fatalf("head Reserve after cancel = %v, want ErrFull and Canceled", err)
	}
	if err := result(t, small, "Reserve"); err != nil {
		t.Fatalf("Reserve behind the head that left = %v, want nil", err)
	}
	if got := b.Used(); got != 95 || b.Waiting() != 0 {
		t.Errorf("Used() = %d, Waiting() = %d; want 95, 0", got, b.Waiting())
	}
}

// TestGrantedWhileCancelled races a Release that grants a waiter its room against
// the end of the waiter's context: whichever wins, the room is counted exactly once,
// kept by a Reserve that returns nil and not taken by one that fails.
func TestGrantedWhileCancelled(t *testing.T) {
	ctx := context.Background()
	var kept, gaveUp int
	for range 200 {
		b := budget.New(10, 10)
		wctx, cancel := context.WithCancel(ctx)
		waiting := reserve(t, wctx, b, 5)
		go cancel()
		b.Release(5)
		err := result(t, waiting, "Reserve")
		cancel()
		switch {
		case err == nil:
			kept++
			if got := b.Used(); got != 10 {
				t.Fatalf("Reserve kept its room but Used() = %d, want 10", got)
			}
		case errors.Is(err, stream.ErrFull):
			gaveUp++
			if got := b.Used(); got != 5 {
				t.Fatalf("Reserve gave up but Used() = %d, want 5", got)
			}
		default:
			t.Fatalf("Reserve = %v", err)
		}
		if b.Waiting() != 0 {
			t.Fatalf("Waiting() = %d after the Reserve returned", b.Waiting())
		}
	}
	t.Logf("kept %d, gave up %d", kept, gaveUp)
}

// TestOverCapacityAtStart: a budget that starts above its capacity blocks every
// Reserve until Release brings it low enough.
func TestOverCapacityAtStart(t *testing.T) {
	ctx := context.Background()
	b := budget.New(100, 150)
	waiting := reserve(t, ctx, b, 10)
	b.Release(55)
	blocked(t, waiting, "Reserve of 10 at 95 of 100")
	b.Release(5)
	if err := result(t, waiting, "Reserve"); err != nil {
		t.Fatal(err)
	}
	if err := b.Reserve(ctx, 0); err != nil {
		t.Fatal(err)
	}
	b.Release(100)
	if err := b.WaitEmpty(ctx); err != nil {
		t.Errorf("WaitEmpty of an emptied budget = %v", err)
	}
}

func TestWaitEmpty(t *testing.T) {
	ctx := context.Background()
	b := budget.New(100, 0)
	if err := b.WaitEmpty(ctx); err != nil {
		t.Fatalf("WaitEmpty of an empty budget = %v", err)
	}
	if err := b.Reserve(ctx, 30); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := b.WaitEmpty(short); err != context.DeadlineExceeded {
		t.Fatalf("WaitEmpty with 30 bytes used = %v, want ctx.Err() itself", err)
	}
	done := waitEmpty(ctx, b)
	b.Release(10)
	blocked(t, done, "WaitEmpty with 20 bytes used")
	b.Release(20)
	if err := result(t, done, "WaitEmpty of an emptied budget"); err != nil {
		t.Fatal(err)
	}
}

// TestClose: Close ends the waits of Reserve and WaitEmpty, present and later, with
// its cause; free room is still taken.
func TestClose(t *testing.T) {
	ctx := context.Background()
	b := budget.New(100, 90)
	waiting := reserve(t, ctx, b, 50)
	empty := waitEmpty(ctx, b)
	b.Close(errClosed)
	b.Close(errors.New("ignored"))
	if err := result(t, waiting, "Reserve"); !errors.Is(err, errClosed) || errors.Is(err, stream.ErrFull) {
		t.Errorf("blocked Reserve after Close = %v, want errClosed only", err)
	}
	if err := result(t, empty, "WaitEmpty"); err != errClosed {
		t.Errorf("WaitEmpty after Close = %v, want the cause itself", err)
	}
	if err := b.Reserve(ctx, 50); !errors.Is(err, errClosed) {
		t.Errorf("Reserve that would wait, after Close = %v, want errClosed", err)
	}
	if err := b.Reserve(ctx, 10); err != nil {
		t.Errorf("Reserve of free room after Close = %v, want nil", err)
	}
	if got := b.Used(); got != 100 || b.Waiting() != 0 {
		t.Errorf("Used() = %d, Waiting() = %d; want 100, 0", got, b.Waiting())
	}
}
