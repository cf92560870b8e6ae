package viz

import (
	"context"
	"fmt"
	"time"

	"github.com/meshmon/meshmon/pkg/change"
	"github.com/meshmon/meshmon/pkg/release"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/kube"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/pkg/helmvalues"
)

// Value keys of the linkerd-viz chart meshmon sets.
const (
	valuePrometheusURL = "prometheusUrl"
	valuePrometheus    = "prometheus"
	valueEnabled       = "enabled"
)

// requireDeployed refuses to upgrade a release stuck in another operation: Helm would fail
// with "another operation is in progress", and a failed one needs the user's decision.
func requireDeployed(rel *releasev1.Release) error {
	if s := statusOf(rel); s != string(rcommon.StatusDeployed) {
		return fmt.Errorf("Helm release %s/%s is %q, not deployed: a previous helm operation did not finish; "+
			"inspect it with `helm history %s -n %s` and roll back to the last good revision (`helm rollback %s <revision> -n %s`), then retry",
			rel.Namespace, rel.Name, s, rel.Name, rel.Namespace, rel.Name, rel.Namespace)
	}
	return nil
}

// previous reads a user-supplied value.
func previous(m map[string]any, key string) previousValue {
	v, ok := m[key]
	return previousValue{Set: ok, Value: v}
}

func prometheusMap(config map[string]any) (map[string]any, bool) {
	m, ok := config[valuePrometheus].(map[string]any)
	return m, ok
}

// helmConfigureStep upgrades the release with its values reused, setting only prometheusUrl
// and prometheus.enabled=false. The chart is the deployed version loaded again (see
// ChartOptions), before anything is written.
func helmConfigureStep(ctx context.Context, c Clients, rel *releasev1.Release, opts Options) (step, *helmRecord, error) {
	if err := requireDeployed(rel); err != nil {
		return step{}, nil, err
	}
	pm, hasMap := prometheusMap(rel.Config)
	part := &helmRecord{
		Release: rel.Name, Namespace: rel.Namespace, Revision: rel.Version,
		PrometheusURL: previous(rel.Config, valuePrometheusURL), PrometheusMap: hasMap,
		PrometheusEnabled: previous(pm, valueEnabled),
	}
	ch := change.Change{Kind: "HelmRelease", Namespace: rel.Namespace, Name: rel.Name}
	if rel.Config[valuePrometheusURL] == opts.PrometheusURL && pm[valueEnabled] == false {
		ch.Action = change.Unchanged
		ch.Detail = fmt.Sprintf("revision %d already has prometheusUrl=%s and prometheus.enabled=false", rel.Version, opts.PrometheusURL)
		return step{change: ch}, part, nil
	}
	vals := map[string]any{
		valuePrometheusURL: opts.PrometheusURL,
		valuePrometheus:    map[string]any{valueEnabled: false},
	}
	cmd := helmUpgradeCommand(rel, opts.Chart, [][2]string{{valuePrometheusURL, opts.PrometheusURL}, {valuePrometheus + "." + valueEnabled, "false"}})
	lc, err := loadChart(ctx, rel, opts.Chart, cmd)
	if err != nil {
		return step{}, nil, err
	}
	body, err := yaml.Marshal(vals)
	if err != nil {
		return step{}, nil, fmt.Errorf("rendering Helm values: %w", err)
	}
	ch.Action = change.Upgraded
	ch.Detail = fmt.Sprintf("%s, other values reused from revision %d: prometheusUrl=%s, prometheus.enabled=false",
		chartDescription(lc), rel.Version, opts.PrometheusURL)
	if opts.KeepBundled {
		ch.Detail += " (--keep-bundled does not apply: the chart itself removes its Prometheus)"
	}
	ch.Patch = fmt.Sprintf("# %s\n# (chart %s) with:\n%s", cmd, lc.Origin, body)
	return step{change: ch, run: func(ctx context.Context, ch *change.Change) error {
		up, err := newUpgrade(c, rel, opts.HelmTimeout, "meshmon viz configure")
		if err != nil {
			return err
		}
		up.ReuseValues = true
		return runUpgrade(ctx, up, rel, lc, vals, ch)
	}}, part, nil
}

// chartDescription says which chart an upgrade uses and where it was loaded from.
func chartDescription(lc *release.LoadedChart) string {
	s := fmt.Sprintf("chart %s-%s from %s", lc.Name(), lc.Version(), lc.Origin)
	if lc.Cached {
		s += " (cached)"
	}
	return s
}

