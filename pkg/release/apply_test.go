package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/kube"
	kubefake "helm.sh/helm/v4/pkg/kube/fake"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	rel "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/helmvalues"
)

// scriptedKube is Helm's fake Kubernetes client with waits the test scripts: each Wait
// takes the next scripted outcome (nil once the script is used up); a blocking outcome
// waits until the test releases it.
type scriptedKube struct {
	*kubefake.FailingKubeClient
	mu      sync.Mutex
	waits   []waitOutcome
	waited  int
	blocked chan struct{}
}

type waitOutcome struct {
	err   error
	block bool
}

func (k *scriptedKube) GetWaiter(ws kube.WaitStrategy) (kube.Waiter, error) {
	return k.GetWaiterWithOptions(ws)
}

func (k *scriptedKube) GetWaiterWithOptions(ws kube.WaitStrategy, opts ...kube.WaitOption) (kube.Waiter, error) {
	w, err := k.FailingKubeClient.GetWaiterWithOptions(ws, opts...)
	return &scriptedWaiter{Waiter: w, k: k}, err
}

type scriptedWaiter struct {
	kube.Waiter
	k *scriptedKube
}

func (w *scriptedWaiter) Wait(res kube.ResourceList, d time.Duration) error {
	w.k.mu.Lock()
	var o waitOutcome
	if len(w.k.waits) > 0 {
		o, w.k.waits = w.k.waits[0], w.k.waits[1:]
	}
	w.k.waited++
	w.k.mu.Unlock()
	if o.block {
		w.k.blocked <- struct{}{}
		<-w.k.blocked
	}
	if o.err != nil {
		return o.err
	}
	return w.Waiter.Wait(res, d)
}

func (k *scriptedKube) script(outcomes ...waitOutcome) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.waits = outcomes
}

// memTarget is a Target on Helm's memory storage and fake clients.
func memTarget(t *testing.T) (*Target, *scriptedKube) {
	t.Helper()
	// Installs keep their chart in the user's chart cache: one per test, never the real one.
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler))
	mem := driver.NewMemory()
	mem.SetNamespace("linkerd-viz")
	cfg.Releases = storage.Init(mem)
	k := &scriptedKube{
		FailingKubeClient: &kubefake.FailingKubeClient{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard, LogOutput: io.Discard}},
		blocked:           make(chan struct{}),
	}
	cfg.KubeClient = k
	cfg.Capabilities = common.DefaultCapabilities
	return &Target{Kube: fake.NewClientset(), Helm: cfg, Namespace: "linkerd-viz", Release: defaults.ReleaseName}, k
}

