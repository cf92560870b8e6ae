package cli

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"helm.sh/helm/v4/pkg/action"

	"github.com/meshmon/meshmon/pkg/checks"
	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/healthcheck"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/ui"
)

// checkOptions are the flags of `check`. install builds one with
// newCheckOptions and calls execute to finish with the health suite.
type checkOptions struct {
	g *globals

	output        string
	wait          time.Duration
	pre           bool
	proxy         bool
	releaseName   string
	prometheusURL string
	dashboardURL  string
	storageClass  string
	categories    []string
}

// newCheckOptions returns the defaults of `check`: the whole health suite,
// table output, no waiting.
func newCheckOptions(g *globals) *checkOptions {
	return &checkOptions{g: g, output: healthcheck.FormatTable, releaseName: defaults.ReleaseName}
}

func newCheckCommand(g *globals) *cobra.Command {
	o := newCheckOptions(g)
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
  %[1]s check -o json`, g.host.Display),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	if g.host.Linkerd {
		// `linkerd check` forwards flags of its own (and future ones) to every
		// extension; unknown ones must not make the check fail.
		cmd.FParseErrWhitelist.UnknownFlags = true
		cmd.Args = cobra.ArbitraryArgs
	}
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", o.output, "Output format: table, short or json")
	f.DurationVar(&o.wait, "wait", o.wait, "Retry failing checks that may still pass (a starting pod, a pending volume) for up to this long")
	f.BoolVar(&o.pre, "pre", false, "Run the preflight checks for install instead (API access, RBAC, Linkerd, viz, storage)")
	f.BoolVar(&o.proxy, "proxy", false, "Only run the data-plane checks (targets and meshed-pod coverage)")
	f.StringVar(&o.releaseName, "release-name", o.releaseName, "Name of the Prometheus Helm release")
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

func (o *checkOptions) Validate() error {
	if err := validateOutput(o.output, healthcheck.Formats()...); err != nil {
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
	promNS, dataPlaneNS := o.g.namespace(), ""
	if o.g.host.Linkerd && o.proxy && promNS != o.g.vizNamespace {
		// `linkerd check --proxy -n X` means "the data plane in X", and
		// linkerd forwards it to every extension as --namespace=X.
		promNS, dataPlaneNS = o.g.vizNamespace, promNS
	}
	return checks.Options{
		ReleaseName:        o.releaseName,
		Namespace:          promNS,
		DataPlaneNamespace: dataPlaneNS,
		LinkerdNamespace:   o.g.linkerdNamespace,
		VizNamespace:       o.g.vizNamespace,
		PrometheusURL:      o.prometheusURL,
		DashboardURL:       o.dashboardURL,
		Proxy:              o.proxy,
		Categories:         o.categories,
	}
}

func (o *checkOptions) deps() checks.Deps {
	g := o.g
	helm := func(namespace string) (*action.Configuration, error) {
		c, err := g.kubeClients()
		if err != nil {
			return nil, err
		}
		return vizClients(c).Helm(namespace)
	}
	return checks.Deps{
		Clients: func() (*checks.Clients, error) {
			c, err := g.kubeClients()
			if err != nil {
				return nil, err
			}
			return &checks.Clients{Kube: c.Kube, Dynamic: c.Dynamic, Config: c.Config, Host: c.Config.Host, Context: c.Context}, nil
		},
		Releases: checks.HelmReleases(helm),
		Helm:     helm,
	}
}

// Run prints the results and fails (exit 1) when a check failed.
func (o *checkOptions) Run(ctx context.Context) error {
	res, err := o.execute(ctx, o.g.streams.Out)
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

// execute runs the selected checks and writes their results to w as they
// come, in o.output's format. The error is about the run itself (bad
// options, an unwritable output); failed checks are in the results.
func (o *checkOptions) execute(ctx context.Context, w io.Writer) (healthcheck.Results, error) {
	u := o.g.ui(machineReadable(o.output))
	printer, err := healthcheck.NewPrinter(w, o.output, u.OutColor)
	if err != nil {
		return healthcheck.Results{}, usageError("%w", err)
	}
	env := checks.NewEnv(o.checksOptions(), o.deps())
	defer env.Close()

	var cats []healthcheck.Category
	if o.pre {
		cats = []healthcheck.Category{o.preflight(ctx)}
	} else if cats, err = checks.Catalog(env); err != nil {
		return healthcheck.Results{}, usageError("%w", err)
	}
	if o.g.host.Linkerd && !o.pre && len(o.categories) == 0 {
		// linkerd check runs every extension on the PATH: someone who never
		// installed meshmon must get a pass, not a failure. When the question
		// cannot be answered, the checks run and say why.
		if installed, err := env.Installed(ctx); err == nil && !installed {
			cats = []healthcheck.Category{checks.NotInstalled()}
		}
	}

	opts := healthcheck.Options{HintBaseURL: checks.HintBaseURL, Wait: o.wait, OnCategory: printer.Category}
	if u.Interactive && !u.Quiet {
		s := &retrySpinner{progress: u.Progress(), start: time.Now()}
		opts.OnRetry = s.retry
		opts.OnCategory = func(c healthcheck.CategoryResult) {
			s.stop()
			printer.Category(c)
		}
	}
	res, err := healthcheck.Run(ctx, cats, opts)
	if err != nil {
		return healthcheck.Results{}, err
	}
	if err := printer.Finish(res); err != nil {
		return res, err
	}
	return res, nil
}

// preflight runs install's preflight (with install's defaults) and shows its
// results as one category.
func (o *checkOptions) preflight(ctx context.Context) healthcheck.Category {
	g := o.g
	c, err := g.kubeClients()
	if err == nil {
		var t *release.Target
		if t, err = release.NewTarget(c.Flags, c.Kube, g.namespace(), o.releaseName, helmLog(g)); err == nil {
			steps := meshSteps{viz: true, policy: true}
			return preflightCategory(release.Preflight(ctx, t, release.PreflightOptions{
				LinkerdNamespace: g.linkerdNamespace,
				VizNamespace:     g.vizNamespace,
				StorageClass:     o.storageClass,
				Mapper:           c.Mapper,
				Extra:            meshAccess(g.vizNamespace, g.linkerdNamespace, steps),
				Steps:            meshPreflight(c, g.vizNamespace, steps),
			}))
		}
	}
	return preflightCategory([]release.PreflightResult{{Description: "can initialize the Kubernetes client", Err: err}})
}

// retrySpinner shows on a terminal which check --wait is waiting for. The
// engine never calls it concurrently.
type retrySpinner struct {
	progress ui.Progress
	start    time.Time
	running  bool
}

func (s *retrySpinner) retry(_ string, description string, attempt int, err error) {
	if !s.running {
		s.progress.Start("waiting for checks to pass")
		s.running = true
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	s.progress.Update(fmt.Sprintf("%s (attempt %d): %s", description, attempt, msg))
}

// stop ends the spinner before results are printed, so the two never mix.
func (s *retrySpinner) stop() {
	if s.running {
		s.progress.Done(fmt.Sprintf("waited %s", time.Since(s.start).Round(time.Second)))
		s.running = false
	}
}
