package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/meshmon/meshmon/pkg/policy"
	"github.com/meshmon/meshmon/pkg/viz"
)

// meshSteps are the steps after the release this install runs.
func (o *installOptions) meshSteps() meshSteps {
	return meshSteps{viz: !o.skipViz, heartbeat: o.heartbeat, policy: !o.skipPolicy}
}

// configureViz points linkerd-viz at the release's Prometheus (dry run: prints the changes
// as YAML comments, since they are patches of existing objects, not manifests).
func (o *installOptions) configureViz(ctx context.Context, in *installation) error {
	vc := vizClients(in.clients)
	det, err := viz.Detect(ctx, vc, o.g.vizNamespace)
	if err != nil {
		return o.afterRelease(fmt.Errorf("cannot rewire linkerd-viz: %w", err))
	}
	opts := viz.Options{
		Namespace: o.g.vizNamespace, LinkerdNamespace: o.g.linkerdNamespace, PrometheusURL: in.server.URL,
		KeepBundled: o.keepBundled, Heartbeat: o.heartbeat, Chart: o.vizChart,
	}
	if o.dryRun {
		changes, err := viz.Plan(ctx, vc, opts)
		if err != nil {
			return err
		}
		return printVizDryRun(o.g.streams.Out, det, in.server.URL, changes)
	}
	p := in.progress
	p.Start("Rewiring linkerd-viz (" + string(det.Method) + "-installed) to " + in.server.URL)
	changes, err := viz.Configure(ctx, vc, opts)
	if err != nil {
		p.Fail("rewiring linkerd-viz failed")
		if len(changes) > 0 {
			_ = printVizResult(o.g.streams.Out, "text", vizResult{Changes: changes})
		}
		return o.afterRelease(fmt.Errorf("%w\n(`%s viz restore` undoes any change listed above)", err, o.g.host.Display))
	}
	p.Done(vizSummary(changes, "linkerd-viz already uses "+in.server.URL, "linkerd-viz now uses "+in.server.URL))
	return printVizResult(o.g.streams.Out, "text", vizResult{Changes: changes})
}

// applyPolicy applies the Linkerd authorization objects for the release's server.
func (o *installOptions) applyPolicy(ctx context.Context, in *installation) error {
	env, err := policySpecFor(ctx, in.clients, in.params, o.g.namespace(), &o.policy, in.server)
	if err != nil {
		return o.afterRelease(err)
	}
	objs, err := policy.Build(env.spec)
	if err != nil {
		return usageError("%w", err)
	}
	if o.dryRun {
		fmt.Fprintf(o.g.streams.Out, "# Linkerd authorization policy (server-side apply, field manager %q):\n", "meshmon")
		return printPolicyObjects(o.g.streams.Out, "yaml", objs)
	}
	p := in.progress
	p.Start("Applying the Linkerd authorization policy")
	changes, err := policy.Apply(ctx, env.pc, objs, policy.ApplyOptions{})
	if err != nil {
		p.Fail("applying the authorization policy failed")
		if len(changes) > 0 {
			_ = printPolicyChanges(o.g.streams.Out, "text", changes)
		}
		return o.afterRelease(err)
	}
	summary := "authorization policy unchanged"
	if policyChanged(changes) {
		summary = "authorization policy applied"
	}
	p.Done(summary)
	return printPolicyChanges(o.g.streams.Out, "text", changes)
}

// runChecks ends the install with the health suite, so the user sees that
// Prometheus is persistent, scraping, wired into viz and protected; it waits
// for a freshly started Prometheus to come up and scrape.
func (o *installOptions) runChecks(ctx context.Context, in *installation) error {
	c := newCheckOptions(o.g)
	c.releaseName = in.target.Release
	c.wait = o.checkWait
	fmt.Fprintln(o.g.streams.Out)
	res, err := c.execute(ctx, o.g.streams.Out)
	if err != nil {
		return err
	}
	if !res.Success() {
		return fmt.Errorf("meshmon is installed, but the checks above failed; fix what they name and run `%s check`", o.g.host.Display)
	}
	return nil
}

// afterRelease explains that the release itself is in place: a failure in a
// later step must not read as if Prometheus were not installed.
func (o *installOptions) afterRelease(err error) error {
	if o.dryRun {
		return err
	}
	return fmt.Errorf("%w\n(the Prometheus release is installed; fix the cause and run install again: it picks up where it stopped)", err)
}

func printVizDryRun(w io.Writer, det viz.Install, url string, changes viz.Changes) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# linkerd-viz (%s-installed, namespace %s): point it at %s\n", det.Method, det.Namespace, url)
	if !changes.Changed() {
		b.WriteString("#   nothing to change\n")
	}
	for _, ch := range changes {
		fmt.Fprintf(&b, "#   %s %s/%s: %s", ch.Action, ch.Kind, ch.Name, ch.Detail)
		b.WriteString("\n")
		if ch.Patch != "" {
			b.WriteString(vizIndent(strings.TrimRight(ch.Patch, "\n"), "#       "))
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
