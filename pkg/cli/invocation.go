package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/klog/v2"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/install"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/ui"
)

// invocation is one run of the program: the host, the streams, the global flags and the
// clients built from them (once, on first use). Every command of the run shares it.
type invocation struct {
	host    Host
	streams genericiooptions.IOStreams
	getenv  func(string) string

	kubeFlags        *genericclioptions.ConfigFlags
	color            string
	colorMode        ui.ColorMode
	linkerdNamespace string
	vizNamespace     string
	apiAddr          string
	verbose          bool

	clients *kube.Clients
	// newTarget, when set (tests), connects Helm instead of the kubeconfig's cluster.
	newTarget func(c *kube.Clients, namespace, name string) (*release.Target, error)
}

func newInvocation(host Host, streams genericiooptions.IOStreams, getenv func(string) string) *invocation {
	if getenv == nil {
		getenv = os.Getenv
	}
	return &invocation{
		host:             host,
		streams:          streams,
		getenv:           getenv,
		kubeFlags:        kube.NewConfigFlags(),
		color:            string(ui.ColorAuto),
		linkerdNamespace: defaults.LinkerdNamespace,
		vizNamespace:     defaults.VizNamespace,
	}
}

func (inv *invocation) addFlags(root *cobra.Command) {
	pf := root.PersistentFlags()
	inv.kubeFlags.AddFlags(pf)
	pf.StringVar(&inv.color, "color", inv.color, "When to colour output: auto, always or never (NO_COLOR and TERM=dumb are honoured in auto)")
	pf.StringVarP(&inv.linkerdNamespace, "linkerd-namespace", "L", inv.linkerdNamespace, "Namespace of the Linkerd control plane")
	pf.StringVar(&inv.vizNamespace, "viz-namespace", inv.vizNamespace, "Namespace of linkerd-viz (also meshmon's default install namespace)")
	if inv.host.Linkerd {
		// What `linkerd check` and `linkerd <ext>` pass through.
		pf.StringVar(&inv.apiAddr, "api-addr", "", "Override kubeconfig and talk to the Kubernetes API at this host:port (as in the linkerd CLI)")
		pf.BoolVar(&inv.verbose, "verbose", false, "Turn on debug logging of Kubernetes client requests")
	}
}

// complete derives the shared flags' state; it runs before every command and
// must not contact the cluster.
func (inv *invocation) complete(_ *cobra.Command) error {
	mode, err := ui.ParseColorMode(inv.color)
	if err != nil {
		return usageError("%w", err)
	}
	inv.colorMode = mode
	if inv.apiAddr != "" {
		server := inv.apiAddr
		if !strings.Contains(server, "://") {
			server = "https://" + server
		}
		inv.kubeFlags.APIServer = &server
	}
	if inv.verbose {
		// klog keeps its verbosity globally; 6 logs every request URL.
		fs := flag.NewFlagSet("klog", flag.ContinueOnError)
		klog.InitFlags(fs)
		if err := fs.Set("v", "6"); err != nil {
			return fmt.Errorf("enabling verbose logging: %w", err)
		}
	} else {
		// client-go's watches log every reconnect (an API server restarting mid-install)
		// through klog straight to stderr, between meshmon's progress lines; meshmon
		// reports what matters itself.
		klog.LogToStderr(false)
		klog.SetOutput(io.Discard)
	}
	return nil
}

// ui returns the presentation decisions for this invocation; quiet is set
// for machine-readable output so nothing but the document is printed.
func (inv *invocation) ui(quiet bool) *ui.UI {
	u := ui.New(inv.streams.Out, inv.streams.ErrOut, inv.colorMode, inv.getenv)
	u.Quiet = quiet
	return u
}

// kubeClients builds the clients once.
func (inv *invocation) kubeClients() (*kube.Clients, error) {
	if inv.clients != nil {
		return inv.clients, nil
	}
	c, err := kube.NewClients(inv.kubeFlags)
	if err != nil {
		return nil, err
	}
	inv.clients = c
	return c, nil
}

// namespace is where meshmon's release lives: -n if given, else the viz
// namespace (the kubeconfig context's namespace is deliberately ignored:
// Prometheus for Linkerd belongs next to viz, not in "default").
func (inv *invocation) namespace() string {
	if inv.kubeFlags.Namespace != nil && *inv.kubeFlags.Namespace != "" {
		return *inv.kubeFlags.Namespace
	}
	return inv.vizNamespace
}

// helmLog is where Helm's own log lines go: stderr with --verbose, else nowhere.
func (inv *invocation) helmLog() io.Writer {
	if inv.verbose {
		return inv.streams.ErrOut
	}
	return nil
}

// env is the pipelines' view of this invocation; quiet is set for machine-readable output
// so that nothing but the document is printed.
func (inv *invocation) env(quiet bool) *install.Env {
	return &install.Env{
		Clients:          inv.kubeClients,
		Out:              inv.streams.Out,
		UI:               inv.ui(quiet),
		Host:             inv.host.Display,
		HelmLog:          inv.helmLog(),
		Namespace:        inv.namespace(),
		LinkerdNamespace: inv.linkerdNamespace,
		VizNamespace:     inv.vizNamespace,
		NewTarget:        inv.newTarget,
	}
}
