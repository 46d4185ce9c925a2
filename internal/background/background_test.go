package background

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStopWithoutStart(t *testing.T) {
	var w Work
	for range 2 {
		if err := w.Stop(context.Background()); err != nil {
			t.Fatalf("Stop without Start: %v", err)
		}
	}
	w.Wait()
	if err := w.Start(context.Background(), func(context.Context) error { return nil }, nil); err == nil {
		t.Error("Start after Stop succeeded")
	}
}

func TestStopEndsWork(t *testing.T) {
	var w Work
	// The work outlives the context of Start: it stops when Stop says so.
	startCtx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	ended := make(chan struct{})
	var value any
	err := w.Start(startCtx, func(ctx context.Context) error {
		value = ctx.Value(ctxKey{})
		<-ctx.Done()
		close(ended)
		return nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(startCtx, func(context.Context) error { return nil }, nil); err == nil {
		t.Error("second Start succeeded")
	}
	cancel()
	select {
	case <-ended:
		t.Fatal("the work ended with the context of Start")
	case <-time.After(20 * time.Millisecond):
	}
	for range 2 {
		if err := w.Stop(context.Background()); err != nil {
			t.Fatalf("Stop: %v", err)
		}
	}
	select {
	case <-ended:
	default:
		t.Fatal("Stop returned before the work ended")
	}
	if value != "v" {
		t.Errorf("the work's context lost the values of Start's: %v", value)
	}
}

type ctxKey struct{}

func TestStopDeadline(t *testing.T) {
	var w Work
	release := make(chan struct{})
	if err := w.Start(context.Background(), func(context.Context) error { <-release; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := w.Stop(ctx); !errors.Is(err, ErrRunning) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop past its deadline: %v, want ErrRunning", err)
	}
	close(release)
	w.Wait()
	if err := w.Stop(context.Background()); err != nil {
		t.Fatalf("Stop once the work ended: %v", err)
	}
}

func TestErrors(t *testing.T) {
	boom := errors.New("listener failed")
	run := func(context.Context) error { return boom }

	// Without fatal, Stop returns the work's error, every time.
	var kept Work
	if err := kept.Start(context.Background(), run, nil); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := kept.Stop(context.Background()); !errors.Is(err, boom) {
			t.Errorf("Stop: %v, want %v", err, boom)
		}
	}

	// With fatal, fatal has it as soon as the work ends, and Stop does not.
	var reported Work
	got := make(chan error, 1)
	if err := reported.Start(context.Background(), run, func(err error) { got <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-got; !errors.Is(err, boom) {
		t.Errorf("fatal got %v", err)
	}
	if err := reported.Stop(context.Background()); err != nil {
		t.Errorf("Stop after fatal: %v", err)
	}
}
