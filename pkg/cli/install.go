package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"helm.sh/helm/v4/pkg/cli/values"
	"helm.sh/helm/v4/pkg/getter"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/install"
	"github.com/meshmon/meshmon/pkg/linkerd"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/viz"
)

type installOptions struct {
	inv *invocation

	values       release.ValuesOptions
	chart        release.ChartSource
	valueFiles   []string
	set          []string
	setString    []string
	timeout      time.Duration
	dryRun       bool
	repair       bool
	chartVersion string

	// The steps after the release: linkerd-viz rewiring and policy.
	skipViz     bool
	vizChart    viz.ChartOptions
	keepBundled bool
	heartbeat   bool
	skipPolicy  bool
	policy      policySpecFlags
	skipCheck   bool
	checkWait   time.Duration

	// Derived by Complete.
	userValues    map[string]any
	userValuesErr error
}

func newInstallCommand(inv *invocation) *cobra.Command {
	o := &installOptions{inv: inv, checkWait: defaults.CheckWait}
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Install or upgrade meshmon's Prometheus (the prometheus-community chart) next to linkerd-viz",
		Long: `Install or upgrade the prometheus-community "prometheus" Helm chart, configured for
Linkerd: persistent storage kept across uninstalls, Service port 9090, the Linkerd
scrape jobs generated from the cluster's own linkerd-config, the chart's default jobs
and subcharts removed, the pod meshed.

The release is managed with the Helm SDK built into this binary (no helm CLI needed)
and stored the way Helm stores releases, so 'helm list -n <namespace>' shows it.
Running install again with the same chart and values changes nothing; a change makes a
new revision. A failed or interrupted install or upgrade is rolled back.

Everything is checked before anything is written (preflight); every problem found is
reported at once. --dry-run prints what would be applied and changes nothing.`,
		Example: fmt.Sprintf(`  # Install with the defaults (chart %[2]s, 20Gi volume, 15d retention)
  %[1]s install

  # Preview every manifest without touching the cluster
  %[1]s install --dry-run

  # A bigger volume on a given storage class, as a StatefulSet
  %[1]s install --storage-size 100Gi --storage-class fast-ssd --statefulset

  # Use a chart downloaded beforehand (no network needed)
  %[1]s install --chart ./prometheus-%[2]s.tgz

  # Resolve a release left pending by an interrupted run
  %[1]s install --repair`, inv.host.Display, defaults.ChartVersion),
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	f := cmd.Flags()
	addReleaseNameFlag(f, &o.values.ReleaseName, "Name of the Helm release")
	f.StringVar(&o.values.StorageSize, "storage-size", defaults.StorageSize, "Size of Prometheus' data volume (a Kubernetes quantity)")
	f.StringVar(&o.values.StorageClass, "storage-class", "", `StorageClass of the data volume (default: the cluster's default class; "-" for none)`)
	f.BoolVar(&o.values.StatefulSet, "statefulset", false, "Run Prometheus as a StatefulSet with a volumeClaimTemplate instead of a Deployment with a PVC")
	f.StringVar(&o.values.Retention, "retention", defaults.Retention, "How long Prometheus keeps samples (a Prometheus duration)")
	f.StringVar(&o.values.RetentionSize, "retention-size", "", `Size-based retention in Prometheus units, e.g. 18GB (default: 90% of the volume; "0" turns it off)`)
	f.StringVar(&o.values.ScrapeInterval, "scrape-interval", defaults.ScrapeInterval, "How often Prometheus scrapes the Linkerd targets")
	f.StringVar(&o.values.ClusterName, "cluster-name", "", `External label "cluster" on every series (for federation and remote write)`)
	f.StringArrayVar(&o.values.RemoteWriteURLs, "remote-write-url", nil, "Send every sample to this remote-write endpoint as well (repeatable)")
	f.StringArrayVarP(&o.valueFiles, "values", "f", nil, "Chart values file laid over meshmon's values (repeatable; later files win)")
	f.StringArrayVar(&o.set, "set", nil, "Set a chart value over meshmon's, Helm syntax: key1=val1,key2=val2 (repeatable)")
	f.StringArrayVar(&o.setString, "set-string", nil, "Like --set, but every value is a string (repeatable)")
	addTimeoutFlag(f, &o.timeout, "How long to wait for the release to become ready before rolling it back")
	f.BoolVar(&o.dryRun, "dry-run", false, "Print the values and every manifest that would be applied; change nothing")
	f.BoolVar(&o.repair, "repair", false, "Resolve a release stuck in a pending state (uninstall an unfinished install, keeping its volume, or roll an unfinished upgrade back) before installing")
	f.StringVar(&o.chart.Chart, "chart", "", "Use this chart instead of downloading it: a chart directory, a packaged .tgz, or an oci:// reference")
	f.StringVar(&o.chart.Repo, "chart-repo", "", fmt.Sprintf("Chart repository: an https:// Helm repository or an oci:// registry (default %s)", defaults.ChartRepo))
	f.StringVar(&o.chartVersion, "chart-version", defaults.ChartVersion, "Exact chart version to install")
	f.BoolVar(&o.skipViz, "skip-viz", false, "Do not point linkerd-viz at the new Prometheus (see 'viz configure')")
	f.BoolVar(&o.keepBundled, "keep-bundled", false, "Scale linkerd-viz's bundled Prometheus to 0 instead of removing it")
	addVizChartFlags(f, &o.vizChart)
	f.BoolVar(&o.heartbeat, "heartbeat", false, "Also point the control plane's heartbeat CronJob at the new Prometheus")
	f.BoolVar(&o.skipPolicy, "skip-policy", false, "Do not apply the Linkerd authorization policy (see 'policy apply')")
	f.StringArrayVar(&o.policy.clients, "allow-client", nil, "Also authorize this meshed client of Prometheus, as namespace/serviceaccount (repeatable), e.g. grafana/grafana")
	f.StringArrayVar(&o.policy.federateFrom, "allow-federate-from", nil, "Also authorize this network outside the mesh, as a CIDR (repeatable), e.g. for federation")
	f.StringVar(&o.policy.mtlsName, "mtls-authentication", "", "Merge the scraper identities into this existing MeshTLSAuthentication (default: meshmon's own)")
	f.BoolVar(&o.skipCheck, "skip-check", false, "Do not run the health checks at the end (see 'check')")
	f.DurationVar(&o.checkWait, "check-wait", o.checkWait, "How long the final checks may wait for Prometheus to start scraping")
	return cmd
}

