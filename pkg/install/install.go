package install

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/linkerd"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/ui"
	"github.com/meshmon/meshmon/pkg/viz"
)

// Options say what one install does.
type Options struct {
	// Values are the chart options asked for; Namespace and Scrape are filled in from Env
	// and the cluster.
	Values release.ValuesOptions
	Chart  release.ChartSource
	// UserValues are laid over meshmon's (-f/--set).
	UserValues map[string]any
	// Timeout bounds the wait for the release before it is rolled back.
	Timeout time.Duration
	// DryRun prints what would be applied and changes nothing; Repair resolves a release
	// stuck pending first.
	DryRun, Repair bool

	// The steps after the release: linkerd-viz rewiring, policy, the health suite.
	SkipViz bool
	// VizChart says where the chart of a Helm-installed linkerd-viz comes from.
	VizChart    viz.ChartOptions
	KeepBundled bool
	Heartbeat   bool
	SkipPolicy  bool
	// Policy shapes the authorization policy; its release and namespace are the install's.
	Policy    PolicyInput
	SkipCheck bool
	// CheckWait is how long the final checks may wait for Prometheus to start scraping.
	CheckWait time.Duration
}

// ValuesFor are the chart options for the cluster described by params.
func (o *Options) ValuesFor(e *Env, params linkerd.Facts) release.ValuesOptions {
	v := o.Values
	v.Namespace = e.Namespace
	v.Scrape = params
	if v.Scrape.VizNamespace == "" {
		v.Scrape.VizNamespace = e.VizNamespace
	}
	return v
}

// step is one stage of a pipeline, a method of the state its steps share: steps run in
// order and each one reads what earlier steps left there.
type step struct {
	name string
	run  func(context.Context) error
}

func runSteps(ctx context.Context, steps []step) error {
	for _, s := range steps {
		if err := s.run(ctx); err != nil {
			return err
		}
	}
	return nil
}

// installation is what the steps of one install share.
type installation struct {
	env      *Env
	opts     *Options
	progress ui.Progress
	clients  *kube.Clients
	target   *release.Target
	// params are the Linkerd facts read from the cluster.
	params linkerd.Facts
	plan   *release.Plan
	// server is the installed Prometheus (in a dry run: the one the chart would create).
	server *release.Server
}

// Install runs the install pipeline: preflight (read-only checks of everything the later
// steps need, reported together) → release (the Prometheus Helm release) → viz (point
// linkerd-viz at it) → policy (Linkerd authorization) → check (the health suite, proving
// it all works). Each later step finds the server the release step installed (or, in a
// dry run, would install). With DryRun every step prints to e.Out what it would apply
// instead of applying it.
func Install(ctx context.Context, e *Env, o Options) error {
	in := &installation{env: e, opts: &o, progress: e.UI.Progress()}
	return runSteps(ctx, in.steps())
}

func (in *installation) steps() []step {
	o := in.opts
	steps := []step{
		{name: "preflight", run: in.preflight},
		{name: "release", run: in.release},
	}
	if !o.SkipViz {
		steps = append(steps, step{name: "viz", run: in.configureViz})
	}
	if !o.SkipPolicy {
		steps = append(steps, step{name: "policy", run: in.applyPolicy})
	}
	if !o.SkipCheck && !o.DryRun {
		steps = append(steps, step{name: "check", run: in.runChecks})
	}
	return steps
}

