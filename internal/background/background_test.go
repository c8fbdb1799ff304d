package background

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

var errGivenUp = errors.New("given up")

func TestReadGivesItsAnswer(t *testing.T) {
	r := Start(context.Background(), slog.New(slog.DiscardHandler), func(context.Context) (string, error) { return "nina", nil })
	if v, err := r.Result(); v != "nina" || err != nil {
		t.Errorf("got %q, %v", v, err)
	}
	r.Stop(errGivenUp) // after the result: only waits, which is at once
	var never *Read[int]
	if v, err := never.Result(); v != 0 || err != nil {
		t.Errorf("a read never started gave %d, %v", v, err)
	}
	never.Stop(errGivenUp)
}

// Stop cancels a read still going, with its cause, and returns only once
// the read has ended.
func TestStopGivesUpAndWaits(t *testing.T) {
	ended := false
	r := Start(context.Background(), slog.New(slog.DiscardHandler), func(ctx context.Context) (int, error) {
		<-ctx.Done()
		ended = true
		return 0, context.Cause(ctx)
	})
	r.Stop(errGivenUp)
	if !ended {
		t.Fatal("Stop returned while the read was still going")
	}
	if _, err := r.Result(); !errors.Is(err, errGivenUp) {
		t.Errorf("the read ended with %v, want its cause", err)
	}
}

// A panic in a read becomes its error, logged with the stack, rather than
// taking the process down.
func TestPanicBecomesTheError(t *testing.T) {
	var log strings.Builder
	r := Start(context.Background(), slog.New(slog.NewTextHandler(&log, nil)), func(context.Context) (int, error) { panic("boom") })
	if _, err := r.Result(); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("a panicking read gave %v", err)
	}
	if !strings.Contains(log.String(), "boom") || !strings.Contains(log.String(), "stack=") {
		t.Errorf("the panic was not logged with its stack: %s", log.String())
	}
}
