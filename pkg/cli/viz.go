package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"helm.sh/helm/v4/pkg/action"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/helmclient"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/scrape"
	"github.com/meshmon/meshmon/pkg/viz"
)

func newVizCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "viz",
		Short: "Point linkerd-viz at meshmon's Prometheus, or put it back",
		Long: `Point linkerd-viz at meshmon's Prometheus, or put back what was there.

How viz was installed decides how it is rewired: a Helm release is upgraded
with its own stored chart and values (prometheusUrl set, prometheus.enabled
false); a CLI install has metrics-api's -prometheus-url patched and the bundled
Prometheus removed. The state before the first change is recorded on the viz
namespace, so "viz restore" (and uninstall) puts back exactly what was there.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newVizConfigureCommand(g), newVizRestoreCommand(g))
	return cmd
}

type vizConfigureOptions struct {
	g             *globals
	releaseName   string
	prometheusURL string
	keepBundled   bool
	heartbeat     bool
	dryRun        bool
	output        string
	vizChart      viz.ChartOptions
}

func newVizConfigureCommand(g *globals) *cobra.Command {
	o := &vizConfigureOptions{g: g, releaseName: defaults.ReleaseName, output: "text"}
	cmd := &cobra.Command{
		Use:   "configure",
		Short: "Point linkerd-viz at meshmon's Prometheus",
		Long: `Point linkerd-viz at meshmon's Prometheus.

The URL comes from the Prometheus release's real Service (--release-name, -n)
and the cluster domain in linkerd-config; --prometheus-url overrides it for a
Prometheus meshmon did not install. Running it again changes nothing.`,
		Example: fmt.Sprintf(`  # Preview every patch, then apply
  %[1]s viz configure --dry-run
  %[1]s viz configure

  # Keep viz's own Prometheus (scaled to 0) and repoint the heartbeat too
  %[1]s viz configure --keep-bundled --heartbeat

  # An external Prometheus
  %[1]s viz configure --prometheus-url http://prometheus.monitoring.svc.cluster.local:9090`, g.host.Display),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.releaseName, "release-name", o.releaseName, "Name of meshmon's Prometheus Helm release (its namespace is -n, default the viz namespace)")
	f.StringVar(&o.prometheusURL, "prometheus-url", "", "Use this Prometheus URL instead of the release's Service")
	f.BoolVar(&o.keepBundled, "keep-bundled", false, "Scale viz's bundled Prometheus to 0 instead of removing it (CLI-installed viz)")
	f.BoolVar(&o.heartbeat, "heartbeat", false, "Also point the control plane's heartbeat CronJob at this Prometheus")
	f.BoolVar(&o.dryRun, "dry-run", false, "Print every patch and object instead of writing anything")
	f.StringVarP(&o.output, "output", "o", o.output, "Output format: text, json or yaml")
	addVizChartFlags(f, &o.vizChart)
	return cmd
}

// addVizChartFlags adds the flags that say where the chart of a Helm-installed viz comes from.
func addVizChartFlags(f *pflag.FlagSet, o *viz.ChartOptions) {
	f.StringVar(&o.Chart, "viz-chart", "", "linkerd-viz chart for upgrading a Helm-installed viz, instead of Linkerd's Helm repository: a chart directory, a packaged .tgz, an http(s) URL of one or of a chart repository, or an oci:// reference")
	f.StringVar(&o.Version, "viz-chart-version", "", "Upgrade a Helm-installed viz to this chart version (default: the deployed one; any other is refused without this flag)")
}

func (o *vizConfigureOptions) Validate() error {
	if err := validateOutput(o.output, "text", "json", "yaml"); err != nil {
		return err
	}
	if err := o.vizChart.Validate(); err != nil {
		return usageError("%w", err)
	}
	if o.prometheusURL != "" {
		if err := viz.ValidateURL(o.prometheusURL); err != nil {
			return usageError("--prometheus-url: %w", err)
		}
	} else if e := validation.IsDNS1123Label(o.releaseName); len(e) > 0 {
		return usageError("invalid --release-name %q: %s", o.releaseName, strings.Join(e, "; "))
	}
	return nil
}

