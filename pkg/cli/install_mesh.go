package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/meshmon/meshmon/pkg/policy"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/viz"
)

// meshAccess are the permissions the viz and policy steps need, checked in
// preflight so that a user who may install the chart but not rewire viz is
// stopped before the release is written.
func (o *installOptions) meshAccess() []release.Access {
	vizNS := o.g.vizNamespace
	var a []release.Access
	if !o.skipViz {
		a = append(a,
			release.Access{Group: "", Resource: "namespaces", Verbs: []string{"get", "patch"}, Kind: "Namespaces", Why: "to annotate linkerd-viz's namespace with the external Prometheus"},
			release.Access{Group: "apps", Resource: "deployments", Namespace: vizNS, Verbs: []string{"get", "patch", "delete"}, Kind: "Deployments", Why: "to point metrics-api at the new Prometheus and remove the bundled one"},
			release.Access{Group: "", Resource: "configmaps", Namespace: vizNS, Verbs: []string{"get", "create", "update"}, Kind: "ConfigMaps", Why: "to keep a backup of the bundled Prometheus for 'viz restore'"},
		)
		if o.heartbeat {
			a = append(a, release.Access{Group: "batch", Resource: "cronjobs", Namespace: o.g.linkerdNamespace, Verbs: []string{"get", "patch"}, Kind: "CronJobs", Why: "to point the heartbeat at the new Prometheus"})
		}
	}
	if !o.skipPolicy {
		for _, r := range []string{"servers", "authorizationpolicies", "meshtlsauthentications", "networkauthentications"} {
			a = append(a, release.Access{Group: policy.Group, Resource: r, Namespace: vizNS, Verbs: []string{"get", "create", "patch"}, Kind: r, Why: "to protect Prometheus with Linkerd policy"})
		}
	}
	return a
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
		KeepBundled: o.keepBundled, Heartbeat: o.heartbeat,
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
