package checks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"helm.sh/helm/v4/pkg/action"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/linkerd"
	"github.com/meshmon/meshmon/pkg/prom"
	"github.com/meshmon/meshmon/pkg/release"
)

// Options say what to check and where.
type Options struct {
	// ReleaseName is the Prometheus Helm release; "" means defaults.ReleaseName.
	ReleaseName string
	// Namespace holds the release; "" means the viz namespace.
	Namespace string
	// LinkerdNamespace is the control plane's; "" means defaults.LinkerdNamespace.
	LinkerdNamespace string
	// VizNamespace is linkerd-viz's; "" means the one namespace labelled linkerd.io/extension=viz.
	VizNamespace string
	// PrometheusURL, when set, is used instead of a port-forward to the server pod.
	PrometheusURL string
	// DashboardURL, when set, is used instead of a port-forward to viz's web pod.
	DashboardURL string
	// Proxy limits the health suite to the data-plane checks.
	Proxy bool
	// DataPlaneNamespace limits the data-plane checks to one namespace; ""
	// means all.
	DataPlaneNamespace string
	// Categories, when not empty, limits the run to these categories (with or
	// without the "meshmon-" prefix) and the ones they depend on.
	Categories []string
}

// Clients are the cluster clients the checks use.
type Clients struct {
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	// Config is needed for port-forwards; nil disables them.
	Config *rest.Config
	// Host and Context name the cluster in messages.
	Host    string
	Context string
}

// Tunnel is an open port-forward.
type Tunnel struct {
	// Addr is the local end, host:port.
	Addr string
	// Pod is the pod it reaches.
	Pod string
	// Stop closes the tunnel.
	Stop func()
	// LastError explains the last connection the tunnel failed to carry.
	LastError func() error
}

// PortForwarder opens a tunnel to a Ready pod of target.
type PortForwarder func(ctx context.Context, c *Clients, target kube.ForwardTarget) (*Tunnel, error)

// ReleaseReader returns every stored revision of a Helm release; an error
// wrapping driver.ErrReleaseNotFound means there is none.
type ReleaseReader func(ctx context.Context, namespace, name string) ([]*releasev1.Release, error)

// Deps are the outside world: clients and ways to reach pods. Clients is
// required; nil fields get the real implementation.
type Deps struct {
	// Clients connects to the cluster; its error becomes the first check's failure.
	Clients func() (*Clients, error)
	// Releases reads Helm releases.
	Releases ReleaseReader
	// Helm makes a Helm configuration for a namespace, to read a
	// Helm-installed linkerd-viz; nil when no Helm releases can be read.
	Helm func(namespace string) (*action.Configuration, error)
	// PortForward opens tunnels; nil uses kube.PortForward.
	PortForward PortForwarder
	// PodLog reads a container's log; nil uses the pods/log API of Clients.Kube.
	PodLog func(ctx context.Context, kc kubernetes.Interface, namespace, pod string, opts *corev1.PodLogOptions) ([]byte, error)
	// Transport carries HTTP requests to Prometheus and the dashboard; nil
	// uses a clone of http.DefaultTransport.
	Transport http.RoundTripper
}

// HelmReleases reads releases through Helm's own storage (Secrets), with a
// Helm configuration made by newConfig for the release's namespace. It reads the
// storage directly, not through Helm's history action, which first asks the API
// server for /version: the suite's connectivity check has asked that already.
func HelmReleases(newConfig func(namespace string) (*action.Configuration, error)) ReleaseReader {
	return func(_ context.Context, namespace, name string) ([]*releasev1.Release, error) {
		cfg, err := newConfig(namespace)
		if err != nil {
			return nil, err
		}
		revs, err := cfg.Releases.History(name)
		if err != nil {
			return nil, err
		}
		out := make([]*releasev1.Release, 0, len(revs))
		for _, r := range revs {
			switch rel := r.(type) {
			case *releasev1.Release:
				out = append(out, rel)
			case releasev1.Release:
				out = append(out, &rel)
			default:
				return nil, fmt.Errorf("release %s/%s: unsupported Helm release type %T", namespace, name, r)
			}
		}
		return out, nil
	}
}

