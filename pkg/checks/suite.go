package checks

import (
	"context"
	"io"
	"time"

	"github.com/meshmon/meshmon/pkg/healthcheck"
)

// SuiteOptions say which checks RunSuite runs and how it shows them.
type SuiteOptions struct {
	// Options select the catalog's categories and where they look.
	Options Options
	Deps    Deps
	// Pre, when not nil, is run instead of the catalog (`check --pre` shows install's
	// preflight this way).
	Pre func(context.Context) healthcheck.Category
	// PassIfNotInstalled reports a single passing check when meshmon's Prometheus is not in
	// the cluster: linkerd check runs every extension on the PATH, and someone who never
	// installed meshmon must get a pass, not a failure.
	PassIfNotInstalled bool
	// Format is one of healthcheck.Formats(); Color paints the table.
	Format string
	Color  bool
	// Wait is how long checks that may still pass are retried.
	Wait time.Duration
	// OnRetry is told about each retried attempt; BeforeCategory runs before each category
	// is printed (e.g. to stop a spinner OnRetry started). Both may be nil.
	OnRetry        func(category, description string, attempt int, err error)
	BeforeCategory func()
}

// SelectionError means the suite cannot be built from its options (an unknown format or
// category): the caller's flags are wrong, not the cluster.
type SelectionError struct{ Err error }

func (e *SelectionError) Error() string { return e.Err.Error() }
func (e *SelectionError) Unwrap() error { return e.Err }

// RunSuite builds the selected checks, runs them and writes their results to w as each
// category finishes. The error is about the run itself (bad options, an unwritable
// output); failed checks are in the results.
func RunSuite(ctx context.Context, w io.Writer, o SuiteOptions) (healthcheck.Results, error) {
	printer, err := healthcheck.NewPrinter(w, o.Format, o.Color)
	if err != nil {
		return healthcheck.Results{}, &SelectionError{Err: err}
	}
	env := NewEnv(o.Options, o.Deps)
	defer env.Close()

	var cats []healthcheck.Category
	if o.Pre != nil {
		cats = []healthcheck.Category{o.Pre(ctx)}
	} else if cats, err = Catalog(env); err != nil {
		return healthcheck.Results{}, &SelectionError{Err: err}
	}
	if o.PassIfNotInstalled && o.Pre == nil && len(o.Options.Categories) == 0 {
		// When the question cannot be answered, the checks run and say why.
		if installed, err := env.Installed(ctx); err == nil && !installed {
			cats = []healthcheck.Category{NotInstalled()}
		}
	}

	opts := healthcheck.Options{HintBaseURL: HintBaseURL, Wait: o.Wait, OnRetry: o.OnRetry, OnCategory: printer.Category}
	if o.BeforeCategory != nil {
		opts.OnCategory = func(c healthcheck.CategoryResult) {
			o.BeforeCategory()
			printer.Category(c)
		}
	}
	res, err := healthcheck.Run(ctx, cats, opts)
	if err != nil {
		return healthcheck.Results{}, err
	}
	if err := printer.Finish(res); err != nil {
		return res, err
	}
	return res, nil
}