func testPlan(t *testing.T, mutate func(*ValuesOptions)) *Plan {
	t.Helper()
	o := defaultOptions(t)
	if mutate != nil {
		mutate(&o)
	}
	p, err := NewPlan(context.Background(), PlanInput{Chart: loadFixtureChart(t), Values: o, KubeVersion: "v1.37.1"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func history(t *testing.T, tg *Target) []*rel.Release {
	t.Helper()
	h, err := tg.history()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func statuses(h []*rel.Release) []string {
	var out []string
	for _, r := range h {
		out = append(out, string(r.Info.Status))
	}
	return out
}

func mustApply(t *testing.T, tg *Target, p *Plan) *Result {
	t.Helper()
	res, err := Apply(context.Background(), tg, p, ApplyOptions{Timeout: time.Minute, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestApplyInstallsThenLeavesUnchangedAlone(t *testing.T) {
	tg, k := memTarget(t)
	p := testPlan(t, nil)

	res := mustApply(t, tg, p)
	if res.Action != ActionInstall || res.Revision != 1 {
		t.Fatalf("first apply: %s revision %d, want install revision 1", res.Action, res.Revision)
	}
	if k.waited == 0 {
		t.Error("the install did not wait for its objects")
	}
	stored := history(t, tg)
	if len(stored) != 1 || stored[0].Info.Status != rcommon.StatusDeployed {
		t.Fatalf("history after install: %v", statuses(stored))
	}
	if got := stored[0].Labels[ChartDigestLabel]; got != digestLabelValue(p.Chart.Digest) || got == "" {
		t.Errorf("chart digest label = %q, want %q", got, digestLabelValue(p.Chart.Digest))
	}
	if stored[0].Chart.Metadata.Version != "29.27.0" {
		t.Errorf("stored chart version %s", stored[0].Chart.Metadata.Version)
	}

	// The same plan rebuilt from scratch is the same release: no new revision.
	again := mustApply(t, tg, testPlan(t, nil))
	if again.Action != ActionNone || again.Revision != 1 || again.Reason != "already up to date" {
		t.Fatalf("second apply: %+v, want none at revision 1", again)
	}
	if n := len(history(t, tg)); n != 1 {
		t.Errorf("an unchanged apply made a new revision: %d revisions", n)
	}
}

func TestApplyUpgradesOnChange(t *testing.T) {
	tg, _ := memTarget(t)
	mustApply(t, tg, testPlan(t, nil))

	p := testPlan(t, func(o *ValuesOptions) { o.Retention = "30d" })
	st, err := Inspect(tg, p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Action != ActionUpgrade || st.Reason != "values changed" {
		t.Fatalf("Inspect = %s (%s), want upgrade for changed values", st.Action, st.Reason)
	}
	res := mustApply(t, tg, p)
	if res.Action != ActionUpgrade || res.Revision != 2 {
		t.Fatalf("apply: %s revision %d, want upgrade to 2", res.Action, res.Revision)
	}
	h := history(t, tg)
	if got := strings.Join(statuses(h), ","); got != "superseded,deployed" {
		t.Errorf("history = %s", got)
	}
	if r, _ := helmvalues.Lookup(h[1].Config, "server", "retention"); r != "30d" {
		t.Errorf("stored retention = %v", r)
	}

	// A chart whose content changed under the same version is an upgrade too.
	changed := testPlan(t, func(o *ValuesOptions) { o.Retention = "30d" })
	changed.Chart.Digest = strings.Repeat("0", 64)
	if st, _ := Inspect(tg, changed); st.Action != ActionUpgrade || !strings.Contains(st.Reason, "content changed") {
		t.Errorf("changed chart content: %s (%s)", st.Action, st.Reason)
	}
}

func TestApplyKeepsTenRevisions(t *testing.T) {
	tg, _ := memTarget(t)
	for i := 1; i <= MaxHistory+3; i++ {
		p := testPlan(t, func(o *ValuesOptions) { o.Retention = fmt.Sprintf("%dd", i) })
		if res := mustApply(t, tg, p); res.Revision != i {
			t.Fatalf("apply %d made revision %d", i, res.Revision)
		}
	}
	h := history(t, tg)
	if len(h) != MaxHistory {
		t.Fatalf("%d revisions stored, want the %d newest", len(h), MaxHistory)
	}
	if h[len(h)-1].Version != MaxHistory+3 || h[0].Version != 4 {
		t.Errorf("kept revisions %d..%d, want 4..%d", h[0].Version, h[len(h)-1].Version, MaxHistory+3)
	}
}

func TestApplyRollsBackFailedUpgrade(t *testing.T) {
	tg, k := memTarget(t)
	mustApply(t, tg, testPlan(t, nil))

	k.script(waitOutcome{err: errors.New("resources not ready: context deadline exceeded")})
	_, err := Apply(context.Background(), tg, testPlan(t, func(o *ValuesOptions) { o.Retention = "30d" }), ApplyOptions{Timeout: time.Second})
	if err == nil {
		t.Fatal("a failed wait did not fail the upgrade")
	}
	if !strings.Contains(err.Error(), "rolled back to its previous revision") || !strings.Contains(err.Error(), "raise --timeout") {
		t.Errorf("error does not say what happened and what to do: %v", err)
	}
	h := history(t, tg)
	if got := strings.Join(statuses(h), ","); got != "superseded,failed,deployed" {
		t.Fatalf("history after the rollback = %s", got)
	}
	if r, _ := helmvalues.Lookup(h[2].Config, "server", "retention"); r != defaults.Retention {
		t.Errorf("the rollback restored retention %v, want revision 1's %s", r, defaults.Retention)
	}
}

func TestApplyUninstallsFailedInstall(t *testing.T) {
	tg, k := memTarget(t)
	k.script(waitOutcome{err: errors.New("context deadline exceeded")})
	_, err := Apply(context.Background(), tg, testPlan(t, nil), ApplyOptions{Timeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "uninstalled again") {
		t.Fatalf("failed install: %v", err)
	}
	if h := history(t, tg); len(h) != 0 {
		t.Errorf("a failed install left %v", statuses(h))
	}
}

// An interrupted install or upgrade must not leave the release pending.
func TestApplyInterrupted(t *testing.T) {
	for _, upgrade := range []bool{false, true} {
		name := map[bool]string{false: "install", true: "upgrade"}[upgrade]
		t.Run(name, func(t *testing.T) {
			tg, k := memTarget(t)
			if upgrade {
				mustApply(t, tg, testPlan(t, nil))
			}
			k.script(waitOutcome{block: true})
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() {
				_, err := Apply(ctx, tg, testPlan(t, func(o *ValuesOptions) { o.Retention = "30d" }), ApplyOptions{Timeout: time.Minute})
				errc <- err
			}()
			<-k.blocked // Helm is waiting for the objects now.
			cancel()
			var err error
			select {
			case err = <-errc:
			case <-time.After(30 * time.Second):
				t.Fatal("Apply did not return after its context was cancelled")
			}
			// Helm's abandoned waiter is let go only after the checks, so that it cannot
			// touch the history they read.
			t.Cleanup(func() { k.blocked <- struct{}{} })
			if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted") {
				t.Fatalf("error = %v, want an interruption wrapping context.Canceled", err)
			}
			h := history(t, tg)
			for _, r := range h {
				if r.Info.Status.IsPending() {
					t.Fatalf("revision %d left %s after the interruption", r.Version, r.Info.Status)
				}
			}
			if !upgrade && len(h) != 0 {
				t.Errorf("interrupted install left %v, want it uninstalled", statuses(h))
			}
			if upgrade {
				if last := h[len(h)-1]; last.Info.Status != rcommon.StatusDeployed || last.Version != 3 {
					t.Errorf("interrupted upgrade: history %v, want a rollback to deployed revision 3", statuses(h))
				}
			}
		})
	}
}

// stuck writes a copy of the newest revision (or a first one) in a pending state, the
// way a killed helm or meshmon leaves it.
func stuck(t *testing.T, tg *Target, p *Plan, status rcommon.Status) {
	t.Helper()
	h := history(t, tg)
	r := &rel.Release{
		Name: tg.Release, Namespace: tg.Namespace, Chart: p.Chart.Chart, Config: p.Values, Version: 1,
		Info: &rel.Info{Status: status, LastDeployed: time.Now().Add(-time.Hour), Description: "killed"},
	}
	if len(h) > 0 {
		r.Version = h[len(h)-1].Version + 1
	}
	if err := tg.Helm.Releases.Create(r); err != nil {
		t.Fatal(err)
	}
}

func TestPendingDetectedAndRefused(t *testing.T) {
	tg, _ := memTarget(t)
	p := testPlan(t, nil)
	mustApply(t, tg, p)
	stuck(t, tg, p, rcommon.StatusPendingUpgrade)

	_, err := Apply(context.Background(), tg, p, ApplyOptions{})
	var pe *PendingError
	if !errors.As(err, &pe) {
		t.Fatalf("Apply on a pending release: %v, want a *PendingError", err)
	}
	if pe.Status != "pending-upgrade" || pe.Revision != 2 || pe.RollbackTo != 1 {
		t.Errorf("pending error = %+v", pe)
	}
	for _, want := range []string{"stuck in pending-upgrade at revision 2", "--repair", "roll back to revision 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	// An hour, plus the seconds a loaded machine took to get here.
	if !regexp.MustCompile(`\(1h0m\d+s ago\)`).MatchString(err.Error()) {
		t.Errorf("error does not say how long ago: %v", err)
	}
	if n := len(history(t, tg)); n != 2 {
		t.Errorf("Apply wrote to a pending release: %d revisions", n)
	}
	r := checkPending(tg, false)
	if r.OK() {
		t.Error("preflight passes a pending release")
	}
	if r := checkPending(tg, true); !r.OK() || !strings.Contains(r.Note, "--repair will") {
		t.Errorf("preflight with --repair: %+v", r)
	}
}

func TestRepairPendingInstall(t *testing.T) {
	tg, _ := memTarget(t)
	p := testPlan(t, nil)
	stuck(t, tg, p, rcommon.StatusPendingInstall)

	res, err := Repair(context.Background(), tg, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res == nil || !res.Uninstalled || res.Found.Status != "pending-install" {
		t.Fatalf("repair = %+v", res)
	}
	if !strings.Contains(res.String(), "uninstalled the unfinished release") {
		t.Errorf("repair report: %s", res)
	}
	if h := history(t, tg); len(h) != 0 {
		t.Fatalf("history after repairing a pending install: %v", statuses(h))
	}
	if got := mustApply(t, tg, p); got.Action != ActionInstall || got.Revision != 1 {
		t.Errorf("install after repair: %+v", got)
	}
}

func TestRepairPendingUpgrade(t *testing.T) {
	for _, status := range []rcommon.Status{rcommon.StatusPendingUpgrade, rcommon.StatusPendingRollback} {
		t.Run(string(status), func(t *testing.T) {
			tg, _ := memTarget(t)
			p := testPlan(t, nil)
			mustApply(t, tg, p)
			stuck(t, tg, testPlan(t, func(o *ValuesOptions) { o.Retention = "30d" }), status)

			res, err := Repair(context.Background(), tg, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if res.Uninstalled || res.RolledBackTo != 1 || res.NewRevision != 3 {
				t.Fatalf("repair = %+v, want a rollback to 1 as revision 3", res)
			}
			h := history(t, tg)
			if got := strings.Join(statuses(h), ","); got != "superseded,failed,deployed" {
				t.Errorf("history after repair = %s", got)
			}
			if !strings.Contains(h[1].Info.Description, "marked failed by meshmon install --repair") {
				t.Errorf("the stuck revision's description: %q", h[1].Info.Description)
			}
			// The rollback restored revision 1 exactly, so the same plan is up to date.
			if got := mustApply(t, tg, p); got.Action != ActionNone || got.Revision != 3 {
				t.Errorf("apply after repair: %+v", got)
			}
			if again, err := Repair(context.Background(), tg, time.Minute); err != nil || again != nil {
				t.Errorf("repairing a healthy release: %+v, %v", again, err)
			}
		})
	}
}

func TestPendingUpgradeWithoutDeployedRevisionUninstalls(t *testing.T) {
	tg, _ := memTarget(t)
	p := testPlan(t, nil)
	stuck(t, tg, p, rcommon.StatusFailed)
	stuck(t, tg, p, rcommon.StatusPendingUpgrade)
	pe, err := Pending(tg)
	if err != nil || pe == nil {
		t.Fatalf("Pending = %v, %v", pe, err)
	}
	if pe.RollbackTo != 0 || !strings.Contains(pe.Remedy(), "uninstall") {
		t.Errorf("with nothing deployed to return to, the remedy is %q", pe.Remedy())
	}
}

// The API server going away during the wait (the e2e fault row saw exactly this text)
// is named as such, with what Helm could not undo, instead of a bare Helm error.
func TestExplainFailureNamesAnUnreachableAPIServer(t *testing.T) {
	tg := &Target{Namespace: "mon", Release: "prometheus"}
	helmErr := errors.New(`an error occurred while uninstalling the release. original install error: resource Deployment/mon/prometheus-server not ready. status: Unknown, message: : kubernetes cluster unreachable: Get "https://127.0.0.1:16443/version?timeout=10s": dial tcp 127.0.0.1:16443: connect: connection refused`)
	got := tg.explainFailure(context.Background(), ActionInstall, helmErr, "waiting for PVC prometheus-server to bind", time.Minute).Error()
	for _, want := range []string{"Kubernetes API server stopped answering", "install of release prometheus in namespace mon", "may be left pending", "--repair", "last seen: waiting for PVC", "connection refused"} {
		if !strings.Contains(got, want) {
			t.Errorf("explanation lacks %q:\n%s", want, got)
		}
	}
	// A wait that merely ran out of time is not blamed on the API server.
	got = tg.explainFailure(context.Background(), ActionInstall, fmt.Errorf("rollback-on-failure: %w", context.DeadlineExceeded), "", time.Minute).Error()
	if strings.Contains(got, "API server") || !strings.Contains(got, "did not become ready within 1m0s") {
		t.Errorf("timeout explained as:\n%s", got)
	}
}
