package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// runWithin runs the checks, failing the test rather than hanging if Run
// does not return within two seconds.
func runWithin(t *testing.T, ctx context.Context, cats []Category, opts Options) (Results, error) {
	t.Helper()
	type outcome struct {
		res Results
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := Run(ctx, cats, opts)
		done <- outcome{res, err}
	}()
	select {
	case o := <-done:
		return o.res, o.err
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return within 2s")
		return Results{}, nil
	}
}

func mustRun(t *testing.T, ctx context.Context, cats []Category, opts Options) Results {
	t.Helper()
	res, err := runWithin(t, ctx, cats, opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

// result finds the result of the check with the given description.
func result(t *testing.T, res Results, desc string) Result {
	t.Helper()
	for _, c := range res.Categories {
		for _, r := range c.Checks {
			if r.Description == desc {
				return r
			}
		}
	}
	t.Fatalf("no result for %q", desc)
	return Result{}
}

// TestOrderUnderConcurrency runs many categories whose checks sleep for
// random short times and need checks of other categories: results and
// streamed categories must keep input order, and every check must start
// only after the checks it needs have finished.
func TestOrderUnderConcurrency(t *testing.T) {
	const nCats, nChecks = 20, 8
	var finished sync.Map
	var cats []Category
	for i := range nCats {
		cat := Category{Name: fmt.Sprintf("cat-%02d", i)}
		for j := range nChecks {
			id := fmt.Sprintf("c%d-%d", i, j)
			var needs []string
			if i > 0 && j%3 == 1 {
				needs = []string{fmt.Sprintf("c%d-%d", rand.IntN(i), rand.IntN(nChecks))}
			}
			sleep := time.Duration(rand.IntN(2000)) * time.Microsecond
			cat.Checks = append(cat.Checks, Check{
				ID: id, Description: "check " + id, Needs: needs,
				Run: func(context.Context) error {
					for _, n := range needs {
						if _, ok := finished.Load(n); !ok {
							return fmt.Errorf("started before %s finished", n)
						}
					}
					time.Sleep(sleep)
					finished.Store(id, true)
					if j == 5 {
						return errors.New("failure " + id)
					}
					return nil
				},
			})
		}
		cats = append(cats, cat)
	}

	var streamed []string
	res := mustRun(t, context.Background(), cats, Options{OnCategory: func(c CategoryResult) {
		streamed = append(streamed, c.Name)
	}})

	if len(res.Categories) != nCats || len(streamed) != nCats {
		t.Fatalf("got %d categories, %d streamed, want %d", len(res.Categories), len(streamed), nCats)
	}
	for i, c := range res.Categories {
		if c.Name != cats[i].Name || streamed[i] != cats[i].Name {
			t.Errorf("category %d: result %q, streamed %q, want %q", i, c.Name, streamed[i], cats[i].Name)
		}
		for j, r := range c.Checks {
			if r.ID != cats[i].Checks[j].ID {
				t.Errorf("category %s position %d holds %q, want %q", c.Name, j, r.ID, cats[i].Checks[j].ID)
			}
			wantStatus := StatusSuccess
			if j == 5 {
				wantStatus = StatusError
			}
			if r.Status != wantStatus {
				t.Errorf("%s: status %s (%v), want %s", r.ID, r.Status, r.Err, wantStatus)
			}
		}
	}
}

// TestCategoriesRunConcurrently makes two categories wait for each other:
// run one after the other, both would time out.
func TestCategoriesRunConcurrently(t *testing.T) {
	var wg sync.WaitGroup
	wg.Add(2)
	bothStarted := make(chan struct{})
	go func() { wg.Wait(); close(bothStarted) }()
	meet := func(ctx context.Context) error {
		wg.Done()
		select {
		case <-bothStarted:
			return nil
		case <-ctx.Done():
			return errors.New("the other category never started")
		}
	}
	res := mustRun(t, context.Background(), []Category{
		{Name: "a", Checks: []Check{{Description: "a1", Run: meet}}},
		{Name: "b", Checks: []Check{{Description: "b1", Run: meet}}},
	}, Options{Timeout: 500 * time.Millisecond})
	if !res.Success() {
		t.Errorf("categories did not run concurrently: %v / %v", result(t, res, "a1").Err, result(t, res, "b1").Err)
	}
}

// TestStreamingIsIncremental checks that a finished first category is
// handed out while a later one is still running.
func TestStreamingIsIncremental(t *testing.T) {
	firstStreamed := make(chan struct{})
	res := mustRun(t, context.Background(), []Category{
		{Name: "fast", Checks: []Check{{Description: "fast", Run: pass}}},
		{Name: "slow", Checks: []Check{{Description: "slow", Run: func(ctx context.Context) error {
			select {
			case <-firstStreamed:
				return nil
			case <-ctx.Done():
				return errors.New("first category was not streamed while this one ran")
			}
		}}}},
	}, Options{
		Timeout: 500 * time.Millisecond,
		OnCategory: func(c CategoryResult) {
			if c.Name == "fast" {
				close(firstStreamed)
			}
		},
	})
	if r := result(t, res, "slow"); r.Status != StatusSuccess {
		t.Error(r.Err)
	}
}

func TestStreamingWaitsForEarlierCategories(t *testing.T) {
	release := make(chan struct{})
	var order []string
	res := mustRun(t, context.Background(), []Category{
		{Name: "slow", Checks: []Check{{Description: "slow", Run: func(context.Context) error { <-release; return nil }}}},
		{Name: "fast", Checks: []Check{{Description: "fast", Run: func(context.Context) error { close(release); return nil }}}},
	}, Options{OnCategory: func(c CategoryResult) { order = append(order, c.Name) }})
	if !res.Success() || strings.Join(order, ",") != "slow,fast" {
		t.Errorf("streamed %v (success %v), want slow,fast", order, res.Success())
	}
}

func TestDependencies(t *testing.T) {
	var ran sync.Map
	run := func(name string, err error) func(context.Context) error {
		return func(context.Context) error { ran.Store(name, true); return err }
	}
	res := mustRun(t, context.Background(), []Category{
		{Name: "one", Checks: []Check{
			{ID: "fatal", Description: "fatal", Fatal: true, Run: run("fatal", errors.New("down"))},
			{ID: "after-fatal", Description: "after-fatal", Run: run("after-fatal", nil)},
			{ID: "soft", Description: "soft", Run: run("soft", errors.New("meh"))},
			{ID: "fatal-warn", Description: "fatal-warn", Fatal: true, Run: run("fatal-warn", Warn(errors.New("hmm")))},
			{ID: "fatal-ok", Description: "fatal-ok", Fatal: true, Run: run("fatal-ok", nil)},
		}},
		{Name: "two", Checks: []Check{
			{ID: "needs-fatal", Description: "needs-fatal", Needs: []string{"fatal"}, Run: run("needs-fatal", nil)},
			{ID: "transitive", Description: "transitive", Needs: []string{"needs-fatal"}, Run: run("transitive", nil)},
			{Description: "needs-soft", Needs: []string{"soft"}, Run: run("needs-soft", nil)},
			{Description: "needs-fatal-warn", Needs: []string{"fatal-warn"}, Run: run("needs-fatal-warn", nil)},
			{Description: "needs-fatal-ok", Needs: []string{"fatal-ok"}, Run: run("needs-fatal-ok", nil)},
			{ID: "skips", Description: "skips", Run: run("skips", Skip("not installed"))},
			{Description: "needs-skipped", Needs: []string{"skips"}, Run: run("needs-skipped", nil)},
		}},
	}, Options{})

	for desc, want := range map[string]Status{
		"fatal":            StatusError,
		"after-fatal":      StatusSuccess, // a fatal failure does not stop its category
		"soft":             StatusError,
		"fatal-warn":       StatusWarning,
		"fatal-ok":         StatusSuccess,
		"needs-fatal":      StatusSkipped,
		"transitive":       StatusSkipped,
		"needs-soft":       StatusSuccess, // a non-fatal failure does not skip dependents
		"needs-fatal-warn": StatusSkipped, // as in linkerd, a fatal check's warning counts as failure
		"needs-fatal-ok":   StatusSuccess,
		"skips":            StatusSkipped,
		"needs-skipped":    StatusSkipped,
	} {
		r := result(t, res, desc)
		if r.Status != want {
			t.Errorf("%s: status %s, want %s", desc, r.Status, want)
		}
		_, didRun := ran.Load(desc)
		if wantRun := !strings.HasPrefix(desc, "needs-") || want != StatusSkipped; desc != "transitive" && didRun != wantRun {
			t.Errorf("%s: ran = %v, want %v", desc, didRun, wantRun)
		}
	}
	if _, ok := ran.Load("transitive"); ok {
		t.Error("transitive dependent of a fatal failure ran")
	}
	if r := result(t, res, "transitive"); !strings.Contains(r.SkipReason, `"needs-fatal"`) || !strings.Contains(r.SkipReason, "skipped") {
		t.Errorf("transitive skip reason = %q", r.SkipReason)
	}
	if r := result(t, res, "needs-fatal"); !strings.Contains(r.SkipReason, `"fatal"`) || !strings.Contains(r.SkipReason, "failed") {
		t.Errorf("needs-fatal skip reason = %q", r.SkipReason)
	}
	if r := result(t, res, "skips"); r.SkipReason != "not installed" {
		t.Errorf("skip reason = %q", r.SkipReason)
	}
}

func TestClassification(t *testing.T) {
	res := mustRun(t, context.Background(), []Category{{Name: "c", Checks: []Check{
		{Description: "plain error", Run: fail("x")},
		{Description: "static warning", Warning: true, Run: fail("x")},
		{Description: "dynamic warning", Run: ret(fmt.Errorf("wrapped: %w", Warn(errors.New("x"))))},
		{Description: "warn nil", Run: ret(Warn(nil))},
		{Description: "detail", Run: ret(Detail("\t* a"))},
		{Description: "empty message", Run: fail("")},
		{Description: "panics", Run: func(context.Context) error { panic("oops") }},
		{Description: "hint", HintAnchor: "anchor", Run: fail("x")},
	}}}, Options{HintBaseURL: "base#"})

	for _, tc := range []struct {
		desc, errText, detail, hint string
		status                      Status
	}{
		{"plain error", "x", "", "", StatusError},
		{"static warning", "x", "", "", StatusWarning},
		{"dynamic warning", "wrapped: x", "", "", StatusWarning},
		{"warn nil", "", "", "", StatusSuccess},
		{"detail", "", "\t* a", "", StatusSuccess},
		{"empty message", "check failed without an error message: ", "", "", StatusError},
		{"panics", "check panicked: oops (this is a bug in the check; please report it)", "", "", StatusError},
		{"hint", "x", "", "base#anchor", StatusError},
	} {
		r := result(t, res, tc.desc)
		var errText string
		if r.Err != nil {
			errText = r.Err.Error()
		}
		if r.Status != tc.status || errText != tc.errText || r.Detail != tc.detail || r.HintURL != tc.hint {
			t.Errorf("%s: got status %s, error %q, detail %q, hint %q; want %s, %q, %q, %q",
				tc.desc, r.Status, errText, r.Detail, r.HintURL, tc.status, tc.errText, tc.detail, tc.hint)
		}
	}
	if res.Success() {
		t.Error("Success() = true with errors")
	}
	if !res.HasWarnings() {
		t.Error("HasWarnings() = false with warnings")
	}
}

func TestSuccessWithOnlyWarnings(t *testing.T) {
	res := mustRun(t, context.Background(), []Category{{Name: "c", Checks: []Check{
		{Description: "w", Warning: true, Run: fail("x")},
		{Description: "ok", Run: pass},
	}}}, Options{})
	if !res.Success() || !res.HasWarnings() || res.Interrupted() {
		t.Errorf("Success %v, HasWarnings %v, Interrupted %v; want true, true, false", res.Success(), res.HasWarnings(), res.Interrupted())
	}
}

type retryRecord struct {
	mu       sync.Mutex
	attempts []int
	errs     []string
}

func (r *retryRecord) observe(cat, desc string, attempt int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts = append(r.attempts, attempt)
	r.errs = append(r.errs, cat+"/"+desc+": "+err.Error())
}

func TestRetryUntilPass(t *testing.T) {
	var calls atomic.Int32
	var rec retryRecord
	res := mustRun(t, context.Background(), []Category{{Name: "c", Checks: []Check{
		{Description: "third time lucky", Retryable: true, Run: func(context.Context) error {
			if n := calls.Add(1); n < 3 {
				return fmt.Errorf("attempt %d failed", n)
			}
			return nil
		}},
	}}}, Options{Wait: 10 * time.Second, RetryInterval: time.Millisecond, OnRetry: rec.observe})

	r := result(t, res, "third time lucky")
	if r.Status != StatusSuccess || r.Attempts != 3 || calls.Load() != 3 {
		t.Errorf("status %s after %d attempts (%d calls), want success after 3", r.Status, r.Attempts, calls.Load())
	}
	want := []string{"c/third time lucky: attempt 1 failed", "c/third time lucky: attempt 2 failed"}
	if fmt.Sprint(rec.attempts) != "[1 2]" || strings.Join(rec.errs, "|") != strings.Join(want, "|") {
		t.Errorf("OnRetry saw attempts %v errors %q, want [1 2] %q", rec.attempts, rec.errs, want)
	}
}

func TestRetryStopsAtDeadline(t *testing.T) {
	const wait = 40 * time.Millisecond
	var calls atomic.Int32
	var lastCall atomic.Int64
	var rec retryRecord
	start := time.Now()
	res := mustRun(t, context.Background(), []Category{{Name: "c", Checks: []Check{
		{Description: "never", Retryable: true, Run: func(context.Context) error {
			lastCall.Store(time.Now().UnixNano())
			return fmt.Errorf("attempt %d failed", calls.Add(1))
		}},
	}}}, Options{Wait: wait, RetryInterval: time.Millisecond, OnRetry: rec.observe})

	r := result(t, res, "never")
	if r.Status != StatusError || r.Attempts < 2 || int(calls.Load()) != r.Attempts {
		t.Fatalf("status %s after %d attempts (%d calls), want error after several", r.Status, r.Attempts, calls.Load())
	}
	if want := fmt.Sprintf("attempt %d failed", r.Attempts); r.Err.Error() != want {
		t.Errorf("error %q, want the last one, %q", r.Err, want)
	}
	if len(rec.attempts) != r.Attempts-1 {
		t.Errorf("OnRetry called %d times for %d attempts", len(rec.attempts), r.Attempts)
	}
	if last := time.Unix(0, lastCall.Load()); last.Before(start.Add(wait)) {
		t.Errorf("last attempt %s after start, before the %s deadline", last.Sub(start), wait)
	}
}

func TestNoRetry(t *testing.T) {
	for _, tc := range []struct {
		name      string
		retryable bool
		wait      time.Duration
		run       func(context.Context) error
	}{
		{"wait 0", true, 0, fail("x")},
		{"not retryable", false, time.Second, fail("x")},
		{"skip is final", true, time.Second, ret(Skip("n/a"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			var rec retryRecord
			res := mustRun(t, context.Background(), []Category{{Name: "c", Checks: []Check{
				{Description: "d", Retryable: tc.retryable, Run: func(ctx context.Context) error { calls.Add(1); return tc.run(ctx) }},
			}}}, Options{Wait: tc.wait, RetryInterval: time.Millisecond, OnRetry: rec.observe})
			if calls.Load() != 1 || result(t, res, "d").Attempts != 1 || len(rec.attempts) != 0 {
				t.Errorf("%d calls, %d retries, want 1 call and no retry", calls.Load(), len(rec.attempts))
			}
		})
	}
}

func TestPause(t *testing.T) {
	r := &runner{opts: Options{RetryInterval: time.Second}, deadline: time.Now().Add(time.Hour)}
	var got []time.Duration
	for a := 1; a <= 5; a++ {
		got = append(got, r.pause(a))
	}
	if fmt.Sprint(got) != "[1s 2s 4s 5s 5s]" {
		t.Errorf("pauses %v, want [1s 2s 4s 5s 5s]", got)
	}
	r.deadline = time.Now().Add(100 * time.Millisecond)
	if p := r.pause(1); p > 100*time.Millisecond {
		t.Errorf("pause %s goes past the deadline", p)
	}
}

func TestTimeout(t *testing.T) {
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	res := mustRun(t, context.Background(), []Category{{Name: "c", Checks: []Check{
		{Description: "honours ctx", Timeout: 5 * time.Millisecond, Run: func(ctx context.Context) error {
			<-ctx.Done()
			return fmt.Errorf("querying: %w", ctx.Err())
		}},
		{Description: "ignores ctx", Timeout: 5 * time.Millisecond, Run: func(context.Context) error { <-stuck; return nil }},
		{Description: "default timeout", Run: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
		{Description: "fast", Timeout: 5 * time.Millisecond, Run: pass},
	}}}, Options{Timeout: 7 * time.Millisecond})

	for desc, prefix := range map[string]string{
		"honours ctx":     "timed out after 5ms",
		"ignores ctx":     "timed out after 5ms",
		"default timeout": "timed out after 7ms",
	} {
		r := result(t, res, desc)
		if r.Status != StatusError || !strings.HasPrefix(r.Err.Error(), prefix) {
			t.Errorf("%s: status %s error %v, want error starting %q", desc, r.Status, r.Err, prefix)
		}
	}
	if r := result(t, res, "fast"); r.Status != StatusSuccess {
		t.Errorf("fast: %v", r.Err)
	}
}

func TestCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{}, 2)
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	go func() { <-started; <-started; cancel() }()

	var laterRan atomic.Bool
	res := mustRun(t, ctx, []Category{
		{Name: "a", Checks: []Check{
			{ID: "blocking", Description: "blocking", Fatal: true, Warning: true, Run: func(ctx context.Context) error {
				started <- struct{}{}
				<-ctx.Done()
				return ctx.Err()
			}},
			{Description: "later", Run: func(context.Context) error { laterRan.Store(true); return nil }},
		}},
		{Name: "b", Checks: []Check{
			{Description: "deaf", Run: func(context.Context) error { started <- struct{}{}; <-stuck; return nil }},
		}},
		{Name: "c", Checks: []Check{
			{Description: "waits for blocking", Needs: []string{"blocking"}, Run: pass},
		}},
		{Name: "d", Checks: []Check{
			{Description: "retrying", Retryable: true, Run: fail("x")},
		}},
	}, Options{Wait: time.Hour, RetryInterval: time.Hour})
	for _, desc := range []string{"blocking", "later", "deaf", "retrying"} {
		if r := result(t, res, desc); r.Status != StatusError || !errors.Is(r.Err, ErrInterrupted) {
			t.Errorf("%s: status %s error %v, want interrupted error", desc, r.Status, r.Err)
		}
	}
	if r := result(t, res, "waits for blocking"); r.Status != StatusSkipped && !errors.Is(r.Err, ErrInterrupted) {
		t.Errorf("dependent of an interrupted fatal check: status %s error %v", r.Status, r.Err)
	}
	if laterRan.Load() {
		t.Error("a check started after cancellation")
	}
	if !res.Interrupted() || res.Success() {
		t.Errorf("Interrupted %v Success %v, want true false", res.Interrupted(), res.Success())
	}
	if r := result(t, res, "blocking"); r.Err.Error() != "check interrupted" {
		t.Errorf("interrupted error text %q", r.Err)
	}
}

func TestValidation(t *testing.T) {
	var ran atomic.Bool
	run := func(context.Context) error { ran.Store(true); return nil }
	chk := func(id string, needs ...string) Check {
		return Check{ID: id, Description: "desc " + id, Needs: needs, Run: run}
	}
	for _, tc := range []struct {
		name string
		cats []Category
		want []string
	}{
		{"unknown need", []Category{{Name: "a", Checks: []Check{chk("x", "nope")}}},
			[]string{`check "x" needs "nope", but no check has that ID`}},
		{"duplicate id", []Category{{Name: "a", Checks: []Check{chk("x")}}, {Name: "b", Checks: []Check{chk("x")}}},
			[]string{`check ID "x" is used twice`, `category "a"`, `category "b"`}},
		{"self", []Category{{Name: "a", Checks: []Check{chk("x", "x")}}},
			[]string{`dependency cycle: check "x" needs check "x"`}},
		{"cross-category cycle", []Category{{Name: "a", Checks: []Check{chk("x", "y")}}, {Name: "b", Checks: []Check{chk("y", "x")}}},
			[]string{"dependency cycle", `check "x" needs check "y"`, `check "y" needs check "x"`}},
		{"later in own category", []Category{{Name: "a", Checks: []Check{chk("x", "y"), chk("y")}}},
			[]string{"dependency cycle", `check "x" needs check "y"`, `check "y" runs after check "x"`, "run in order"}},
		{"deadlock through category order", []Category{
			{Name: "a", Checks: []Check{chk("a1", "b2"), chk("a2")}},
			{Name: "b", Checks: []Check{chk("b1", "a2"), chk("b2")}},
		}, []string{"dependency cycle", "runs after", "run in order"}},
		{"bad fields", []Category{
			{Name: "", Checks: []Check{{Description: "d", Run: run}}},
			{Name: "b", Checks: []Check{{Run: run}, {Description: "no run"}, {Description: "neg", Run: run, Timeout: -1}}},
			{Name: "b"},
		}, []string{"category #1 has no name", `check #1 of category "b" has no description`,
			`check "no run" (category "b") has no Run func`, "negative timeout", `category "b" is defined twice`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.cats)
			if err == nil {
				t.Fatal("Validate accepted invalid checks")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			var called bool
			res, runErr := runWithin(t, context.Background(), tc.cats, Options{OnCategory: func(CategoryResult) { called = true }})
			if runErr == nil || runErr.Error() != err.Error() || len(res.Categories) != 0 || called || ran.Load() {
				t.Errorf("Run: error %v, %d categories, callback %v, ran %v; want the validation error and nothing run",
					runErr, len(res.Categories), called, ran.Load())
			}
		})
	}
	if err := Validate([]Category{
		{Name: "a", Checks: []Check{chk("a1"), chk("a2", "b1")}},
		{Name: "b", Checks: []Check{chk("b1", "a1"), chk("b2", "a2")}},
	}); err != nil {
		t.Errorf("valid graph rejected: %v", err)
	}
}

func TestHintNeedsAnchor(t *testing.T) {
	res := mustRun(t, context.Background(), []Category{{Name: "c", Checks: []Check{
		{Description: "no anchor", Run: fail("x")},
	}}}, Options{HintBaseURL: testHintBase})
	if r := result(t, res, "no anchor"); r.HintURL != "" {
		t.Errorf("hint URL %q without an anchor", r.HintURL)
	}
}
