package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/meshmon/meshmon/pkg/change"
	"github.com/meshmon/meshmon/pkg/install"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/viz"
)

func newVizCommand(inv *invocation) *cobra.Command {
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
	cmd.AddCommand(newVizConfigureCommand(inv), newVizRestoreCommand(inv))
	return cmd
}

type vizConfigureOptions struct {
	inv           *invocation
	releaseName   string
	prometheusURL string
	keepBundled   bool
	heartbeat     bool
	dryRun        bool
	output        *outputFlag
	vizChart      viz.ChartOptions
}

func newVizConfigureCommand(inv *invocation) *cobra.Command {
	o := &vizConfigureOptions{inv: inv}
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
  %[1]s viz configure --prometheus-url http://prometheus.monitoring.svc.cluster.local:9090`, inv.host.Display),
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	f := cmd.Flags()
	addReleaseNameFlag(f, &o.releaseName, "Name of meshmon's Prometheus Helm release (its namespace is -n, default the viz namespace)")
	f.StringVar(&o.prometheusURL, "prometheus-url", "", "Use this Prometheus URL instead of the release's Service")
	f.BoolVar(&o.keepBundled, "keep-bundled", false, "Scale viz's bundled Prometheus to 0 instead of removing it (CLI-installed viz)")
	f.BoolVar(&o.heartbeat, "heartbeat", false, "Also point the control plane's heartbeat CronJob at this Prometheus")
	f.BoolVar(&o.dryRun, "dry-run", false, "Print every patch and object instead of writing anything")
	o.output = addOutputFlag(f, "text", "json", "yaml")
	addVizChartFlags(f, &o.vizChart)
	return cmd
}

// addVizChartFlags adds the flags that say where the chart of a Helm-installed viz comes from.
func addVizChartFlags(f *pflag.FlagSet, o *viz.ChartOptions) {
	f.StringVar(&o.Chart, "viz-chart", "", "linkerd-viz chart for upgrading a Helm-installed viz, instead of Linkerd's Helm repository: a chart directory, a packaged .tgz, an http(s) URL of one or of a chart repository, or an oci:// reference")
	f.StringVar(&o.Version, "viz-chart-version", "", "Upgrade a Helm-installed viz to this chart version (default: the deployed one; any other is refused without this flag)")
}

func (o *vizConfigureOptions) Complete(*cobra.Command, []string) error { return nil }

func (o *vizConfigureOptions) Validate() error {
	if err := o.output.validate(); err != nil {
		return err
	}
	if err := o.vizChart.Validate(); err != nil {
		return usageError("%w", err)
	}
	if o.prometheusURL != "" {
		if err := viz.ValidateURL(o.prometheusURL); err != nil {
			return usageError("--prometheus-url: %w", err)
		}
		return nil
	}
	return validateReleaseName(o.releaseName)
}

// vizResult is the -o json|yaml document of configure and restore.
type vizResult struct {
	Install       *viz.Install   `json:"install,omitempty"`
	PrometheusURL string         `json:"prometheusURL,omitempty"`
	DryRun        bool           `json:"dryRun"`
	Changes       change.Changes `json:"changes"`
}

