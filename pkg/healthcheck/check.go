// Package healthcheck runs health checks with output compatible with `linkerd check`.
package healthcheck

import (
	"context"
	"errors"
	"time"
)

// Category is a named group of checks. Its checks run one after another, in
// order; distinct categories run concurrently.
type Category struct {
	Name   string
	Checks []Check
}

// Check is one health check.
type Check struct {
	// ID names the check so others can list it in Needs; optional, unique
	// within a run.
	ID string
	// Description is the line printed after the status symbol.
	Description string
	// HintAnchor is appended to Options.HintBaseURL to form the hint URL
	// printed under a failure; no hint is printed when it is empty.
	HintAnchor string
	// Fatal marks checks whose failure (error or warning) makes every check
	// that needs them, directly or transitively, pointless: those are skipped.
	Fatal bool
	// Warning reports a failure of this check as a warning, not an error.
	Warning bool
	// Retryable checks are attempted again, with backoff, until they pass or
	// Options.Wait has elapsed since the start of the run.
	Retryable bool
	// Timeout bounds each attempt; 0 means Options.Timeout.
	Timeout time.Duration
	// Needs lists the IDs of checks, in any category, that must finish
	// before this one starts.
	Needs []string
	// Run performs the check. nil means success; Warn, Skip and Detail adjust
	// how a returned value is reported; any other error is a failure.
	Run func(ctx context.Context) error
}

// ErrInterrupted is the error of every check that could not finish because
// the run's context was cancelled.
var ErrInterrupted = errors.New("check interrupted")

type warnError struct{ err error }

func (e *warnError) Error() string { return e.err.Error() }
func (e *warnError) Unwrap() error { return e.err }

// Warn marks a failure as a warning, whatever the check's Warning field says.
// Warn(nil) is nil.
func Warn(err error) error {
	if err == nil {
		return nil
	}
	return &warnError{err: err}
}

type skipError struct{ reason string }

func (e *skipError) Error() string { return "check skipped: " + e.reason }

// Skip reports that the check does not apply (for example because an
// optional component is not installed). A skipped check is not printed and
// every check that needs it is skipped too.
func Skip(reason string) error {
	return &skipError{reason: reason}
}

// detailResult carries a success through Run's error return, the way
// linkerd's VerboseSuccess does.
type detailResult struct{ detail string }

func (e *detailResult) Error() string { return e.detail }

// Detail reports success together with extra text, printed on the lines
// after the description exactly as given. As in `linkerd check`, the text
// is not indented for you: start each line with "\t* " to get linkerd's
// list look.
func Detail(text string) error {
	return &detailResult{detail: text}
}