// Env is the state the checks of one run share: clients, and what earlier
// checks found, each fetched once. Values are cached only on success, and a
// check that fails drops the values it judged, so a retry (--wait) looks
// again. Close it when the run is over.
type Env struct {
	opts Options
	deps Deps

	clients    lazy[*Clients]
	linkerd    lazy[linkerd.Facts]
	vizNS      lazy[*corev1.Namespace]
	server     lazy[*release.Server]
	serverPods lazy[[]corev1.Pod]
	workload   lazy[*workload]
	claims     lazy[*claims]
	releases   lazy[[]*releasev1.Release]
	// metricsAPI is nil when viz has no metrics-api Deployment.
	metricsAPI lazy[*appsv1.Deployment]
	promConn   lazy[*promConn]
	promConfig lazy[*prom.Config]
	targets    lazy[prom.TargetSummary]
	runtime    lazy[prom.RuntimeInfo]
	flags      lazy[map[string]string]
	dashboard  lazy[*dashboardConn]
	policy     lazy[*policyState]
	authz      lazy[prom.ServerAuthz]
	operator   lazy[*operatorState]
	rw         lazy[*rwState]
	rwQueues   lazy[[]prom.RemoteQueue]
	rwLog      lazy[[]byte]

	mu      sync.Mutex
	tunnels []*Tunnel
}

// NewEnv prepares a run.
func NewEnv(opts Options, deps Deps) *Env {
	if opts.ReleaseName == "" {
		opts.ReleaseName = defaults.ReleaseName
	}
	if opts.LinkerdNamespace == "" {
		opts.LinkerdNamespace = defaults.LinkerdNamespace
	}
	if deps.PortForward == nil {
		deps.PortForward = kubePortForward
	}
	if deps.PodLog == nil {
		deps.PodLog = func(ctx context.Context, kc kubernetes.Interface, ns, pod string, opts *corev1.PodLogOptions) ([]byte, error) {
			return kc.CoreV1().Pods(ns).GetLogs(pod, opts).DoRaw(ctx)
		}
	}
	if deps.Transport == nil {
		deps.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if deps.Releases == nil {
		deps.Releases = func(context.Context, string, string) ([]*releasev1.Release, error) {
			return nil, errors.New("reading Helm releases is not configured")
		}
	}
	return &Env{opts: opts, deps: deps}
}

// Close stops every port-forward the run opened.
func (e *Env) Close() {
	e.mu.Lock()
	tunnels := e.tunnels
	e.tunnels = nil
	e.mu.Unlock()
	for _, t := range tunnels {
		t.Stop()
	}
}

func (e *Env) track(t *Tunnel) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tunnels = append(e.tunnels, t)
}

func kubePortForward(ctx context.Context, c *Clients, t kube.ForwardTarget) (*Tunnel, error) {
	f, err := kube.PortForward(ctx, c.Config, c.Kube, t)
	if err != nil {
		return nil, err
	}
	return &Tunnel{Addr: f.Addr, Pod: f.Pod, Stop: f.Stop, LastError: f.LastError}, nil
}

// Clients returns the cluster clients.
func (e *Env) Clients(ctx context.Context) (*Clients, error) {
	return e.clients.get(ctx, func(context.Context) (*Clients, error) {
		if e.deps.Clients == nil {
			return nil, errors.New("no Kubernetes client configured")
		}
		c, err := e.deps.Clients()
		if err != nil {
			return nil, err
		}
		if c == nil || c.Kube == nil {
			return nil, errors.New("no Kubernetes client configured")
		}
		// Checks read the same Deployments, Namespaces and discovery
		// documents; within one pass over the suite they share one read.
		shared := *c
		shared.Kube = kube.SharedReads(c.Kube, sharedReadTTL)
		if c.Dynamic != nil {
			shared.Dynamic = kube.SharedDynamicReads(c.Dynamic, sharedReadTTL)
		}
		return &shared, nil
	})
}

// sharedReadTTL is how long one read is shared: well under the pause before
// a retried check (healthcheck.DefaultRetryInterval), so a retry reads anew.
const sharedReadTTL = 500 * time.Millisecond

func (e *Env) kube(ctx context.Context) (kubernetes.Interface, error) {
	c, err := e.Clients(ctx)
	if err != nil {
		return nil, err
	}
	return c.Kube, nil
}

// linkerdParams reads linkerd-config (VizNamespace is left empty).
func (e *Env) linkerdParams(ctx context.Context) (linkerd.Facts, error) {
	return e.linkerd.get(ctx, func(ctx context.Context) (linkerd.Facts, error) {
		kc, err := e.kube(ctx)
		if err != nil {
			return linkerd.Facts{}, err
		}
		return linkerd.ReadConfig(ctx, kc, e.opts.LinkerdNamespace)
	})
}

