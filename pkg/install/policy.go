package install

import (
	"context"
	"errors"
	"fmt"

	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/linkerd"
	"github.com/meshmon/meshmon/pkg/policy"
	"github.com/meshmon/meshmon/pkg/release"
)

// PolicyInput is what the caller asks of the policy beyond what the cluster says.
type PolicyInput struct {
	// ReleaseName is meshmon's Prometheus release; PrometheusNamespace holds it ("" means
	// Env.Namespace).
	ReleaseName         string
	PrometheusNamespace string
	// AllowClients, AllowFederateFrom and MTLSAuthenticationName are policy.Spec's.
	AllowClients           []policy.ServiceAccountRef
	AllowFederateFrom      []string
	MTLSAuthenticationName string
}

// Policy is a spec built from the cluster and the clients to apply it with.
type Policy struct {
	Kube    *kube.Clients
	Clients policy.Clients
	Spec    policy.Spec
	Params  linkerd.Facts
	// Server is nil when the release is gone (delete may still run).
	Server *release.Server
}

// ReadPolicy reads the trust domain from linkerd-config and the Prometheus pods, port and
// ServiceAccount from the live release, and adds the namespaces where scrapes were
// already authorized (so they are kept, not reported stale). allowMissingServer lets
// delete run after the release is gone; the objects are then named from the defaults.
func (e *Env) ReadPolicy(ctx context.Context, in PolicyInput, allowMissingServer bool) (*Policy, error) {
	c, err := e.Clients()
	if err != nil {
		return nil, err
	}
	params, err := linkerd.Discover(ctx, c.Kube, e.LinkerdNamespace, e.VizNamespace)
	if err != nil {
		return nil, err
	}
	promNS := in.PrometheusNamespace
	if promNS == "" {
		promNS = e.Namespace
	}
	srv, err := release.FindServer(ctx, c.Kube, promNS, in.ReleaseName, params.ClusterDomain)
	switch {
	case errors.Is(err, release.ErrServerNotFound) && allowMissingServer:
		srv = nil
	case errors.Is(err, release.ErrServerNotFound):
		return nil, fmt.Errorf("%w\n(the policy protects meshmon's Prometheus: install it first with `%s install`, or name it with -n/--release-name)", err, e.Host)
	case err != nil:
		return nil, err
	}
	in.PrometheusNamespace = promNS
	return PolicyFor(ctx, c, params, in, srv)
}

// PolicyFor builds the spec for a Prometheus server the caller already found (or, for
// install --dry-run, the one its chart would create). A nil server names the objects from
// the defaults, which is all delete needs.
func PolicyFor(ctx context.Context, c *kube.Clients, params linkerd.Facts, in PolicyInput, srv *release.Server) (*Policy, error) {
	p := &Policy{Kube: c, Clients: policy.Clients{Dynamic: c.Dynamic, Kube: c.Kube}, Params: params, Server: srv}
	spec := policy.Spec{
		VizNamespace: params.VizNamespace, PrometheusNamespace: in.PrometheusNamespace,
		LinkerdNamespace: params.LinkerdNamespace, TrustDomain: params.TrustDomain,
		AllowClients: in.AllowClients, AllowFederateFrom: in.AllowFederateFrom, MTLSAuthenticationName: in.MTLSAuthenticationName,
	}
	if srv == nil {
		// Only names and the instance label matter for deleting; these are the defaults.
		spec.ServerPodLabels = map[string]string{"app.kubernetes.io/instance": in.ReleaseName}
	} else {
		spec.ServerPodLabels = srv.SelectorLabels
		if len(spec.ServerPodLabels) == 0 {
			spec.ServerPodLabels = srv.PodLabels
		}
		spec.PrometheusServiceAccount = srv.ServiceAccount
		// The policy Server matches pod ports, not Service ports.
		chain, err := srv.ContainerPort(srv.Containers)
		if err != nil {
			return nil, err
		}
		spec.Port = int(chain.ContainerPort)
	}
	nss, err := policy.AllowedScrapeNamespaces(ctx, p.Clients, spec)
	if err != nil && !errors.Is(err, policy.ErrCRDsNotInstalled) {
		return nil, err
	}
	spec.ScrapeNamespaces = nss
	p.Spec = spec
	return p, nil
}
