package cli

import (
	"context"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/meshmon/meshmon/pkg/change"
	"github.com/meshmon/meshmon/pkg/policy"
)

type policyAllowScrapesOptions struct {
	inv    *invocation
	spec   policySpecFlags
	all    bool
	dryRun bool
	force  bool
	output *outputFlag

	// namespace is -n, derived by Complete.
	namespace string
}

func newPolicyAllowScrapesCommand(inv *invocation) *cobra.Command {
	o := &policyAllowScrapesOptions{inv: inv}
	cmd := &cobra.Command{
		Use:   "allow-scrapes",
		Short: "Authorize meshmon's Prometheus to scrape proxies in namespaces that deny by default",
		Long: `Authorize meshmon's Prometheus (and viz's own, and tap) to scrape the proxies'
/metrics in namespaces whose default inbound policy is deny, keeping the
proxies' /live and /ready probes working. Like "linkerd viz allow-scrapes", but
for meshmon's real Prometheus identity. Namespaces that do not deny by default
need nothing and are skipped, with the reason.

Here -n names the namespace to authorize; meshmon's Prometheus is found in
--prometheus-namespace (default the viz namespace).`,
		Example: fmt.Sprintf(`  %[1]s policy allow-scrapes -n emojivoto
  %[1]s policy allow-scrapes --all-meshed-namespaces --dry-run`, inv.host.Display),
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.spec.addFlags(cmd, false, "--prometheus-namespace")
	cmd.Flags().StringVar(&o.spec.promNamespace, "prometheus-namespace", "", "Namespace of meshmon's Prometheus release (default the viz namespace)")
	cmd.Flags().BoolVar(&o.all, "all-meshed-namespaces", false, "Consider every namespace with meshed pods instead of -n")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "Print the objects as YAML (JSON with -o json) and validate them on the server; store nothing")
	cmd.Flags().BoolVar(&o.force, "force", false, "Take over objects of the same name meshmon did not create")
	o.output = addOutputFlag(cmd.Flags(), "text", "json", "yaml")
	return cmd
}

// Complete reads -n (here the namespace to authorize) and defaults Prometheus' namespace
// to the viz namespace.
func (o *policyAllowScrapesOptions) Complete(*cobra.Command, []string) error {
	if ns := o.inv.kubeFlags.Namespace; ns != nil {
		o.namespace = *ns
	}
	if o.spec.promNamespace == "" {
		o.spec.promNamespace = o.inv.vizNamespace
	}
	o.spec.complete()
	return nil
}

func (o *policyAllowScrapesOptions) Validate() error {
	if err := o.output.validate(); err != nil {
		return err
	}
	switch {
	case o.namespace == "" && !o.all:
		return usageError("name the namespace to authorize with -n NAMESPACE, or use --all-meshed-namespaces")
	case o.namespace != "" && o.all:
		return usageError("-n and --all-meshed-namespaces exclude each other")
	}
	return o.spec.validate()
}

func (o *policyAllowScrapesOptions) Run(ctx context.Context) error {
	pol, err := o.inv.env(false).ReadPolicy(ctx, o.spec.input(), false)
	if err != nil {
		return err
	}
	decisions, err := policy.DecideScrapes(ctx, pol.Kube.Kube, pol.Params.LinkerdNamespace, []string{o.namespace}, o.all)
	if err != nil {
		return err
	}
	var allow []string
	for _, d := range decisions {
		if d.Allowed {
			allow = append(allow, d.Namespace)
		}
	}
	output := o.output.value
	textOut := o.inv.streams.Out
	if o.dryRun || machineReadable(output) {
		textOut = o.inv.streams.ErrOut
	}
	for _, d := range decisions {
		verb := "skipped"
		if d.Allowed {
			verb = "authorizing"
		}
		if output == "text" || o.dryRun {
			fmt.Fprintf(textOut, "namespace %s: %s (default inbound policy %s, from %s): %s\n", d.Namespace, verb, d.Policy, d.From, d.Reason)
		}
	}
	if len(allow) == 0 {
		if machineReadable(output) && !o.dryRun {
			return printDocument(o.inv.streams.Out, output, map[string]any{"namespaces": decisions, "changes": change.Changes{}})
		}
		fmt.Fprintln(textOut, "No namespace needs scrape authorization.")
		return nil
	}
	spec := pol.Spec
	spec.ScrapeNamespaces = append(slices.Clone(spec.ScrapeNamespaces), allow...)
	objs, err := policy.Build(spec)
	if err != nil {
		return usageError("%w", err)
	}
	scrapeObjs := policy.ScrapeObjects(objs, allow)
	if machineReadable(output) && !o.dryRun {
		changes, err := policy.Apply(ctx, pol.Clients, scrapeObjs, policy.ApplyOptions{Force: o.force})
		if err != nil {
			return err
		}
		return printDocument(o.inv.streams.Out, output, map[string]any{"namespaces": decisions, "changes": changes})
	}
	return applyPolicy(ctx, o.inv, pol, scrapeObjs, o.dryRun, o.force, output)
}