// helmRestoreStep puts back the two values meshmon set, each only while it still holds
// meshmon's value, and upgrades with exactly the resulting values.
func helmRestoreStep(ctx context.Context, c Clients, rec *record, rel *releasev1.Release, opts RestoreOptions) (step, error) {
	h := rec.Helm
	ch := change.Change{Kind: "HelmRelease", Namespace: rel.Namespace, Name: rel.Name}
	// A copy: helmvalues.Merge never modifies its inputs.
	config := helmvalues.Merge(rel.Config)
	var restored, kept []string
	var sets [][2]string
	if config[valuePrometheusURL] == rec.URL {
		setPrevious(config, valuePrometheusURL, h.PrometheusURL)
		restored = append(restored, valuePrometheusURL)
		sets = append(sets, [2]string{valuePrometheusURL, setValue(h.PrometheusURL)})
	} else {
		kept = append(kept, fmt.Sprintf("prometheusUrl is %v, not meshmon's", showValue(config[valuePrometheusURL])))
	}
	pm, _ := prometheusMap(config)
	if pm != nil && pm[valueEnabled] == false {
		setPrevious(pm, valueEnabled, h.PrometheusEnabled)
		if len(pm) == 0 && !h.PrometheusMap {
			delete(config, valuePrometheus)
		}
		restored = append(restored, "prometheus.enabled")
		sets = append(sets, [2]string{valuePrometheus + "." + valueEnabled, setValue(h.PrometheusEnabled)})
	} else {
		kept = append(kept, "prometheus.enabled is no longer false")
	}
	if len(restored) == 0 {
		ch.Action, ch.Detail = change.Kept, "values changed since meshmon configured viz: "+fmt.Sprint(kept)
		return step{change: ch}, nil
	}
	if err := requireDeployed(rel); err != nil {
		return step{}, err
	}
	cmd := helmUpgradeCommand(rel, opts.Chart, sets)
	lc, err := loadChart(ctx, rel, opts.Chart, cmd)
	if err != nil {
		return step{}, err
	}
	body, err := yaml.Marshal(config)
	if err != nil {
		return step{}, fmt.Errorf("rendering Helm values: %w", err)
	}
	ch.Action = change.Upgraded
	ch.Detail = fmt.Sprintf("%s, values of revision %d: %v back to their values before meshmon (revision %d)", chartDescription(lc), rel.Version, restored, h.Revision)
	if len(kept) > 0 {
		ch.Detail += fmt.Sprintf("; left as is: %v", kept)
	}
	ch.Patch = fmt.Sprintf("# helm upgrade %s --namespace %s --reset-values (chart %s) with:\n%s", rel.Name, rel.Namespace, lc.Origin, body)
	return step{change: ch, run: func(ctx context.Context, ch *change.Change) error {
		up, err := newUpgrade(c, rel, opts.HelmTimeout, "meshmon viz restore")
		if err != nil {
			return err
		}
		// The complete user-supplied values are given, so nothing else may be merged in.
		up.ResetValues = true
		return runUpgrade(ctx, up, rel, lc, config, ch)
	}}, nil
}

func newUpgrade(c Clients, rel *releasev1.Release, timeout time.Duration, description string) (*action.Upgrade, error) {
	cfg, err := c.Helm(rel.Namespace)
	if err != nil {
		return nil, err
	}
	up := action.NewUpgrade(cfg)
	up.Namespace = rel.Namespace
	up.Timeout = timeout
	up.WaitStrategy = kube.HookOnlyStrategy
	up.Description = description
	return up, nil
}

func runUpgrade(ctx context.Context, up *action.Upgrade, rel *releasev1.Release, lc *release.LoadedChart, vals map[string]any, ch *change.Change) error {
	r, err := up.RunWithContext(ctx, rel.Name, lc.Chart, vals)
	if err != nil {
		return fmt.Errorf("upgrading Helm release %s/%s: %w; `helm history %s -n %s` shows its state", rel.Namespace, rel.Name, err, rel.Name, rel.Namespace)
	}
	if nr, ok := r.(*releasev1.Release); ok {
		ch.Detail = fmt.Sprintf("revision %d: %s", nr.Version, ch.Detail)
	}
	return nil
}

func setPrevious(m map[string]any, key string, p previousValue) {
	if p.Set {
		m[key] = p.Value
	} else {
		delete(m, key)
	}
}

func showValue(v any) string {
	if v == nil {
		return "unset"
	}
	return fmt.Sprintf("%q", fmt.Sprint(v))
}
