package viz

import (
	"context"
	"fmt"
	"time"

	"github.com/meshmon/meshmon/pkg/change"

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

// helmConfigureStep upgrades the release with its own stored chart and its values reused,
// setting only prometheusUrl and prometheus.enabled=false: no chart is downloaded and no other
// value changes.
func helmConfigureStep(c Clients, rel *releasev1.Release, opts Options) (step, *helmRecord, error) {
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
	body, err := yaml.Marshal(vals)
	if err != nil {
		return step{}, nil, fmt.Errorf("rendering Helm values: %w", err)
	}
	ch.Action = change.Upgraded
	ch.Detail = fmt.Sprintf("chart %s from revision %d, other values reused: prometheusUrl=%s, prometheus.enabled=false",
		chartRef(rel), rel.Version, opts.PrometheusURL)
	if opts.KeepBundled {
		ch.Detail += " (--keep-bundled does not apply: the chart itself removes its Prometheus)"
	}
	ch.Patch = fmt.Sprintf("# helm upgrade %s --namespace %s --reuse-values <stored chart %s> with:\n%s", rel.Name, rel.Namespace, chartRef(rel), body)
	return step{change: ch, run: func(ctx context.Context, ch *change.Change) error {
		up, err := newUpgrade(c, rel, opts.HelmTimeout, "meshmon viz configure")
		if err != nil {
			return err
		}
		up.ReuseValues = true
		return runUpgrade(ctx, up, rel, vals, ch)
	}}, part, nil
}

// helmRestoreStep puts back the two values meshmon set, each only while it still holds
// meshmon's value, and upgrades with exactly the resulting values.
func helmRestoreStep(c Clients, rec *record, rel *releasev1.Release, timeout time.Duration) (step, error) {
	h := rec.Helm
	ch := change.Change{Kind: "HelmRelease", Namespace: rel.Namespace, Name: rel.Name}
	// A copy: helmvalues.Merge never modifies its inputs.
	config := helmvalues.Merge(rel.Config)
	var restored, kept []string
	if config[valuePrometheusURL] == rec.URL {
		setPrevious(config, valuePrometheusURL, h.PrometheusURL)
		restored = append(restored, valuePrometheusURL)
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
	body, err := yaml.Marshal(config)
	if err != nil {
		return step{}, fmt.Errorf("rendering Helm values: %w", err)
	}
	ch.Action = change.Upgraded
	ch.Detail = fmt.Sprintf("chart %s from revision %d: %v back to their values before meshmon (revision %d)", chartRef(rel), rel.Version, restored, h.Revision)
	if len(kept) > 0 {
		ch.Detail += fmt.Sprintf("; left as is: %v", kept)
	}
	ch.Patch = fmt.Sprintf("# helm upgrade %s --namespace %s --reset-values <stored chart %s> with:\n%s", rel.Name, rel.Namespace, chartRef(rel), body)
	return step{change: ch, run: func(ctx context.Context, ch *change.Change) error {
		up, err := newUpgrade(c, rel, timeout, "meshmon viz restore")
		if err != nil {
			return err
		}
		// The complete user-supplied values are given, so nothing else may be merged in.
		up.ResetValues = true
		return runUpgrade(ctx, up, rel, config, ch)
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

func runUpgrade(ctx context.Context, up *action.Upgrade, rel *releasev1.Release, vals map[string]any, ch *change.Change) error {
	r, err := up.RunWithContext(ctx, rel.Name, rel.Chart, vals)
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

func chartRef(rel *releasev1.Release) string {
	return rel.Chart.Metadata.Name + "-" + rel.Chart.Metadata.Version
}

func showValue(v any) string {
	if v == nil {
		return "unset"
	}
	return fmt.Sprintf("%q", fmt.Sprint(v))
}