// vizResult is the -o json|yaml document of configure and restore.
type vizResult struct {
	Install       *viz.Install `json:"install,omitempty"`
	PrometheusURL string       `json:"prometheusURL,omitempty"`
	DryRun        bool         `json:"dryRun"`
	Changes       viz.Changes  `json:"changes"`
}

func (o *vizConfigureOptions) Run(ctx context.Context) error {
	c, err := o.g.kubeClients()
	if err != nil {
		return err
	}
	vc := vizClients(c)
	in, err := viz.Detect(ctx, vc, o.g.vizNamespace)
	if err != nil {
		return err
	}
	url, source := o.prometheusURL, "--prometheus-url"
	if url == "" {
		srv, err := findMeshmonServer(ctx, c, o.g, o.releaseName)
		if err != nil {
			return err
		}
		url, source = srv.URL, fmt.Sprintf("Service %s/%s of release %s", srv.Namespace, srv.Service.Name, srv.Release)
	}
	opts := viz.Options{
		Namespace: o.g.vizNamespace, LinkerdNamespace: o.g.linkerdNamespace, PrometheusURL: url,
		KeepBundled: o.keepBundled, Heartbeat: o.heartbeat, Chart: o.vizChart,
	}
	u := o.g.ui(machineReadable(o.output))
	if o.output == "text" {
		fmt.Fprintln(o.g.streams.Out, describeInstall(in))
		fmt.Fprintf(o.g.streams.Out, "Prometheus URL: %s (from %s)\n", url, source)
	}
	var changes viz.Changes
	if o.dryRun {
		changes, err = viz.Plan(ctx, vc, opts)
	} else {
		p := u.Progress()
		p.Start("rewiring linkerd-viz")
		changes, err = viz.Configure(ctx, vc, opts)
		if err != nil {
			p.Fail("rewiring linkerd-viz failed")
		} else {
			p.Done(vizSummary(changes, "linkerd-viz already uses "+url, "linkerd-viz now uses "+url))
		}
	}
	if perr := printVizResult(o.g.streams.Out, o.output, vizResult{Install: &in, PrometheusURL: url, DryRun: o.dryRun, Changes: changes}); perr != nil {
		return perr
	}
	if err != nil {
		if len(changes) > 0 {
			return fmt.Errorf("%w\n(the changes listed above were made; `viz restore` undoes them, or fix the cause and run configure again)", err)
		}
		return err
	}
	return nil
}

type vizRestoreOptions struct {
	g        *globals
	dryRun   bool
	output   string
	vizChart viz.ChartOptions
}

func newVizRestoreCommand(g *globals) *cobra.Command {
	o := &vizRestoreOptions{g: g, output: "text"}
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "Put back linkerd-viz's Prometheus settings from before meshmon",
		Long: `Put back what "viz configure" changed, from the record it left on the viz
namespace: metrics-api's flag, the bundled Prometheus, the Helm values, the
heartbeat and the namespace annotation. Anything changed by someone else since
is left alone and reported. Without a record there is nothing to do.`,
		Example: fmt.Sprintf(`  %[1]s viz restore --dry-run
  %[1]s viz restore`, g.host.Display),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := validateOutput(o.output, "text", "json", "yaml"); err != nil {
				return err
			}
			if err := o.vizChart.Validate(); err != nil {
				return usageError("%w", err)
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "Print every patch and object instead of writing anything")
	cmd.Flags().StringVarP(&o.output, "output", "o", o.output, "Output format: text, json or yaml")
	addVizChartFlags(cmd.Flags(), &o.vizChart)
	return cmd
}

