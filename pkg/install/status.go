package install

import (
	"context"
	"fmt"

	"github.com/meshmon/meshmon/pkg/linkerd"
	"github.com/meshmon/meshmon/pkg/release"
)

// Status reads release name at a glance. Its URL needs Linkerd's cluster domain and
// everything else does not: when linkerd-config cannot be read the URL is left out and
// the status comes with a warning saying why.
func (e *Env) Status(ctx context.Context, name string) (*release.Status, string, error) {
	t, err := e.Target(name)
	if err != nil {
		return nil, "", err
	}
	warning := ""
	domain, err := e.clusterDomain(ctx, t)
	if err != nil {
		warning = fmt.Sprintf("the URL is left out: reading the cluster domain from %s: %v", linkerd.ConfigMapName, err)
	}
	s, err := release.GetStatus(ctx, t, domain)
	if err != nil {
		return s, warning, err
	}
	if c, cerr := e.Clients(); cerr == nil && c.Config != nil {
		s.ReadPrometheus(ctx, c.Config, t.Kube, domain)
	}
	return s, warning, nil
}

func (e *Env) clusterDomain(ctx context.Context, t *release.Target) (string, error) {
	facts, err := linkerd.ReadConfig(ctx, t.Kube, e.LinkerdNamespace)
	if err != nil {
		return "", err
	}
	return facts.ClusterDomain, nil
}
