package cli

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshmon/meshmon/pkg/checks"
	"github.com/meshmon/meshmon/pkg/healthcheck"
	"github.com/meshmon/meshmon/pkg/install"
	"github.com/meshmon/meshmon/pkg/ui"
)

// checkOptions are the flags of `check`.
type checkOptions struct {
	inv *invocation

	output        *outputFlag
	wait          time.Duration
	pre           bool
	proxy         bool
	releaseName   string
	prometheusURL string
	dashboardURL  string
	storageClass  string
	categories    []string
}

func newCheckCommand(inv *invocation) *cobra.Command {
	o := &checkOptions{inv: inv}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check that Prometheus is installed, persistent, scraping the mesh and wired into linkerd-viz",
		Long: fmt.Sprintf(`Check the whole chain meshmon sets up, the way "linkerd check" does: the
Kubernetes API, Linkerd and linkerd-viz, the Prometheus Helm release, its data
volume, Prometheus' configuration and targets, federation, the linkerd-viz
wiring and dashboard, the authorization policy and, when installed, the
prometheus-operator objects. Every failure says what is wrong and how to fix it.

Prometheus and the dashboard are reached through port-forwards via the API
server (--prometheus-url and --dashboard-url reach them another way).

Categories: %s.
--pre runs, instead, the preflight install runs before it writes anything.
The exit status is 1 when a check fails.`, strings.Join(categoryFlagNames(), ", ")),
		Example: fmt.Sprintf(`  # Check everything
  %[1]s check

  # Before installing: API access, RBAC, Linkerd, viz, storage
  %[1]s check --pre

  # Only the targets (with the categories they depend on), waiting up to 2 minutes
  %[1]s check --category targets --wait 2m

  # Machine-readable, as linkerd check reads it
  %[1]s check -o json`, inv.host.Display),
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	if inv.host.Linkerd {
		// `linkerd check` forwards flags of its own (and future ones) to every
		// extension; unknown ones must not make the check fail.
		cmd.FParseErrWhitelist.UnknownFlags = true
		cmd.Args = cobra.ArbitraryArgs
	}
	f := cmd.Flags()
	o.output = addOutputFlag(f, healthcheck.Formats()...)
	f.DurationVar(&o.wait, "wait", o.wait, "Retry failing checks that may still pass (a starting pod, a pending volume) for up to this long")
	f.BoolVar(&o.pre, "pre", false, "Run the preflight checks for install instead (API access, RBAC, Linkerd, viz, storage)")
	f.BoolVar(&o.proxy, "proxy", false, "Only run the data-plane checks (targets and meshed-pod coverage)")
	addReleaseNameFlag(f, &o.releaseName, "Name of the Prometheus Helm release")
	f.StringVar(&o.prometheusURL, "prometheus-url", "", "Reach Prometheus at this URL instead of through a port-forward to its pod")
	f.StringVar(&o.dashboardURL, "dashboard-url", "", "Reach the linkerd-viz dashboard at this URL instead of through a port-forward to its web pod")
	f.StringVar(&o.storageClass, "storage-class", "", `With --pre: the StorageClass install will ask for ("" = the cluster's default, "-" = none)`)
	f.StringSliceVar(&o.categories, "category", nil, "Run only this category and those it depends on (repeatable; names with or without the meshmon- prefix)")
	return cmd
}

// categoryFlagNames are the category names users type.
func categoryFlagNames() []string {
	var out []string
	for _, n := range checks.CategoryNames() {
		out = append(out, strings.TrimPrefix(n, checks.CategoryPrefix))
	}
	return out
}

func (o *checkOptions) Complete(*cobra.Command, []string) error { return nil }

func (o *checkOptions) Validate() error {
	if err := o.output.validate(); err != nil {
		return err
	}
	if err := validateReleaseName(o.releaseName); err != nil {
		return err
	}
	if o.wait < 0 {
		return usageError("--wait %s is negative: give a duration such as 2m, or 0 to check once", o.wait)
	}
	if o.pre && o.proxy {
		return usageError("--pre and --proxy cannot be combined: --pre checks a cluster before install, --proxy the data plane after it")
	}
	if o.pre && len(o.categories) > 0 {
		return usageError("--category selects categories of the health suite and cannot be combined with --pre")
	}
	if o.storageClass != "" && !o.pre {
		return usageError("--storage-class only applies to --pre (the storage class install would ask for)")
	}
	for _, f := range []struct{ name, value string }{{"--prometheus-url", o.prometheusURL}, {"--dashboard-url", o.dashboardURL}} {
		if f.value == "" {
			continue
		}
		u, err := url.Parse(f.value)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usageError("%s %q is not a URL: give http(s)://host:port, e.g. http://localhost:9090", f.name, f.value)
		}
	}
	if _, err := checks.Catalog(checks.NewEnv(o.checksOptions(), checks.Deps{})); err != nil {
		return usageError("%w", err)
	}
	return nil
}

func (o *checkOptions) checksOptions() checks.Options {
	promNS, dataPlaneNS := o.inv.namespace(), ""
	if o.inv.host.Linkerd && o.proxy && promNS != o.inv.vizNamespace {
		// `linkerd check --proxy -n X` means "the data plane in X", and
		// linkerd forwards it to every extension as --namespace=X.
		promNS, dataPlaneNS = o.inv.vizNamespace, promNS
	}
	return checks.Options{
		ReleaseName:        o.releaseName,
		Namespace:          promNS,
		DataPlaneNamespace: dataPlaneNS,
		LinkerdNamespace:   o.inv.linkerdNamespace,
		VizNamespace:       o.inv.vizNamespace,
		PrometheusURL:      o.prometheusURL,
		DashboardURL:       o.dashboardURL,
		Proxy:              o.proxy,
		Categories:         o.categories,
	}
}

// Run prints the results as they come and fails (exit 1) when a check failed.
func (o *checkOptions) Run(ctx context.Context) error {
	u := o.inv.ui(o.output.machineReadable())
	so := checks.SuiteOptions{
		Options:            o.checksOptions(),
		Deps:               install.SuiteDeps(o.inv.kubeClients),
		PassIfNotInstalled: o.inv.host.Linkerd,
		Format:             o.output.value,
		Color:              u.OutColor,
		Wait:               o.wait,
	}
	if o.pre {
		env := o.inv.env(o.output.machineReadable())
		so.Pre = func(ctx context.Context) healthcheck.Category {
			return env.PreflightCategory(ctx, o.releaseName, o.storageClass)
		}
	}
	if u.Interactive && !u.Quiet {
		s := ui.NewRetrySpinner(u.Progress())
		so.OnRetry, so.BeforeCategory = s.Retry, s.Stop
	}
	res, err := checks.RunSuite(ctx, o.inv.streams.Out, so)
	if err != nil {
		return err
	}
	// An interrupted run has printed what it had; Execute turns the failure
	// into exit status 130.
	if !res.Success() || ctx.Err() != nil {
		return silentFailure()
	}
	return nil
}
