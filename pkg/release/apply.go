package release

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/kube"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	rel "helm.sh/helm/v4/pkg/release/v1"

	"github.com/meshmon/meshmon/pkg/defaults"
)

// defaults.Timeout bounds one install, upgrade or uninstall, waiting included.

// ChartDigestLabel is the release label recording which chart content a revision was made
// from; Helm stores it on the release Secret.
const ChartDigestLabel = "meshmon.io/chart-digest"

// digestLabelValue fits a digest into a label value (at most 63 characters).
func digestLabelValue(digest string) string {
	if len(digest) > 40 {
		return digest[:40]
	}
	return digest
}

// Action is what Apply does for a plan.
type Action string

// The actions.
const (
	ActionInstall Action = "install"
	ActionUpgrade Action = "upgrade"
	ActionNone    Action = "none"
)

// State is the stored release compared with a plan.
type State struct {
	// Current is the newest revision; nil when the release is not installed.
	Current *rel.Release
	Action  Action
	// Reason says why, e.g. "chart 29.26.0 → 29.27.0" or "values changed".
	Reason string
	// Replace is set when an uninstalled release's kept history must be replaced.
	Replace bool
}

// Inspect compares the stored release with the plan. A release stuck in a pending state
// is a *PendingError.
func Inspect(t *Target, p *Plan) (*State, error) {
	h, err := t.history()
	if err != nil {
		return nil, err
	}
	if len(h) == 0 {
		return &State{Action: ActionInstall, Reason: "no release yet"}, nil
	}
	last := h[len(h)-1]
	if last.Info == nil {
		return nil, fmt.Errorf("revision %d of release %s has no status; inspect it with 'helm history %s -n %s'", last.Version, t.Release, t.Release, t.Namespace)
	}
	if last.Info.Status.IsPending() {
		return nil, pendingError(t, last, h)
	}
	if last.Info.Status == rcommon.StatusUninstalled {
		return &State{Action: ActionInstall, Reason: "the release was uninstalled", Replace: true}, nil
	}
	s := &State{Current: last, Action: ActionUpgrade}
	reasons, err := differences(last, p)
	if err != nil {
		return nil, err
	}
	if len(reasons) == 0 {
		s.Action, s.Reason = ActionNone, "already up to date"
		return s, nil
	}
	s.Reason = strings.Join(reasons, "; ")
	return s, nil
}

// differences says why the last revision is not what the plan would install.
func differences(last *rel.Release, p *Plan) ([]string, error) {
	var out []string
	if last.Info.Status != rcommon.StatusDeployed {
		out = append(out, fmt.Sprintf("revision %d is %s", last.Version, last.Info.Status))
	}
	var name, version string
	if last.Chart != nil && last.Chart.Metadata != nil {
		name, version = last.Chart.Metadata.Name, last.Chart.Metadata.Version
	}
	switch {
	case name != p.Chart.Name():
		out = append(out, fmt.Sprintf("chart %q → %q", name, p.Chart.Name()))
	case version != p.Chart.Version():
		out = append(out, fmt.Sprintf("chart %s → %s", version, p.Chart.Version()))
	case last.Labels[ChartDigestLabel] != digestLabelValue(p.Chart.Digest):
		out = append(out, fmt.Sprintf("chart %s content changed", version))
	default:
		// Later value-only upgrades need the source to get the chart again.
		if _, recorded, _ := RecordedOrigin(last); !recorded && p.Chart.Source.Kind != "" {
			out = append(out, "chart source not recorded yet")
		}
	}
	stored, err := canonicalJSON(last.Config)
	if err != nil {
		return nil, fmt.Errorf("encoding the values of revision %d: %w", last.Version, err)
	}
	planned, err := canonicalJSON(p.Values)
	if err != nil {
		return nil, fmt.Errorf("encoding the planned values: %w", err)
	}
	if stored != planned {
		out = append(out, "values changed")
	}
	return out, nil
}

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// Timeout bounds the whole operation; defaults.Timeout when zero.
	Timeout time.Duration
	// OnStatus receives what the release still waits for while Helm waits.
	OnStatus func(string)
	// PollInterval is how often OnStatus is fed; DefaultPollInterval when zero.
	PollInterval time.Duration
}

// Result is what Apply did.
type Result struct {
	Action   Action
	Reason   string
	Revision int
	Release  *rel.Release
	Duration time.Duration
}

// Apply installs or upgrades the release to the plan, waiting until every object is
// ready (kstatus). A failed or interrupted (ctx cancelled) install is uninstalled and a
// failed or interrupted upgrade rolled back, so the release never stays pending. An
// unchanged chart and values make no new revision.
func Apply(ctx context.Context, t *Target, p *Plan, o ApplyOptions) (*Result, error) {
	if o.Timeout <= 0 {
		o.Timeout = defaults.Timeout
	}
	st, err := Inspect(t, p)
	if err != nil {
		return nil, err
	}
	res := &Result{Action: st.Action, Reason: st.Reason}
	// Kept before the release is written, so that every revision's chart is in the cache
	// for the value-only upgrades after it.
	if err := KeepChart(p.Chart); err != nil {
		return nil, err
	}
	if st.Action == ActionNone {
		res.Revision, res.Release = st.Current.Version, st.Current
		return res, nil
	}
	ch, err := storedChart(p.Chart)
	if err != nil {
		return nil, err
	}
	r, d, err := t.watched(ctx, st.Action, o, func() (*rel.Release, error) {
		if st.Action == ActionInstall {
			return t.install(ctx, ch, p, st.Replace, o.Timeout)
		}
		return t.upgrade(ctx, ch, p.Values, releaseLabels(p.Chart), o.Timeout)
	})
	res.Duration = d
	if err != nil {
		return nil, err
	}
	res.Release, res.Revision = r, r.Version
	return res, nil
}

