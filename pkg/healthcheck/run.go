package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

const (
	// DefaultTimeout bounds an attempt when neither the check nor Options
	// set a timeout; it is the per-request timeout of `linkerd check`.
	DefaultTimeout = 30 * time.Second
	// DefaultRetryInterval is the first pause between two attempts.
	DefaultRetryInterval = time.Second
	// maxRetryInterval caps the doubling pause, like linkerd's fixed
	// 5s retry window.
	maxRetryInterval = 5 * time.Second
)

// Options tune a run. The zero value runs every check once with
// DefaultTimeout and no hints.
type Options struct {
	// HintBaseURL prefixes every check's HintAnchor.
	HintBaseURL string
	// Timeout bounds each attempt of checks without their own Timeout;
	// 0 means DefaultTimeout.
	Timeout time.Duration
	// Wait is how long, from the start of the run, Retryable checks keep
	// being retried. 0 means a single attempt.
	Wait time.Duration
	// RetryInterval is the first pause between attempts; it doubles after
	// each failure, up to 5s (or RetryInterval if larger). 0 means
	// DefaultRetryInterval.
	RetryInterval time.Duration
	// OnRetry, if set, is told about each failed attempt that will be
	// retried, e.g. to drive a spinner.
	OnRetry func(category, description string, attempt int, err error)
	// OnCategory, if set, receives each category's results in input order,
	// as soon as that category and all those before it are finished;
	// Printer.Category fits here.
	OnCategory func(CategoryResult)
}

// Run runs the checks of all categories and returns their results in input
// order. It returns an error, without running anything, when Validate
// fails. Categories run concurrently, the checks of one category in order;
// a check waits for the checks it needs, even in other categories.
//
// Cancelling ctx stops the run promptly: checks that were running or had
// not started are reported as errors wrapping ErrInterrupted. A Run func
// that ignores its context is abandoned, not waited for, when its attempt
// times out or the run is cancelled. Callbacks in opts are never called
// concurrently.
func Run(ctx context.Context, categories []Category, opts Options) (Results, error) {
	nodes, err := buildGraph(categories)
	if err != nil {
		return Results{}, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = DefaultRetryInterval
	}
	r := &runner{opts: opts, categories: categories, nodes: nodes, finished: make([]bool, len(nodes))}
	if opts.Wait > 0 {
		r.deadline = time.Now().Add(opts.Wait)
	}

	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() {
			for _, n := range nodes[i] {
				n.result = r.runNode(ctx, n)
				close(n.done)
			}
			r.categoryDone(i)
		})
	}
	wg.Wait()

	res := Results{Categories: make([]CategoryResult, len(nodes))}
	for i := range nodes {
		res.Categories[i] = r.categoryResult(i)
	}
	return res, nil
}

type runner struct {
	opts Options
	// deadline ends retries; zero when Options.Wait is 0.
	deadline   time.Time
	categories []Category
	nodes      [][]*node

	// mu serialises the callbacks and guards the fields below.
	mu       sync.Mutex
	finished []bool
	next     int
}

func (r *runner) categoryResult(i int) CategoryResult {
	cr := CategoryResult{Name: r.categories[i].Name, Checks: make([]Result, len(r.nodes[i]))}
	for j, n := range r.nodes[i] {
		cr.Checks[j] = n.result
	}
	return cr
}

// categoryDone hands every category that is now complete, and preceded only
// by complete ones, to OnCategory.
func (r *runner) categoryDone(i int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finished[i] = true
	for r.next < len(r.finished) && r.finished[r.next] {
		if r.opts.OnCategory != nil {
			r.opts.OnCategory(r.categoryResult(r.next))
		}
		r.next++
	}
}

func (r *runner) retried(n *node, attempt int, err error) {
	if r.opts.OnRetry == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opts.OnRetry(n.category, n.check.Description, attempt, err)
}

func (r *runner) runNode(ctx context.Context, n *node) (res Result) {
	c := n.check
	res = Result{ID: c.ID, Description: c.Description}
	if c.HintAnchor != "" {
		res.HintURL = r.opts.HintBaseURL + c.HintAnchor
	}
	for _, dep := range n.needs {
		select {
		case <-dep.done:
		case <-ctx.Done():
			return interrupted(res)
		}
		switch {
		case dep.result.Status == StatusSkipped:
			return skipped(res, fmt.Sprintf("needs %s, which was skipped", dep.name()))
		case dep.check.Fatal && dep.result.Status != StatusSuccess:
			return skipped(res, fmt.Sprintf("needs %s, which failed", dep.name()))
		}
	}

	timeout := c.Timeout
	if timeout == 0 {
		timeout = r.opts.Timeout
	}
	start := time.Now()
	defer func() { res.Duration = time.Since(start) }()
	for {
		if ctx.Err() != nil {
			return interrupted(res)
		}
		res.Attempts++
		err := attempt(ctx, c, timeout)
		if err != nil && ctx.Err() != nil {
			return interrupted(res)
		}
		classify(&res, c, err)
		if !r.retry(c, res.Status) {
			return res
		}
		r.retried(n, res.Attempts, res.Err)
		if !sleep(ctx, r.pause(res.Attempts)) {
			return interrupted(res)
		}
	}
}

func (r *runner) retry(c *Check, s Status) bool {
	failed := s == StatusWarning || s == StatusError
	return failed && c.Retryable && !r.deadline.IsZero() && time.Now().Before(r.deadline)
}

// pause is the backoff after the given failed attempt, cut short so that
// one last attempt happens at the deadline.
func (r *runner) pause(attempts int) time.Duration {
	limit := max(maxRetryInterval, r.opts.RetryInterval)
	d := r.opts.RetryInterval
	for k := 1; k < attempts && d < limit; k++ {
		d *= 2
	}
	return min(d, limit, time.Until(r.deadline))
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// attempt calls c.Run once, bounded by timeout. It does not wait for a Run
// that outlives its context: the run must stay responsive to Ctrl-C even
// when a check ignores cancellation.
func attempt(ctx context.Context, c *Check, timeout time.Duration) error {
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("check panicked: %v (this is a bug in the check; please report it)", p)
			}
		}()
		done <- c.Run(actx)
	}()
	select {
	case err := <-done:
		if err != nil && ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("timed out after %s: %w", timeout, err)
		}
		return err
	case <-actx.Done():
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("timed out after %s without an answer", timeout)
	}
}

// classify turns what Run returned into a status.
func classify(res *Result, c *Check, err error) {
	res.Err, res.Detail, res.SkipReason = nil, "", ""
	var (
		skip   *skipError
		detail *detailResult
		warn   *warnError
	)
	switch {
	case err == nil:
		res.Status = StatusSuccess
	case errors.As(err, &skip):
		res.Status = StatusSkipped
		res.SkipReason = skip.reason
	case errors.As(err, &detail):
		res.Status = StatusSuccess
		res.Detail = detail.detail
	default:
		// An empty message would read as a pass to `linkerd check`, which
		// only looks at whether "error" is set.
		if err.Error() == "" {
			err = fmt.Errorf("check failed without an error message: %w", err)
		}
		res.Err = err
		res.Status = StatusError
		if c.Warning || errors.As(err, &warn) {
			res.Status = StatusWarning
		}
	}
}

func interrupted(res Result) Result {
	res.Status = StatusError
	res.Err = ErrInterrupted
	res.Detail, res.SkipReason = "", ""
	return res
}

func skipped(res Result, reason string) Result {
	res.Status = StatusSkipped
	res.SkipReason = reason
	return res
}
