package cli

import (
	"context"
	"errors"
	"fmt"
)

// Exit codes. 1 is a failed operation (including failed checks), 2 a usage
// error, 130 an interruption, as shells report for SIGINT.
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitUsage       = 2
	ExitInterrupted = 130
)

// ExitError carries the process exit code out of a command. Only main
// exits; commands return one of these (or any error, which means 1).
type ExitError struct {
	Code int
	// Err is printed as "Error: <Err>"; nil means the command already
	// reported the failure itself (e.g. a failing check table).
	Err error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// usageError marks a command-line mistake (exit 2).
func usageError(format string, args ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// silentFailure reports failure without another message: the command has
// already printed why.
func silentFailure() error { return &ExitError{Code: ExitFailure} }

// exitCode maps an error returned by a command to the process exit code.
func exitCode(err error) int {
	var ee *ExitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.Code
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	default:
		return ExitFailure
	}
}
