package cli

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/klog/v2"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/ui"
)

// globals holds what every command shares: the host, the streams, the kube
// flags and the clients built from them (once, on first use).
type globals struct {
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
}

func newGlobals(host Host, streams genericiooptions.IOStreams, getenv func(string) string) *globals {
	if getenv == nil {
		getenv = os.Getenv
	}
	return &globals{
		host:             host,
		streams:          streams,
		getenv:           getenv,
		kubeFlags:        kube.NewConfigFlags(),
		color:            string(ui.ColorAuto),
		linkerdNamespace: defaults.LinkerdNamespace,
		vizNamespace:     defaults.VizNamespace,
	}
}

func (g *globals) addFlags(root *cobra.Command) {
	pf := root.PersistentFlags()
	g.kubeFlags.AddFlags(pf)
	pf.StringVar(&g.color, "color", g.color, "When to colour output: auto, always or never (NO_COLOR and TERM=dumb are honoured in auto)")
	pf.StringVarP(&g.linkerdNamespace, "linkerd-namespace", "L", g.linkerdNamespace, "Namespace of the Linkerd control plane")
	pf.StringVar(&g.vizNamespace, "viz-namespace", g.vizNamespace, "Namespace of linkerd-viz (also meshmon's default install namespace)")
	if g.host.Linkerd {
		// What `linkerd check` and `linkerd <ext>` pass through.
		pf.StringVar(&g.apiAddr, "api-addr", "", "Override kubeconfig and talk to the Kubernetes API at this host:port (as in the linkerd CLI)")
		pf.BoolVar(&g.verbose, "verbose", false, "Turn on debug logging of Kubernetes client requests")
	}
}

// complete validates the shared flags; it runs before every command and
// must not contact the cluster.
func (g *globals) complete(_ *cobra.Command) error {
	mode, err := ui.ParseColorMode(g.color)
	if err != nil {
		return usageError("%w", err)
	}
	g.colorMode = mode
	if g.apiAddr != "" {
		server := g.apiAddr
		if !strings.Contains(server, "://") {
			server = "https://" + server
		}
		g.kubeFlags.APIServer = &server
	}
	if g.verbose {
		// klog keeps its verbosity globally; 6 logs every request URL.
		fs := flag.NewFlagSet("klog", flag.ContinueOnError)
		klog.InitFlags(fs)
		if err := fs.Set("v", "6"); err != nil {
			return fmt.Errorf("enabling verbose logging: %w", err)
		}
	}
	return nil
}

// ui returns the presentation decisions for this invocation; quiet is set
// for machine-readable output so nothing but the document is printed.
func (g *globals) ui(quiet bool) *ui.UI {
	u := ui.New(g.streams.Out, g.streams.ErrOut, g.colorMode, g.getenv)
	u.Quiet = quiet
	return u
}

// kubeClients builds the clients once.
func (g *globals) kubeClients() (*kube.Clients, error) {
	if g.clients != nil {
		return g.clients, nil
	}
	c, err := kube.NewClients(g.kubeFlags)
	if err != nil {
		return nil, err
	}
	g.clients = c
	return c, nil
}

// namespace is where meshmon's release lives: -n if given, else the viz
// namespace (the kubeconfig context's namespace is deliberately ignored:
// Prometheus for Linkerd belongs next to viz, not in "default").
func (g *globals) namespace() string {
	if g.kubeFlags.Namespace != nil && *g.kubeFlags.Namespace != "" {
		return *g.kubeFlags.Namespace
	}
	return g.vizNamespace
}
