// Package kube builds Kubernetes clients from the standard kubectl flags.
package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	// Auth plugins (exec, OIDC) so every kubeconfig kubectl accepts works here.
	_ "k8s.io/client-go/plugin/pkg/client/auth"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	meshversion "github.com/meshmon/meshmon/pkg/version"
)

// QPS and Burst replace client-go's 5/10 defaults, which throttle a check
// suite or an install wait loop into visible pauses on any real cluster.
const (
	QPS   = 50
	Burst = 100
)

// NewConfigFlags returns kubectl's standard flags with meshmon's client
// tuning applied. The caller adds them to its flag set.
func NewConfigFlags() *genericclioptions.ConfigFlags {
	return genericclioptions.NewConfigFlags(true).
		WithDiscoveryBurst(300).
		WithDiscoveryQPS(50).
		WithWrapConfigFn(func(c *rest.Config) *rest.Config {
			c.QPS = QPS
			c.Burst = Burst
			c.UserAgent = meshversion.UserAgent()
			return c
		})
}

// Clients is everything meshmon uses to talk to one cluster.
type Clients struct {
	Flags     *genericclioptions.ConfigFlags
	Config    *rest.Config
	Kube      kubernetes.Interface
	Dynamic   dynamic.Interface
	Discovery discovery.CachedDiscoveryInterface
	Mapper    meta.RESTMapper
	// Context is the kubeconfig context in use ("" when none).
	Context string
	// Namespace is -n, or the context's namespace, or "default".
	Namespace string
	// NamespaceExplicit is true when the user passed -n/--namespace.
	NamespaceExplicit bool
}

// NewClients loads the kubeconfig selected by flags and builds the clients.
// It does not contact the cluster; see Clients.ServerVersion for that.
func NewClients(flags *genericclioptions.ConfigFlags) (*Clients, error) {
	loader := flags.ToRawKubeConfigLoader()
	raw, err := loader.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	ctxName := raw.CurrentContext
	if flags.Context != nil && *flags.Context != "" {
		ctxName = *flags.Context
	}
	if ctxName != "" {
		if _, ok := raw.Contexts[ctxName]; !ok {
			return nil, fmt.Errorf("kubeconfig context %q does not exist; available contexts: %s (choose one with --context)",
				ctxName, contextList(raw.Contexts))
		}
	}
	cfg, err := flags.ToRESTConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, errors.New("no Kubernetes cluster configured: set KUBECONFIG, pass --kubeconfig, or create ~/.kube/config")
		}
		return nil, fmt.Errorf("building client configuration: %w", err)
	}
	ns, explicit, err := loader.Namespace()
	if err != nil {
		return nil, fmt.Errorf("reading namespace from kubeconfig: %w", err)
	}
	if flags.Namespace != nil && *flags.Namespace != "" {
		ns, explicit = *flags.Namespace, true
	}
	// Built-in types come as protobuf: a fraction of JSON's size and decoding
	// time, which is what a list of every meshed pod costs.
	kcfg := rest.CopyConfig(cfg)
	kcfg.ContentType = "application/vnd.kubernetes.protobuf"
	kcfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	kc, err := kubernetes.NewForConfig(kcfg)
	if err != nil {
		return nil, fmt.Errorf("creating Kubernetes client: %w", err)
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating dynamic client: %w", err)
	}
	disc, err := flags.ToDiscoveryClient()
	if err != nil {
		return nil, fmt.Errorf("creating discovery client: %w", err)
	}
	mapper, err := flags.ToRESTMapper()
	if err != nil {
		return nil, fmt.Errorf("creating REST mapper: %w", err)
	}
	return &Clients{
		Flags: flags, Config: cfg, Kube: kc, Dynamic: dc, Discovery: disc, Mapper: mapper,
		Context: ctxName, Namespace: ns, NamespaceExplicit: explicit,
	}, nil
}

func contextList(m map[string]*clientcmdapi.Context) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	if len(names) == 0 {
		return "(none)"
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// ServerVersion asks the API server for its version. A failure is turned
// into an error that says whether the server is unreachable or refusing us.
func (c *Clients) ServerVersion(ctx context.Context) (*version.Info, error) {
	body, err := c.Kube.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return nil, Unreachable(c.Config.Host, c.Context, err)
	}
	var info version.Info
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, fmt.Errorf("decoding /version from %s: %w", c.Config.Host, err)
	}
	return &info, nil
}

// Unreachable explains a failed first contact with the API server.
func Unreachable(host, kubeContext string, err error) error {
	var ne net.Error
	var ue *url.Error
	where := ""
	if host != "" {
		where = " at " + host
	}
	if kubeContext != "" {
		where += fmt.Sprintf(" (context %q)", kubeContext)
	}
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("the Kubernetes API server%s did not answer in time: %w; check that the cluster is running and reachable (a slow link needs a larger --request-timeout)", where, err)
	}
	if errors.As(err, &ne) || errors.As(err, &ue) {
		return fmt.Errorf("cannot reach the Kubernetes API server%s: %w; check that the cluster is running and that --context/--kubeconfig select it", where, err)
	}
	return fmt.Errorf("querying the Kubernetes API server%s: %w", where, err)
}