func (o *vizRestoreOptions) Run(ctx context.Context) error {
	c, err := o.g.kubeClients()
	if err != nil {
		return err
	}
	vc := vizClients(c)
	res := vizResult{DryRun: o.dryRun}
	// Restore works from the record alone; detection only describes what is there.
	in, err := viz.Detect(ctx, vc, o.g.vizNamespace)
	switch {
	case errors.Is(err, viz.ErrNotInstalled):
		return err
	case err == nil:
		res.Install = &in
		if o.output == "text" {
			fmt.Fprintln(o.g.streams.Out, describeInstall(in))
		}
	}
	opts := viz.RestoreOptions{Namespace: o.g.vizNamespace, Chart: o.vizChart}
	if o.dryRun {
		res.Changes, err = viz.PlanRestore(ctx, vc, opts)
	} else {
		p := o.g.ui(machineReadable(o.output)).Progress()
		p.Start("restoring linkerd-viz")
		res.Changes, err = viz.Restore(ctx, vc, opts)
		if err != nil {
			p.Fail("restoring linkerd-viz failed")
		} else {
			p.Done(vizSummary(res.Changes, "nothing to restore", "linkerd-viz restored"))
		}
	}
	if perr := printVizResult(o.g.streams.Out, o.output, res); perr != nil {
		return perr
	}
	if err != nil && len(res.Changes) > 0 {
		return fmt.Errorf("%w\n(the changes listed above were made; run restore again once the cause is fixed)", err)
	}
	return err
}

// vizClients wires the Kubernetes client and Helm (release storage in Secrets) for pkg/viz.
func vizClients(c *kube.Clients) viz.Clients {
	return viz.Clients{
		Kube: c.Kube,
		Helm: func(namespace string) (*action.Configuration, error) {
			return helmclient.New(c.Flags, namespace, nil)
		},
	}
}

// findMeshmonServer reads meshmon's Prometheus server from the cluster: its Service gives the URL
// (with the cluster domain from linkerd-config), its workload the pods and ServiceAccount.
func findMeshmonServer(ctx context.Context, c *kube.Clients, g *globals, releaseName string) (*release.Server, error) {
	p, err := scrape.Discover(ctx, c.Kube, g.linkerdNamespace, g.vizNamespace)
	if err != nil {
		return nil, err
	}
	srv, err := release.FindServer(ctx, c.Kube, g.namespace(), releaseName, p.ClusterDomain)
	if errors.Is(err, release.ErrServerNotFound) {
		return nil, fmt.Errorf("%w\n(install it first with `%s install`, or point at another Prometheus with --prometheus-url)", err, g.host.Display)
	}
	return srv, err
}

func describeInstall(in viz.Install) string {
	how := "the Linkerd CLI (linkerd viz install)"
	if in.Method == viz.MethodHelm && in.Release != nil {
		how = fmt.Sprintf("Helm (release %s/%s, revision %d, chart linkerd-viz-%s, %s)",
			in.Release.Namespace, in.Release.Name, in.Release.Revision, in.Release.ChartVersion, in.Release.Status)
	}
	s := fmt.Sprintf("linkerd-viz %s in namespace %s was installed with %s", in.Version, in.Namespace, how)
	if in.ConfiguredByMeshmon {
		s += "; meshmon has configured it before"
	}
	return s
}

func vizSummary(cs viz.Changes, unchanged, changed string) string {
	if cs.Changed() {
		return changed
	}
	return unchanged
}

func printVizResult(w io.Writer, format string, res vizResult) error {
	if format != "text" {
		return printDocument(w, format, res)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, ch := range res.Changes {
		ref := strings.ToLower(ch.Kind) + "/" + ch.Name
		if ch.Namespace != "" && ch.Kind != "Namespace" {
			ref = strings.ToLower(ch.Kind) + "/" + ch.Name + " -n " + ch.Namespace
		}
		action := string(ch.Action)
		if res.DryRun {
			action += " (dry run)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", ref, action, ch.Detail)
		if res.DryRun && ch.Patch != "" {
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(w, vizIndent(strings.TrimRight(ch.Patch, "\n"), "    "))
		}
	}
	return tw.Flush()
}

func vizIndent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}