// watched runs an install or upgrade while feeding o.OnStatus with what the release
// still waits for, and turns a failure into what happened and what to do.
func (t *Target) watched(ctx context.Context, a Action, o ApplyOptions, run func() (*rel.Release, error)) (*rel.Release, time.Duration, error) {
	start := time.Now()
	w := &watcher{kc: t.Kube, namespace: t.Namespace, release: t.Release, report: o.OnStatus}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run(wctx, o.PollInterval)
	}()
	r, err := run()
	stop()
	<-done
	d := time.Since(start)
	if err != nil {
		return nil, d, t.explainFailure(ctx, a, err, w.lastStatus(), o.Timeout)
	}
	return r, d, nil
}

// releaseLabels are the custom labels Helm stores on each revision's Secret.
func releaseLabels(lc *LoadedChart) map[string]string {
	return map[string]string{ChartDigestLabel: digestLabelValue(lc.Digest)}
}

func (t *Target) install(ctx context.Context, ch *chart.Chart, p *Plan, replace bool, timeout time.Duration) (*rel.Release, error) {
	inst := action.NewInstall(t.Helm)
	inst.ReleaseName = t.Release
	inst.Namespace = t.Namespace
	inst.Replace = replace
	inst.Timeout = timeout
	inst.WaitStrategy = kube.StatusWatcherStrategy
	// The wait ends with ctx, so an interrupted install stops waiting in the background
	// too; the uninstall that rolls it back waits for deletions on its own context.
	inst.WaitOptions = []kube.WaitOption{kube.WithWaitMethodContext(ctx)}
	inst.RollbackOnFailure = true
	inst.Labels = releaseLabels(p.Chart)
	r, err := inst.RunWithContext(ctx, ch, p.Values)
	return asRelease(r, err)
}

// upgrade makes a new revision of chart with exactly values (ResetValues), waiting for
// it and rolling it back on failure.
func (t *Target) upgrade(ctx context.Context, ch *chart.Chart, values map[string]any, labels map[string]string, timeout time.Duration) (*rel.Release, error) {
	up := action.NewUpgrade(t.Helm)
	up.Namespace = t.Namespace
	up.Timeout = timeout
	// No wait context here: rolling back an interrupted upgrade reuses these wait
	// options, and the rollback must still be able to wait after ctx is cancelled.
	up.WaitStrategy = kube.StatusWatcherStrategy
	up.RollbackOnFailure = true
	up.MaxHistory = MaxHistory
	up.ResetValues = true
	up.Labels = labels
	r, err := up.RunWithContext(ctx, t.Release, ch, values)
	return asRelease(r, err)
}

func asRelease(r any, err error) (*rel.Release, error) {
	if err != nil {
		return nil, err
	}
	v1, ok := r.(*rel.Release)
	if !ok {
		return nil, fmt.Errorf("helm returned an unexpected release type %T", r)
	}
	return v1, nil
}

// explainFailure turns Helm's error into what happened, what is left and what to do.
func (t *Target) explainFailure(ctx context.Context, a Action, err error, waiting string, timeout time.Duration) error {
	undone := "the release was uninstalled again (its data volume, if created, is kept)"
	if a == ActionUpgrade {
		undone = "the release was rolled back to its previous revision"
	}
	if !strings.Contains(err.Error(), "rollback-on-failure") {
		undone = "check its state with 'helm history " + t.Release + " -n " + t.Namespace + "'"
	}
	if strings.Contains(err.Error(), "error occurred while uninstalling") || strings.Contains(err.Error(), "error occurred while rolling back") {
		// Helm's own undo failed too, often for the same reason (the API server was away).
		undone = "Helm could not undo it either, so the release may be left pending: rerun install, which names that state and the --repair that recovers it"
	}
	detail := ""
	if waiting != "" {
		detail = "; last seen: " + waiting
	}
	what := fmt.Sprintf("%s of release %s in namespace %s", a, t.Release, t.Namespace)
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("interrupted the %s; %s: %w", what, undone, context.Canceled)
	case apiServerUnreachable(err):
		return fmt.Errorf("the %s failed because the Kubernetes API server stopped answering during it%s; %s. Check that the API server is running and reachable. Helm reported: %w",
			what, detail, undone, err)
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "context deadline exceeded"):
		return fmt.Errorf("the %s did not become ready within %s%s; %s. Fix what blocks it (a PVC that cannot bind: check the storage class and free PersistentVolumes) or raise --timeout. Helm reported: %w",
			what, timeout, detail, undone, err)
	}
	return fmt.Errorf("the %s failed%s; %s. Helm reported: %w", what, detail, undone, err)
}

// apiServerUnreachable tells whether Helm failed because it could not reach the API server:
// a refused or reset connection, or Helm's own "kubernetes cluster unreachable". Helm
// flattens some errors to text, so the text is read as well as the error chain.
func apiServerUnreachable(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"kubernetes cluster unreachable", "connect: connection refused", "connection reset by peer", "http2: client connection lost"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
