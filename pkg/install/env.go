// Package install is meshmon's pipelines: install and uninstall as ordered steps over the
// domain packages (release, viz, policy, checks), and the cluster reads the policy, viz
// and check commands share with them. It knows nothing of flags or cobra: a caller fills
// Env and the options and reads the report from Env.Out.
package install

import (
	"context"
	"errors"
	"fmt"
	"io"

	"helm.sh/helm/v4/pkg/action"

	"github.com/meshmon/meshmon/pkg/checks"
	"github.com/meshmon/meshmon/pkg/helmclient"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/linkerd"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/ui"
	"github.com/meshmon/meshmon/pkg/viz"
)

// Env is where a pipeline runs: the cluster, the streams it reports on, and the names its
// messages use.
type Env struct {
	// Clients returns the cluster's clients; steps call it when they first need them.
	Clients func() (*kube.Clients, error)
	// Out receives the report (and, in a dry run, what would be applied); UI carries
	// progress and warnings to stderr.
	Out io.Writer
	UI  *ui.UI
	// Host is what users type to run meshmon, e.g. "kubectl meshmon"; messages that name
	// a command use it.
	Host string
	// HelmLog receives Helm's own log lines; nil discards them.
	HelmLog io.Writer
	// NewTarget connects Helm to release name in namespace; nil means through the
	// clients' kubeconfig. Tests put Helm's memory storage here.
	NewTarget func(c *kube.Clients, namespace, name string) (*release.Target, error)
	// Namespace holds meshmon's release; LinkerdNamespace and VizNamespace are where
	// Linkerd and linkerd-viz run.
	Namespace        string
	LinkerdNamespace string
	VizNamespace     string
}

// InputError is a failure caused by what the caller asked for (a flag's value), not by
// the cluster.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// Target connects Helm to release name in e.Namespace.
func (e *Env) Target(name string) (*release.Target, error) {
	c, err := e.Clients()
	if err != nil {
		return nil, err
	}
	return e.target(c, name)
}

func (e *Env) target(c *kube.Clients, name string) (*release.Target, error) {
	if e.NewTarget != nil {
		return e.NewTarget(c, e.Namespace, name)
	}
	return release.NewTarget(c.Flags, c.Kube, e.Namespace, name, e.HelmLog)
}

// Server reads meshmon's Prometheus server of release name from the cluster: its Service
// gives the URL (with the cluster domain from linkerd-config), its workload the pods and
// ServiceAccount. A missing server is an error wrapping release.ErrServerNotFound.
func (e *Env) Server(ctx context.Context, name string) (*release.Server, error) {
	c, err := e.Clients()
	if err != nil {
		return nil, err
	}
	p, err := linkerd.Discover(ctx, c.Kube, e.LinkerdNamespace, e.VizNamespace)
	if err != nil {
		return nil, err
	}
	return release.FindServer(ctx, c.Kube, e.Namespace, name, p.ClusterDomain)
}

// VizClients wires the Kubernetes client and Helm (release storage in Secrets) for pkg/viz.
func VizClients(c *kube.Clients) viz.Clients {
	return viz.Clients{
		Kube: c.Kube,
		Helm: func(namespace string) (*action.Configuration, error) {
			return helmclient.New(c.Flags, namespace, nil)
		},
	}
}

// SuiteDeps are the health checks' clients, built from clients when a check first needs
// them.
func SuiteDeps(clients func() (*kube.Clients, error)) checks.Deps {
	helm := func(namespace string) (*action.Configuration, error) {
		c, err := clients()
		if err != nil {
			return nil, err
		}
		return VizClients(c).Helm(namespace)
	}
	return checks.Deps{
		Clients: func() (*checks.Clients, error) {
			c, err := clients()
			if err != nil {
				return nil, err
			}
			return &checks.Clients{Kube: c.Kube, Dynamic: c.Dynamic, Config: c.Config, Host: c.Config.Host, Context: c.Context}, nil
		},
		Releases: checks.HelmReleases(helm),
		Helm:     helm,
	}
}

// ExplainNotInstalled adds the fix to a missing release.
func (e *Env) ExplainNotInstalled(err error) error {
	if errors.Is(err, release.ErrNotInstalled) {
		return fmt.Errorf("%w: install it first with '%s install'", err, e.Host)
	}
	return err
}

func (e *Env) warn(msg string) {
	fmt.Fprintf(e.UI.Err, "%s %s\n", e.UI.ErrStyle().Yellow("‼ warning:"), msg)
}