// Complete derives the chart version (only when given: a --chart reference may carry
// its own), the user's values and the policy's clients from the flags.
func (o *installOptions) Complete(cmd *cobra.Command, _ []string) error {
	o.chart.Version = ""
	if cmd.Flags().Changed("chart-version") {
		o.chart.Version = o.chartVersion
	}
	o.userValues, o.userValuesErr = (&values.Options{ValueFiles: o.valueFiles, Values: o.set, StringValues: o.setString}).MergeValues(getter.Providers{})
	o.policy.releaseName = o.values.ReleaseName
	o.policy.complete()
	return nil
}

// Validate checks the flags without contacting the cluster. The release name is checked
// (by release.ValidateName) with the other chart options, in Resolve.
func (o *installOptions) Validate() error {
	if err := validateTimeout(o.timeout); err != nil {
		return err
	}
	if o.dryRun && o.repair {
		return usageError("--repair changes the cluster and cannot be combined with --dry-run")
	}
	if err := o.chart.Validate(); err != nil {
		return usageError("%w", err)
	}
	if o.checkWait < 0 {
		return usageError("--check-wait must not be negative, e.g. 2m")
	}
	if err := o.vizChart.Validate(); err != nil {
		return usageError("%w", err)
	}
	if o.skipViz && (o.keepBundled || o.heartbeat) {
		return usageError("--keep-bundled and --heartbeat rewire linkerd-viz and cannot be combined with --skip-viz")
	}
	if o.skipPolicy && (len(o.policy.clients) > 0 || len(o.policy.federateFrom) > 0 || o.policy.mtlsName != "") {
		return usageError("--allow-client, --allow-federate-from and --mtls-authentication shape the policy and cannot be combined with --skip-policy")
	}
	opts := o.installOptions()
	probe := opts.ValuesFor(o.inv.env(false), linkerd.Defaults())
	if _, _, err := probe.Resolve(); err != nil {
		return usageError("%w", err)
	}
	if o.userValuesErr != nil {
		return usageError("reading chart values from -f/--set/--set-string: %w", o.userValuesErr)
	}
	return o.policy.validate()
}

func (o *installOptions) installOptions() install.Options {
	return install.Options{
		Values: o.values, Chart: o.chart, UserValues: o.userValues, Timeout: o.timeout,
		DryRun: o.dryRun, Repair: o.repair,
		SkipViz: o.skipViz, VizChart: o.vizChart, KeepBundled: o.keepBundled, Heartbeat: o.heartbeat,
		SkipPolicy: o.skipPolicy, Policy: o.policy.input(),
		SkipCheck: o.skipCheck, CheckWait: o.checkWait,
	}
}

// Run runs the install pipeline.
func (o *installOptions) Run(ctx context.Context) error {
	return install.Install(ctx, o.inv.env(false), o.installOptions())
}
