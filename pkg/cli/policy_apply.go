package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

type policyApplyOptions struct {
	inv    *invocation
	spec   policySpecFlags
	dryRun bool
	force  bool
	output *outputFlag
}

func newPolicyApplyCommand(inv *invocation) *cobra.Command {
	o := &policyApplyOptions{inv: inv}
	cmd := &cobra.Command{
		Use:   "apply",
		Short: "Create or update the authorization policy for meshmon's Prometheus",
		Long: `Create or update the authorization policy for meshmon's Prometheus, with
server-side apply (field manager "meshmon"). Everything is checked before the
first write: CRDs, namespaces, ServiceAccounts, ownership and permissions.
Running it again changes nothing.`,
		Example: fmt.Sprintf(`  %[1]s policy apply --dry-run
  %[1]s policy apply --allow-client grafana/grafana --allow-client flagger-system/flagger
  %[1]s policy apply --allow-federate-from 10.20.0.0/16
  %[1]s policy apply --mtls-authentication scrapers   # merge into an existing one`, inv.host.Display),
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.spec.addFlags(cmd, true, "-n")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "Print the objects as YAML (JSON with -o json) and validate them on the server; store nothing")
	cmd.Flags().BoolVar(&o.force, "force", false, "Take over objects of the same name meshmon did not create, and fields other managers set")
	o.output = addOutputFlag(cmd.Flags(), "text", "json", "yaml")
	return cmd
}

func (o *policyApplyOptions) Complete(*cobra.Command, []string) error {
	o.spec.complete()
	return nil
}

func (o *policyApplyOptions) Validate() error {
	if err := o.output.validate(); err != nil {
		return err
	}
	return o.spec.validate()
}

func (o *policyApplyOptions) Run(ctx context.Context) error {
	pol, objs, err := buildPolicy(ctx, o.inv, &o.spec, false)
	if err != nil {
		return err
	}
	return applyPolicy(ctx, o.inv, pol, objs, o.dryRun, o.force, o.output.value)
}
