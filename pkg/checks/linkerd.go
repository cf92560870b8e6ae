package checks

import (
	"context"
	"fmt"

	"github.com/meshmon/meshmon/pkg/healthcheck"
	"github.com/meshmon/meshmon/pkg/viz"
)

// Linkerd checks that the control plane and linkerd-viz are there, and
// reads the facts the other categories depend on.
func Linkerd(e *Env) healthcheck.Category {
	return healthcheck.Category{
		Name: CategoryLinkerd,
		Checks: []healthcheck.Check{
			{
				ID:          idLinkerdConfig,
				Description: "Linkerd control plane is installed",
				HintAnchor:  "mm-linkerd-config",
				Fatal:       true,
				Needs:       []string{idAPI},
				Run: func(ctx context.Context) error {
					p, err := e.linkerdParams(ctx)
					if err != nil {
						return err
					}
					return healthcheck.Detail(fmt.Sprintf("\t* namespace %s, trust domain %s, cluster domain %s", p.LinkerdNamespace, p.TrustDomain, p.ClusterDomain))
				},
			},
			{
				ID:          idViz,
				Description: "linkerd-viz is installed",
				HintAnchor:  "mm-viz-installed",
				Fatal:       true,
				Needs:       []string{idAPI},
				Run: func(ctx context.Context) error {
					ns, err := e.vizNamespace(ctx)
					if err != nil {
						return err
					}
					return healthcheck.Detail("\t* namespace " + ns)
				},
			},
			{
				Description: "linkerd-viz install method is known",
				HintAnchor:  "mm-viz-method",
				Warning:     true,
				Needs:       []string{idViz},
				Run:         e.checkVizMethod,
			},
		},
	}
}

func (e *Env) checkVizMethod(ctx context.Context) error {
	kc, err := e.kube(ctx)
	if err != nil {
		return err
	}
	ns, err := e.vizNamespace(ctx)
	if err != nil {
		return err
	}
	in, err := viz.Detect(ctx, viz.Clients{Kube: kc, Helm: e.deps.Helm}, ns)
	if err != nil {
		return err
	}
	if in.Method == viz.MethodHelm && in.Release != nil {
		return healthcheck.Detail(fmt.Sprintf("\t* installed with Helm (release %s/%s revision %d, chart %s)", in.Release.Namespace, in.Release.Name, in.Release.Revision, in.Release.ChartVersion))
	}
	return healthcheck.Detail("\t* installed with the linkerd CLI (" + in.Version + ")")
}
