package cli

import (
	"context"

	"github.com/meshmon/meshmon/pkg/healthcheck"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/policy"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/viz"
)

// meshSteps says which of install's steps after the release will run.
type meshSteps struct {
	viz, heartbeat, policy bool
}

// meshAccess are the permissions the viz and policy steps need, checked in
// preflight so that a user who may install the chart but not rewire viz is
// stopped before the release is written.
func meshAccess(vizNS, linkerdNS string, s meshSteps) []release.Access {
	var a []release.Access
	if s.viz {
		a = append(a,
			release.Access{Group: "", Resource: "namespaces", Verbs: []string{"get", "patch"}, Kind: "Namespaces", Why: "to annotate linkerd-viz's namespace with the external Prometheus"},
			release.Access{Group: "apps", Resource: "deployments", Namespace: vizNS, Verbs: []string{"get", "patch", "delete"}, Kind: "Deployments", Why: "to point metrics-api at the new Prometheus and remove the bundled one"},
			release.Access{Group: "", Resource: "configmaps", Namespace: vizNS, Verbs: []string{"get", "create", "update"}, Kind: "ConfigMaps", Why: "to keep a backup of the bundled Prometheus for 'viz restore'"},
		)
		if s.heartbeat {
			a = append(a, release.Access{Group: "batch", Resource: "cronjobs", Namespace: linkerdNS, Verbs: []string{"get", "patch"}, Kind: "CronJobs", Why: "to point the heartbeat at the new Prometheus"})
		}
	}
	if s.policy {
		for _, r := range []string{"servers", "authorizationpolicies", "meshtlsauthentications", "networkauthentications"} {
			a = append(a, release.Access{Group: policy.Group, Resource: r, Namespace: vizNS, Verbs: []string{"get", "create", "patch"}, Kind: r, Why: "to protect Prometheus with Linkerd policy"})
		}
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
			in, err := viz.Detect(ctx, vizClients(c), vizNS)
			if err != nil {
				r.Err = err
				return r
			}
			r.Note = describeInstall(in)
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

// preflightCategory shows preflight results in the check format: what
// `check --pre` prints is exactly what install checks before writing.
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