// preflight loads the chart, reads the Linkerd facts, renders the plan and checks the
// cluster, all read-only.
func (in *installation) preflight(ctx context.Context) error {
	e, o, p := in.env, in.opts, in.progress
	p.Start("Loading chart")
	lc, err := release.LoadChart(ctx, o.Chart)
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
		e.warn(w)
	}

	p.Start("Checking the cluster")
	clients, err := e.Clients()
	if err != nil {
		p.Fail("cannot build a Kubernetes client")
		return err
	}
	in.clients = clients
	in.target, err = e.target(clients, o.Values.ReleaseName)
	if err != nil {
		p.Fail("cannot set up Helm")
		return err
	}
	kubeVersion := ""
	if v, err := clients.Kube.Discovery().ServerVersion(); err == nil {
		kubeVersion = v.GitVersion
	}
	params, discoverErr := linkerd.Discover(ctx, clients.Kube, e.LinkerdNamespace, e.VizNamespace)
	if discoverErr != nil {
		// Preflight reports what is missing; the defaults only serve to render the
		// chart so that the permissions it needs can still be checked.
		params = linkerd.Defaults()
		params.LinkerdNamespace, params.VizNamespace = e.LinkerdNamespace, e.VizNamespace
	}
	in.params = params
	// Federation sources added with `federate add` live in the release's values; an
	// install keeps them.
	// A history that cannot be read is reported by preflight (permissions) or by the
	// release step, which reads it again.
	var carry []map[string]any
	deployed, err := in.target.DeployedValues()
	if err == nil {
		carry = release.FederationJobs(deployed)
	}
	plan, err := release.NewPlan(ctx, release.PlanInput{
		Chart: lc, Values: o.ValuesFor(e, params), UserValues: o.UserValues, KubeVersion: kubeVersion, CarryJobs: carry, Deployed: deployed,
	})
	if err != nil {
		p.Fail("cannot render the chart")
		return err
	}
	in.plan = plan
	steps := in.meshSteps()
	if steps.viz {
		// The chart a Helm-installed viz is upgraded with is loaded now, so that one that
		// cannot be had stops the install before the release is written.
		if srv, err := release.PlannedServer(plan.Manifest, in.target.Namespace, in.target.Release, params.ClusterDomain); err == nil {
			steps.vizChart, steps.prometheusURL = o.VizChart, srv.URL
		}
	}
	results := release.Preflight(ctx, in.target, release.PreflightOptions{
		LinkerdNamespace: e.LinkerdNamespace,
		VizNamespace:     e.VizNamespace,
		StorageClass:     o.Values.StorageClass,
		StorageSize:      plan.Options.StorageSize,
		StatefulSet:      plan.Options.StatefulSet,
		Manifest:         plan.Manifest,
		Mapper:           clients.Mapper,
		// A dry run shows a stuck release in its header instead of stopping at it.
		Repair: o.Repair || o.DryRun,
		Extra:  meshAccess(e.VizNamespace, e.LinkerdNamespace, steps),
		Steps:  meshPreflight(clients, e.VizNamespace, steps),
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
			e.warn(r.Description + ": " + r.Err.Error())
		}
	}
	for _, w := range plan.Warnings {
		e.warn(w.String())
	}
	return nil
}

// meshSteps are the steps after the release this install runs.
func (in *installation) meshSteps() meshSteps {
	o := in.opts
	return meshSteps{viz: !o.SkipViz, heartbeat: o.Heartbeat, policy: !o.SkipPolicy}
}

// release installs, upgrades or (dry run) renders the Prometheus release.
func (in *installation) release(ctx context.Context) error {
	o := in.opts
	if o.DryRun {
		return in.printDryRun()
	}
	t, p := in.target, in.progress
	out := in.env.Out
	if o.Repair {
		p.Start("Repairing release " + t.Release)
		r, err := release.Repair(ctx, t, o.Timeout)
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
	res, err := release.Apply(ctx, t, in.plan, release.ApplyOptions{Timeout: o.Timeout, OnStatus: p.Update})
	if err != nil {
		p.Fail("release " + t.Release + " not applied")
		return err
	}
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
	if len(in.plan.CarriedRemoteWrite) > 0 {
		fmt.Fprintf(out, "Remote-write endpoints kept from the deployed release: %s\n", strings.Join(in.plan.CarriedRemoteWrite, ", "))
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

// printDryRun writes the values (as a comment) and the rendered manifest to Out.
func (in *installation) printDryRun() error {
	t, plan := in.target, in.plan
	var action string
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
	fmt.Fprintf(&b, "# %s install --dry-run: nothing below has been applied.\n", in.env.Host)
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
	if _, err := io.WriteString(in.env.Out, b.String()); err != nil {
		return err
	}
	in.server, err = release.PlannedServer(manifest, t.Namespace, t.Release, in.params.ClusterDomain)
	return err
}
