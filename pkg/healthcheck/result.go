package healthcheck

import (
	"errors"
	"time"
)

// Status is the outcome of one check.
type Status string

// The values of Status. The first three are also the "result" strings of
// the JSON output.
const (
	StatusSuccess Status = "success"
	StatusWarning Status = "warning"
	StatusError   Status = "error"
	StatusSkipped Status = "skipped"
)

// Result is the outcome of one check, final after retries.
type Result struct {
	ID          string
	Description string
	Status      Status
	// Err is the last failure; nil unless Status is StatusWarning or StatusError.
	Err error
	// Detail is the informational text of a success (see Detail).
	Detail string
	// HintURL is Options.HintBaseURL + HintAnchor, or "" without an anchor.
	HintURL string
	// SkipReason says why a StatusSkipped check did not run or did not apply.
	SkipReason string
	// Attempts counts calls of Run; 0 when the check never started.
	Attempts int
	// Duration is the time from the first attempt to the result, waits for
	// needed checks excluded.
	Duration time.Duration
}

// CategoryResult holds the results of one category, in input order.
type CategoryResult struct {
	Name   string
	Checks []Result
}

// Results holds every result of a run, in input order.
type Results struct {
	Categories []CategoryResult
}

// Success is false if and only if some check ended with StatusError.
func (r Results) Success() bool {
	return !r.any(func(res Result) bool { return res.Status == StatusError })
}

// HasWarnings reports whether some check ended with StatusWarning.
func (r Results) HasWarnings() bool {
	return r.any(func(res Result) bool { return res.Status == StatusWarning })
}

// Interrupted reports whether cancellation kept some check from finishing.
func (r Results) Interrupted() bool {
	return r.any(func(res Result) bool { return errors.Is(res.Err, ErrInterrupted) })
}

func (r Results) any(pred func(Result) bool) bool {
	for _, c := range r.Categories {
		for _, res := range c.Checks {
			if pred(res) {
				return true
			}
		}
	}
	return false
}
