package install

import (
	"context"

	"github.com/meshmon/meshmon/pkg/checks"
	"github.com/meshmon/meshmon/pkg/healthcheck"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/policy"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/viz"
)

// meshSteps says which of install's steps after the release will run.
type meshSteps struct {
	viz, heartbeat, policy bool
	// vizChart and prometheusURL say which chart a Helm-installed viz is upgraded with, and
	// to what; an empty prometheusURL skips loading the chart (check --pre).
	vizChart      viz.ChartOptions
	prometheusURL string
}

// meshAccess are the permissions the viz and policy steps need, as their packages state
// them, checked in preflight so that a user who may install the chart but not rewire viz
// is stopped before the release is written.
func meshAccess(vizNS, linkerdNS string, s meshSteps) []kube.Access {
	var a []kube.Access
	if s.viz {
		a = append(a, viz.RequiredAccess(vizNS, linkerdNS, s.heartbeat)...)
	}
	if s.policy {
		a = append(a, policy.RequiredAccess(vizNS)...)
	}
	return a
}

// meshPreflight are the preconditions of the viz and policy steps beyond
// permissions: how viz was installed must be clear (a viz rendered by GitOps
// cannot be rewired by patching it), and the policy API must be served.
func meshPreflight(c *kube.Clients, vizNS string, s meshSteps) []func(context.Context) release.PreflightResult {
	var steps []func(context.Context) release.PreflightResult
	if s.viz {
		steps = append(steps, func(ctx context.Context) release.PreflightResult {
			r := release.PreflightResult{Description: "linkerd-viz in " + vizNS + " can be rewired"}
			in, err := viz.Detect(ctx, VizClients(c), vizNS)
			if err != nil {
				r.Err = err
				return r
			}
			r.Note = in.Describe()
			if s.prometheusURL != "" {
				r.Err = viz.CheckChart(ctx, VizClients(c), in, s.vizChart, s.prometheusURL)
			}
			return r
		})
	}
	if s.policy {
		steps = append(steps, func(ctx context.Context) release.PreflightResult {
			return release.PreflightResult{
				Description: "the Linkerd policy API (policy.linkerd.io) is served",
				Err:         policy.Served(ctx, policy.Clients{Dynamic: c.Dynamic, Kube: c.Kube}),
			}
		})
	}
	return steps
}

// PreflightCategory runs install's preflight (with install's defaults: every step, the
// chart's usual objects) for release name, asking for storageClass as install would, and
// shows its results in the check format: what `check --pre` prints is exactly what
// install checks before writing.
func (e *Env) PreflightCategory(ctx context.Context, name, storageClass string) healthcheck.Category {
	c, err := e.Clients()
	if err == nil {
		var t *release.Target
		if t, err = e.target(c, name); err == nil {
			steps := meshSteps{viz: true, policy: true}
			return preflightCategory(release.Preflight(ctx, t, release.PreflightOptions{
				LinkerdNamespace: e.LinkerdNamespace,
				VizNamespace:     e.VizNamespace,
				StorageClass:     storageClass,
				Mapper:           c.Mapper,
				Extra:            meshAccess(e.VizNamespace, e.LinkerdNamespace, steps),
				Steps:            meshPreflight(c, e.VizNamespace, steps),
			}))
		}
	}
	return preflightCategory([]release.PreflightResult{{Description: "can initialize the Kubernetes client", Err: err}})
}

func preflightCategory(results []release.PreflightResult) healthcheck.Category {
	cat := healthcheck.Category{Name: "meshmon-pre-install"}
	for _, r := range results {
		cat.Checks = append(cat.Checks, healthcheck.Check{
			Description: r.Description,
			HintAnchor:  "mm-preflight",
			Warning:     r.Warning,
			Run: func(context.Context) error {
				switch {
				case r.Err != nil:
					return r.Err
				case r.Note != "":
					return healthcheck.Detail("\t* " + r.Note)
				}
				return nil
			},
		})
	}
	return cat
}

// RequiredAccess is what a default install (every step, the chart's usual objects) into
// namespace does, with linkerd-viz in vizNS and Linkerd in linkerdNS: the release's writes
// that preflight checks, the viz and policy steps, granting Prometheus its ClusterRole, and
// the checks it ends with. The published install role (docs/rbac/install.yaml) is
// generated from it.
func RequiredAccess(namespace, vizNS, linkerdNS string) ([]kube.Access, error) {
	a, err := release.ChartAccess(context.Background(), "", namespace, nil)
	if err != nil {
		return nil, err
	}
	a = append(a, meshAccess(vizNS, linkerdNS, meshSteps{viz: true, heartbeat: true, policy: true})...)
	a = append(a, kube.Access{Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Verbs: []string{"escalate", "bind"},
		Why: "to grant Prometheus its ClusterRole (reading pods, services and endpoints cluster-wide) without holding those permissions yourself"})
	return append(a, checks.RequiredAccess(namespace, vizNS, linkerdNS)...), nil
}
