package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"helm.sh/helm/v4/pkg/cli/values"
	"helm.sh/helm/v4/pkg/getter"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/scrape"
	"github.com/meshmon/meshmon/pkg/ui"
	"github.com/meshmon/meshmon/pkg/viz"
)

type installOptions struct {
	g *globals

	values       release.ValuesOptions
	chart        release.ChartSource
	valueFiles   []string
	set          []string
	setString    []string
	timeout      time.Duration
	dryRun       bool
	repair       bool
	userValues   map[string]any
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
}

func newInstallCommand(g *globals) *cobra.Command {
	o := &installOptions{g: g, timeout: defaults.Timeout, checkWait: 2 * time.Minute}
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
  %[1]s install --repair`, g.host.Display, defaults.ChartVersion),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.chart.Version = ""
			if cmd.Flags().Changed("chart-version") {
				o.chart.Version = o.chartVersion
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.values.ReleaseName, "release-name", defaults.ReleaseName, "Name of the Helm release")
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
	f.DurationVar(&o.timeout, "timeout", o.timeout, "How long to wait for the release to become ready before rolling it back")
	f.BoolVar(&o.dryRun, "dry-run", false, "Print the values and every manifest that would be applied; change nothing")
	f.BoolVar(&o.repair, "repair", false, "Resolve a release stuck in a pending state (uninstall an unfinished install, keeping its volume, or roll an unfinished upgrade back) before installing")
	f.StringVar(&o.chart.Chart, "chart", "", "Use this chart instead of downloading it: a chart directory, a packaged .tgz, or an oci:// reference")
	f.StringVar(&o.chart.Repo, "chart-repo", "", fmt.Sprintf("Chart repository: an https:// Helm repository or an oci:// registry (default %s)", defaults.ChartRepo))
	f.StringVar(&o.chartVersion, "chart-version", defaults.ChartVersion, "Exact chart version to install")
	f.BoolVar(&o.skipViz, "skip-viz", false, "Do not point linkerd-viz at the new Prometheus (see 'viz configure')")
	addVizChartFlags(f, &o.vizChart)
	f.BoolVar(&o.keepBundled, "keep-bundled", false, "Scale linkerd-viz's bundled Prometheus to 0 instead of removing it")
	f.BoolVar(&o.heartbeat, "heartbeat", false, "Also point the control plane's heartbeat CronJob at the new Prometheus")
	f.BoolVar(&o.skipPolicy, "skip-policy", false, "Do not apply the Linkerd authorization policy (see 'policy apply')")
	f.StringArrayVar(&o.policy.clients, "allow-client", nil, "Also authorize this meshed client of Prometheus, as namespace/serviceaccount (repeatable), e.g. grafana/grafana")
	f.StringArrayVar(&o.policy.federateFrom, "allow-federate-from", nil, "Also authorize this network outside the mesh, as a CIDR (repeatable), e.g. for federation")
	f.StringVar(&o.policy.mtlsName, "mtls-authentication", "", "Merge the scraper identities into this existing MeshTLSAuthentication (default: meshmon's own)")
	f.BoolVar(&o.skipCheck, "skip-check", false, "Do not run the health checks at the end (see 'check')")
	f.DurationVar(&o.checkWait, "check-wait", o.checkWait, "How long the final checks may wait for Prometheus to start scraping")
	return cmd
}

// Validate checks the flags without contacting the cluster.
func (o *installOptions) Validate() error {
	if o.timeout <= 0 {
		return usageError("--timeout must be positive, e.g. 5m")
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
	probe := o.valuesOptions(scrape.Defaults())
	if _, _, err := probe.Resolve(); err != nil {
		return usageError("%w", err)
	}
	user, err := (&values.Options{ValueFiles: o.valueFiles, Values: o.set, StringValues: o.setString}).MergeValues(getter.Providers{})
	if err != nil {
		return usageError("reading chart values from -f/--set/--set-string: %w", err)
	}
	o.userValues = user
	o.policy.releaseName = o.values.ReleaseName
	if err := o.policy.validate(); err != nil {
		return err
	}
	return nil
}

// valuesOptions are the flags' values for the cluster described by params.
func (o *installOptions) valuesOptions(params scrape.Params) release.ValuesOptions {
	v := o.values
	v.Namespace = o.g.namespace()
	v.Scrape = params
	if v.Scrape.VizNamespace == "" {
		v.Scrape.VizNamespace = o.g.vizNamespace
	}
	return v
}

// installStep is one stage of an install. Steps run in order and share the
// installation; each one reads what earlier steps left there. With --dry-run every
// step prints what it would apply to stdout instead of applying it.
type installStep struct {
	name string
	run  func(context.Context, *installation) error
}

// steps is the install sequence: preflight (read-only checks of everything the later
// steps need, reported together) → release (the Prometheus Helm release) → viz (point
// linkerd-viz at it) → policy (Linkerd authorization) → check (the health suite,
// proving it all works). Each later step finds the
// server the release step installed (or, in a dry run, would install) in the
// installation.
func (o *installOptions) steps() []installStep {
	steps := []installStep{
		{name: "preflight", run: o.preflight},
		{name: "release", run: o.release},
	}
	if !o.skipViz {
		steps = append(steps, installStep{name: "viz", run: o.configureViz})
	}
	if !o.skipPolicy {
		steps = append(steps, installStep{name: "policy", run: o.applyPolicy})
	}
	if !o.skipCheck && !o.dryRun {
		steps = append(steps, installStep{name: "check", run: o.runChecks})
	}
	return steps
}

// installation is what the steps of one install share.
type installation struct {
	ui       *ui.UI
	progress ui.Progress
	clients  *kube.Clients
	target   *release.Target
	// params are the Linkerd facts read from the cluster.
	params scrape.Params
	plan   *release.Plan
	// result is the release step's outcome (nil in a dry run).
	result *release.Result
	// server is the installed Prometheus (in a dry run: the one the chart would create).
	server *release.Server
}

// Run executes the steps.
func (o *installOptions) Run(ctx context.Context) error {
	u := o.g.ui(false)
	in := &installation{ui: u, progress: u.Progress()}
	for _, s := range o.steps() {
		if err := s.run(ctx, in); err != nil {
			return err
		}
	}
	return nil
}

// helmLog is where Helm's own log lines go: stderr with --verbose, else nowhere.
func helmLog(g *globals) io.Writer {
	if g.verbose {
		return g.streams.ErrOut
	}
	return nil
}

// preflight loads the chart, reads the Linkerd facts, renders the plan and checks the
// cluster, all read-only.
func (o *installOptions) preflight(ctx context.Context, in *installation) error {
	p := in.progress
	p.Start("Loading chart")
	lc, err := release.LoadChart(ctx, o.chart)
	if err != nil {
		p.Fail("could not load the chart")
		return err
	}
	how := "from " + lc.Origin
	if lc.Cached {
		how += " (cached)"
	}
	p.Done(fmt.Sprintf("chart %s %s %s", lc.Name(), lc.Version(), how))
	for _, w := range lc.Warnings {
		o.warn(in, w)
	}

	p.Start("Checking the cluster")
	clients, err := o.g.kubeClients()
	if err != nil {
		p.Fail("cannot build a Kubernetes client")
		return err
	}
	in.clients = clients
	ns := o.g.namespace()
	in.target, err = release.NewTarget(clients.Flags, clients.Kube, ns, o.values.ReleaseName, helmLog(o.g))
	if err != nil {
		p.Fail("cannot set up Helm")
		return err
	}
	kubeVersion := ""
	if v, err := clients.Kube.Discovery().ServerVersion(); err == nil {
		kubeVersion = v.GitVersion
	}
	params, discoverErr := scrape.Discover(ctx, clients.Kube, o.g.linkerdNamespace, o.g.vizNamespace)
	if discoverErr != nil {
		// Preflight reports what is missing; the defaults only serve to render the
		// chart so that the permissions it needs can still be checked.
		params = scrape.Defaults()
		params.LinkerdNamespace, params.VizNamespace = o.g.linkerdNamespace, o.g.vizNamespace
	}
	in.params = params
	// Federation sources added with `federate add` live in the release's values; an
	// install keeps them.
	// A history that cannot be read is reported by preflight (permissions) or by the
	// release step, which reads it again.
	var carry []map[string]any
	if deployed, err := in.target.DeployedValues(); err == nil {
		carry = release.FederationJobs(deployed)
	}
	plan, err := release.NewPlan(ctx, release.PlanInput{
		Chart: lc, Values: o.valuesOptions(params), UserValues: o.userValues, KubeVersion: kubeVersion, CarryJobs: carry,
	})
	if err != nil {
		p.Fail("cannot render the chart")
		return err
	}
	in.plan = plan
	results := release.Preflight(ctx, in.target, release.PreflightOptions{
		LinkerdNamespace: o.g.linkerdNamespace,
		VizNamespace:     o.g.vizNamespace,
		StorageClass:     o.values.StorageClass,
		StorageSize:      plan.Options.StorageSize,
		StatefulSet:      plan.Options.StatefulSet,
		Manifest:         plan.Manifest,
		Mapper:           clients.Mapper,
		// A dry run shows a stuck release in its header instead of stopping at it.
		Repair: o.repair || o.dryRun,
		Extra:  meshAccess(o.g.vizNamespace, o.g.linkerdNamespace, o.meshSteps()),
		Steps:  meshPreflight(clients, o.g.vizNamespace, o.meshSteps()),
	})
	if err := release.PreflightFailures(results); err != nil {
		p.Fail("preflight failed")
		return err
	}
	if discoverErr != nil {
		p.Fail("preflight failed")
		return discoverErr
	}
	p.Done(fmt.Sprintf("cluster ready: Linkerd in %s (trust domain %s), %d checks passed", params.LinkerdNamespace, params.TrustDomain, len(results)))
	for _, r := range results {
		if r.Warning {
			o.warn(in, r.Description+": "+r.Err.Error())
		}
	}
	for _, w := range plan.Warnings {
		o.warn(in, w.String())
	}
	return nil
}

func (o *installOptions) warn(in *installation, msg string) {
	fmt.Fprintf(in.ui.Err, "%s %s\n", in.ui.ErrStyle().Yellow("‼ warning:"), msg)
}

// release installs, upgrades or (dry run) renders the Prometheus release.
func (o *installOptions) release(ctx context.Context, in *installation) error {
	if o.dryRun {
		return o.printDryRun(in)
	}
	t, p := in.target, in.progress
	out := o.g.streams.Out
	if o.repair {
		p.Start("Repairing release " + t.Release)
		r, err := release.Repair(ctx, t, o.timeout)
		if err != nil {
			p.Fail("repair failed")
			return err
		}
		if r == nil {
			p.Done("release " + t.Release + " is not pending; nothing to repair")
		} else {
			p.Done("repaired release " + t.Release)
			fmt.Fprintf(out, "Repaired: %s.\n", r)
		}
	}

	lc := in.plan.Chart
	p.Start(fmt.Sprintf("Applying release %s (chart %s %s) in namespace %s", t.Release, lc.Name(), lc.Version(), t.Namespace))
	res, err := release.Apply(ctx, t, in.plan, release.ApplyOptions{Timeout: o.timeout, OnStatus: p.Update})
	if err != nil {
		p.Fail("release " + t.Release + " not applied")
		return err
	}
	in.result = res
	chartDesc := fmt.Sprintf("chart %s %s", lc.Name(), lc.Version())
	switch res.Action {
	case release.ActionNone:
		p.Done("release " + t.Release + " unchanged")
		fmt.Fprintf(out, "Release %s is already up to date (revision %d, %s); nothing changed.\n", t.Release, res.Revision, chartDesc)
	case release.ActionInstall:
		p.Done(fmt.Sprintf("release %s ready in %s", t.Release, res.Duration.Round(100*time.Millisecond)))
		fmt.Fprintf(out, "Installed release %s (revision %d, %s) in namespace %s.\n", t.Release, res.Revision, chartDesc, t.Namespace)
	case release.ActionUpgrade:
		p.Done(fmt.Sprintf("release %s ready in %s", t.Release, res.Duration.Round(100*time.Millisecond)))
		fmt.Fprintf(out, "Upgraded release %s to revision %d (%s; %s).\n", t.Release, res.Revision, chartDesc, res.Reason)
	}
	if len(in.plan.Carried) > 0 {
		fmt.Fprintf(out, "Federation jobs kept from the deployed release: %s\n", strings.Join(in.plan.Carried, ", "))
	}
	srv, err := release.FindServer(ctx, in.clients.Kube, t.Namespace, t.Release, in.params.ClusterDomain)
	if err != nil {
		return fmt.Errorf("the release is applied but its server cannot be read back: %w", err)
	}
	in.server = srv
	fmt.Fprintf(out, "Prometheus: %s\n", srv.URL)
	vols, err := release.Volumes(ctx, in.clients.Kube, t.Namespace, t.Release)
	if err != nil {
		return err
	}
	for _, v := range vols {
		fmt.Fprintf(out, "Data volume: %s\n", v)
	}
	return nil
}

// printDryRun writes the values (as a comment) and the rendered manifest to stdout.
func (o *installOptions) printDryRun(in *installation) error {
	t, plan := in.target, in.plan
	action := ""
	st, err := release.Inspect(t, plan)
	var pe *release.PendingError
	switch {
	case errors.As(err, &pe):
		action = "blocked: " + pe.Error()
	case err != nil:
		return err
	case st.Action == release.ActionInstall:
		action = "would install (" + st.Reason + ")"
	case st.Action == release.ActionUpgrade:
		action = fmt.Sprintf("would upgrade revision %d to %d (%s)", st.Current.Version, st.Current.Version+1, st.Reason)
	default:
		action = fmt.Sprintf("nothing to do: revision %d is up to date", st.Current.Version)
	}
	header, err := release.ValuesHeader(plan.Values)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# %s install --dry-run: nothing below has been applied.\n", o.g.host.Display)
	fmt.Fprintf(&b, "# Release %s in namespace %s: %s.\n", t.Release, t.Namespace, action)
	fmt.Fprintf(&b, "# Chart %s %s from %s (digest %s).\n", plan.Chart.Name(), plan.Chart.Version(), plan.Chart.Origin, plan.Chart.Digest[:12])
	b.WriteString("# Values (meshmon's, with your -f/--set overrides):\n")
	b.WriteString(header)
	manifest := plan.Manifest
	if !strings.HasPrefix(manifest, "---") {
		b.WriteString("---\n")
	}
	b.WriteString(manifest)
	if !strings.HasSuffix(manifest, "\n") {
		b.WriteString("\n")
	}
	if _, err := io.WriteString(o.g.streams.Out, b.String()); err != nil {
		return err
	}
	in.server, err = release.PlannedServer(manifest, t.Namespace, t.Release, in.params.ClusterDomain)
	return err
}