// vizNamespace finds linkerd-viz's namespace.
func (e *Env) vizNamespace(ctx context.Context) (string, error) {
	ns, err := e.vizNamespaceObject(ctx)
	if err != nil {
		return "", err
	}
	return ns.Name, nil
}

func (e *Env) vizNamespaceObject(ctx context.Context) (*corev1.Namespace, error) {
	return e.vizNS.get(ctx, func(ctx context.Context) (*corev1.Namespace, error) {
		kc, err := e.kube(ctx)
		if err != nil {
			return nil, err
		}
		return linkerd.FindVizNamespace(ctx, kc, e.opts.VizNamespace)
	})
}

// promNamespace is where the release lives.
func (e *Env) promNamespace(ctx context.Context) (string, error) {
	if e.opts.Namespace != "" {
		return e.opts.Namespace, nil
	}
	return e.vizNamespace(ctx)
}

// Server finds the release's Prometheus server Service and workload.
func (e *Env) Server(ctx context.Context) (*release.Server, error) {
	return e.server.get(ctx, func(ctx context.Context) (*release.Server, error) {
		kc, err := e.kube(ctx)
		if err != nil {
			return nil, err
		}
		ns, err := e.promNamespace(ctx)
		if err != nil {
			return nil, err
		}
		p, err := e.linkerdParams(ctx)
		if err != nil {
			return nil, err
		}
		return release.FindServer(ctx, kc, ns, e.opts.ReleaseName, p.ClusterDomain)
	})
}

// serverSelector selects the server pods: the workload's own selector when
// known, else the labels the chart puts on every server object.
func serverSelector(s *release.Server) string {
	if len(s.SelectorLabels) > 0 {
		return labels.SelectorFromSet(s.SelectorLabels).String()
	}
	return release.ServerSelector(s.Release).String()
}

// ServerPods lists the Prometheus server pods once.
func (e *Env) ServerPods(ctx context.Context) ([]corev1.Pod, error) {
	return e.serverPods.get(ctx, func(ctx context.Context) ([]corev1.Pod, error) {
		s, err := e.Server(ctx)
		if err != nil {
			return nil, err
		}
		kc, err := e.kube(ctx)
		if err != nil {
			return nil, err
		}
		list, err := kc.CoreV1().Pods(s.Namespace).List(ctx, metav1.ListOptions{LabelSelector: serverSelector(s)})
		if err != nil {
			return nil, kube.ExplainAPIError("list", "pods", s.Namespace, "", err)
		}
		return list.Items, nil
	})
}

// Releases reads the Helm release's revisions, newest first.
func (e *Env) Releases(ctx context.Context) ([]*releasev1.Release, error) {
	return e.releases.get(ctx, func(ctx context.Context) ([]*releasev1.Release, error) {
		ns, err := e.promNamespace(ctx)
		if err != nil {
			return nil, err
		}
		revs, err := e.deps.Releases(ctx, ns, e.opts.ReleaseName)
		if err != nil {
			if errors.Is(err, driver.ErrReleaseNotFound) {
				return nil, fmt.Errorf("no Helm release %q in namespace %s: install it with `meshmon install` (or pass -n/--release-name if it lives elsewhere)", e.opts.ReleaseName, ns)
			}
			return nil, fmt.Errorf("reading Helm release %s/%s: %w", ns, e.opts.ReleaseName, err)
		}
		sortNewestFirst(revs)
		return revs, nil
	})
}

// Installed reports whether meshmon's Prometheus exists in the cluster at
// all: a Helm release or a server Service. An error means the question
// could not be answered (then the checks themselves should run and say why).
func (e *Env) Installed(ctx context.Context) (bool, error) {
	kc, err := e.kube(ctx)
	if err != nil {
		return false, err
	}
	ns, err := e.promNamespace(ctx)
	if err != nil {
		return false, err
	}
	svcs, err := kc.CoreV1().Services(ns).List(ctx, metav1.ListOptions{LabelSelector: release.ServerSelector(e.opts.ReleaseName).String()})
	if err != nil {
		return false, kube.ExplainAPIError("list", "services", ns, "", err)
	}
	if len(svcs.Items) > 0 {
		return true, nil
	}
	_, err = e.deps.Releases(ctx, ns, e.opts.ReleaseName)
	switch {
	case errors.Is(err, driver.ErrReleaseNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

func (e *Env) httpClient() *http.Client {
	return &http.Client{Transport: e.deps.Transport}
}
