package ui

import (
	"fmt"
	"strings"
	"time"
)

// RetrySpinner shows on a terminal which check `--wait` is waiting for. The
// health-check engine never calls it concurrently.
type RetrySpinner struct {
	progress Progress
	start    time.Time
	running  bool
}

// NewRetrySpinner reports retries on p, timing the wait from now.
func NewRetrySpinner(p Progress) *RetrySpinner {
	return &RetrySpinner{progress: p, start: time.Now()}
}

// Retry shows the first line of the error a check is retried after.
func (s *RetrySpinner) Retry(_ string, description string, attempt int, err error) {
	if !s.running {
		s.progress.Start("waiting for checks to pass")
		s.running = true
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	s.progress.Update(fmt.Sprintf("%s (attempt %d): %s", description, attempt, msg))
}

// Stop ends the spinner before results are printed, so the two never mix.
func (s *RetrySpinner) Stop() {
	if s.running {
		s.progress.Done(fmt.Sprintf("waited %s", time.Since(s.start).Round(time.Second)))
		s.running = false
	}
}