func (o *vizConfigureOptions) Run(ctx context.Context) error {
	c, err := o.inv.kubeClients()
	if err != nil {
		return err
	}
	vc := install.VizClients(c)
	in, err := viz.Detect(ctx, vc, o.inv.vizNamespace)
	if err != nil {
		return err
	}
	url, source := o.prometheusURL, "--prometheus-url"
	if url == "" {
		srv, err := o.inv.env(false).Server(ctx, o.releaseName)
		if errors.Is(err, release.ErrServerNotFound) {
			return fmt.Errorf("%w\n(install it first with `%s install`, or point at another Prometheus with --prometheus-url)", err, o.inv.host.Display)
		}
		if err != nil {
			return err
		}
		url, source = srv.URL, fmt.Sprintf("Service %s/%s of release %s", srv.Namespace, srv.Service.Name, srv.Release)
	}
	opts := viz.Options{
		Namespace: o.inv.vizNamespace, LinkerdNamespace: o.inv.linkerdNamespace, PrometheusURL: url,
		KeepBundled: o.keepBundled, Heartbeat: o.heartbeat, Chart: o.vizChart,
	}
	u := o.inv.ui(o.output.machineReadable())
	if o.output.value == "text" {
		fmt.Fprintln(o.inv.streams.Out, in.Describe())
		fmt.Fprintf(o.inv.streams.Out, "Prometheus URL: %s (from %s)\n", url, source)
	}
	var changes change.Changes
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
	if perr := printVizResult(o.inv.streams.Out, o.output.value, vizResult{Install: &in, PrometheusURL: url, DryRun: o.dryRun, Changes: changes}); perr != nil {
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
	inv      *invocation
	dryRun   bool
	output   *outputFlag
	vizChart viz.ChartOptions
}

func newVizRestoreCommand(inv *invocation) *cobra.Command {
	o := &vizRestoreOptions{inv: inv}
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "Put back linkerd-viz's Prometheus settings from before meshmon",
		Long: `Put back what "viz configure" changed, from the record it left on the viz
namespace: metrics-api's flag, the bundled Prometheus, the Helm values, the
heartbeat and the namespace annotation. Anything changed by someone else since
is left alone and reported. Without a record there is nothing to do.`,
		Example: fmt.Sprintf(`  %[1]s viz restore --dry-run
  %[1]s viz restore`, inv.host.Display),
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "Print every patch and object instead of writing anything")
	o.output = addOutputFlag(cmd.Flags(), "text", "json", "yaml")
	addVizChartFlags(cmd.Flags(), &o.vizChart)
	return cmd
}

func (o *vizRestoreOptions) Complete(*cobra.Command, []string) error { return nil }

func (o *vizRestoreOptions) Validate() error {
	if err := o.output.validate(); err != nil {
		return err
	}
	if err := o.vizChart.Validate(); err != nil {
		return usageError("%w", err)
	}
	return nil
}

func (o *vizRestoreOptions) Run(ctx context.Context) error {
	c, err := o.inv.kubeClients()
	if err != nil {
		return err
	}
	vc := install.VizClients(c)
	res := vizResult{DryRun: o.dryRun}
	// Restore works from the record alone; detection only describes what is there.
	in, err := viz.Detect(ctx, vc, o.inv.vizNamespace)
	switch {
	case errors.Is(err, viz.ErrNotInstalled):
		return err
	case err == nil:
		res.Install = &in
		if o.output.value == "text" {
			fmt.Fprintln(o.inv.streams.Out, in.Describe())
		}
	}
	opts := viz.RestoreOptions{Namespace: o.inv.vizNamespace, Chart: o.vizChart}
	if o.dryRun {
		res.Changes, err = viz.PlanRestore(ctx, vc, opts)
	} else {
		p := o.inv.ui(o.output.machineReadable()).Progress()
		p.Start("restoring linkerd-viz")
		res.Changes, err = viz.Restore(ctx, vc, opts)
		if err != nil {
			p.Fail("restoring linkerd-viz failed")
		} else {
			p.Done(vizSummary(res.Changes, "nothing to restore", "linkerd-viz restored"))
		}
	}
	if perr := printVizResult(o.inv.streams.Out, o.output.value, res); perr != nil {
		return perr
	}
	if err != nil && len(res.Changes) > 0 {
		return fmt.Errorf("%w\n(the changes listed above were made; run restore again once the cause is fixed)", err)
	}
	return err
}

func vizSummary(cs change.Changes, unchanged, changed string) string {
	if cs.Changed() {
		return changed
	}
	return unchanged
}

func printVizResult(w io.Writer, format string, res vizResult) error {
	if format != "text" {
		return printDocument(w, format, res)
	}
	return change.WriteText(w, res.Changes, false)
}
