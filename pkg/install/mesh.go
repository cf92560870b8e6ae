package install

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/meshmon/meshmon/pkg/change"
	"github.com/meshmon/meshmon/pkg/checks"
	"github.com/meshmon/meshmon/pkg/healthcheck"
	"github.com/meshmon/meshmon/pkg/policy"
	"github.com/meshmon/meshmon/pkg/ui"
	"github.com/meshmon/meshmon/pkg/viz"
)

// configureViz points linkerd-viz at the release's Prometheus (dry run: prints the changes
// as YAML comments, since they are patches of existing objects, not manifests).
func (in *installation) configureViz(ctx context.Context) error {
	e, o := in.env, in.opts
	vc := VizClients(in.clients)
	det, err := viz.Detect(ctx, vc, e.VizNamespace)
	if err != nil {
		return in.afterRelease(fmt.Errorf("cannot rewire linkerd-viz: %w", err))
	}
	opts := viz.Options{
		Namespace: e.VizNamespace, LinkerdNamespace: e.LinkerdNamespace, PrometheusURL: in.server.URL,
		KeepBundled: o.KeepBundled, Heartbeat: o.Heartbeat, Chart: o.VizChart,
	}
	if o.DryRun {
		changes, err := viz.Plan(ctx, vc, opts)
		if err != nil {
			return err
		}
		return printVizDryRun(e.Out, det, in.server.URL, changes)
	}
	p := in.progress
	p.Start("Rewiring linkerd-viz (" + string(det.Method) + "-installed) to " + in.server.URL)
	changes, err := viz.Configure(ctx, vc, opts)
	if err != nil {
		p.Fail("rewiring linkerd-viz failed")
		if len(changes) == 0 {
			return in.afterRelease(err)
		}
		_ = change.WriteText(e.Out, changes, false)
		return in.afterRelease(fmt.Errorf("%w\n(`%s viz restore` undoes any change listed above)", err, e.Host))
	}
	if changes.Changed() {
		p.Done("linkerd-viz now uses " + in.server.URL)
	} else {
		p.Done("linkerd-viz already uses " + in.server.URL)
	}
	return change.WriteText(e.Out, changes, false)
}

// applyPolicy applies the Linkerd authorization objects for the release's server.
func (in *installation) applyPolicy(ctx context.Context) error {
	e, o := in.env, in.opts
	pin := o.Policy
	pin.ReleaseName, pin.PrometheusNamespace = in.target.Release, e.Namespace
	pol, err := PolicyFor(ctx, in.clients, in.params, pin, in.server)
	if err != nil {
		return in.afterRelease(err)
	}
	objs, err := policy.Build(pol.Spec)
	if err != nil {
		return &InputError{Err: err}
	}
	if o.DryRun {
		fmt.Fprintf(e.Out, "# Linkerd authorization policy (server-side apply, field manager %q):\n", "meshmon")
		return policy.WriteYAML(e.Out, objs)
	}
	p := in.progress
	p.Start("Applying the Linkerd authorization policy")
	changes, err := policy.Apply(ctx, pol.Clients, objs, policy.ApplyOptions{})
	if err != nil {
		p.Fail("applying the authorization policy failed")
		if len(changes) > 0 {
			_ = change.WriteText(e.Out, changes, true)
		}
		return in.afterRelease(err)
	}
	if changes.Changed() {
		p.Done("authorization policy applied")
	} else {
		p.Done("authorization policy unchanged")
	}
	return change.WriteText(e.Out, changes, true)
}

// runChecks ends the install with the health suite, so the user sees that
// Prometheus is persistent, scraping, wired into viz and protected; it waits
// for a freshly started Prometheus to come up and scrape.
func (in *installation) runChecks(ctx context.Context) error {
	e := in.env
	fmt.Fprintln(e.Out)
	so := checks.SuiteOptions{
		Options: checks.Options{
			ReleaseName:      in.target.Release,
			Namespace:        e.Namespace,
			LinkerdNamespace: e.LinkerdNamespace,
			VizNamespace:     e.VizNamespace,
		},
		Deps:   SuiteDeps(e.Clients),
		Format: healthcheck.FormatTable,
		Color:  e.UI.OutColor,
		Wait:   in.opts.CheckWait,
	}
	if e.UI.Interactive && !e.UI.Quiet {
		s := ui.NewRetrySpinner(e.UI.Progress())
		so.OnRetry, so.BeforeCategory = s.Retry, s.Stop
	}
	res, err := checks.RunSuite(ctx, e.Out, so)
	if err != nil {
		return err
	}
	if !res.Success() {
		return fmt.Errorf("meshmon is installed, but the checks above failed; fix what they name and run `%s check`", e.Host)
	}
	return nil
}

// afterRelease explains that the release itself is in place: a failure in a
// later step must not read as if Prometheus were not installed.
func (in *installation) afterRelease(err error) error {
	if in.opts.DryRun {
		return err
	}
	return fmt.Errorf("%w\n(the Prometheus release is installed; fix the cause and run install again: it picks up where it stopped)", err)
}

func printVizDryRun(w io.Writer, det viz.Install, url string, changes change.Changes) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# linkerd-viz (%s-installed, namespace %s): point it at %s\n", det.Method, det.Namespace, url)
	if !changes.Changed() {
		b.WriteString("#   nothing to change\n")
	}
	for _, ch := range changes {
		fmt.Fprintf(&b, "#   %s %s/%s: %s", ch.Action, ch.Kind, ch.Name, ch.Detail)
		b.WriteString("\n")
		if ch.Patch != "" {
			b.WriteString(change.Indent(strings.TrimRight(ch.Patch, "\n"), "#       "))
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
