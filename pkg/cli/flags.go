package cli

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/meshmon/meshmon/pkg/checks"
	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/install"
	"github.com/meshmon/meshmon/pkg/release"
)

// options is the shape of every command: Complete derives state from the flags and
// arguments, Validate checks it without side effects, Run does the work.
type options interface {
	Complete(cmd *cobra.Command, args []string) error
	Validate() error
	Run(ctx context.Context) error
}

// runE is the RunE of every command: it only calls the options' three methods.
func runE(o options) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := o.Complete(cmd, args); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		return inputErrorsAreUsage(o.Run(cmd.Context()))
	}
}

// inputErrorsAreUsage gives the errors the lower packages blame on the caller's input
// the usage exit code.
func inputErrorsAreUsage(err error) error {
	var ie *install.InputError
	var se *checks.SelectionError
	switch {
	case errors.As(err, &ie):
		return usageError("%w", ie.Err)
	case errors.As(err, &se):
		return usageError("%w", se.Err)
	}
	return err
}

// outputFlag is -o/--output restricted to the formats a command supports.
type outputFlag struct {
	value   string
	allowed []string
}

// addOutputFlag registers -o with its default, the first of formats.
func addOutputFlag(fs *pflag.FlagSet, formats ...string) *outputFlag {
	f := &outputFlag{value: formats[0], allowed: formats}
	fs.StringVarP(&f.value, "output", "o", f.value, "Output format: "+joinOr(formats))
	return f
}

func (f *outputFlag) validate() error { return validateOutput(f.value, f.allowed...) }

// machineReadable reports whether -o asks for a document on stdout.
func (f *outputFlag) machineReadable() bool { return machineReadable(f.value) }

func joinOr(items []string) string {
	if len(items) == 1 {
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// addReleaseNameFlag registers --release-name (default defaults.ReleaseName) into name.
func addReleaseNameFlag(fs *pflag.FlagSet, name *string, usage string) {
	fs.StringVar(name, "release-name", defaults.ReleaseName, usage)
}

// validateReleaseName applies Helm's rule to --release-name.
func validateReleaseName(name string) error {
	if err := release.ValidateName(name); err != nil {
		return usageError("%w", err)
	}
	return nil
}

// addTimeoutFlag registers --timeout (default defaults.Timeout) into d.
func addTimeoutFlag(fs *pflag.FlagSet, d *time.Duration, usage string) {
	fs.DurationVar(d, "timeout", defaults.Timeout, usage)
}

// validateTimeout requires a positive --timeout.
func validateTimeout(d time.Duration) error {
	if d <= 0 {
		return usageError("--timeout must be positive, e.g. 5m")
	}
	return nil
}
