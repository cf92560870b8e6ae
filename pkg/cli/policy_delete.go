package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/meshmon/meshmon/pkg/policy"
)

type policyDeleteOptions struct {
	inv    *invocation
	spec   policySpecFlags
	dryRun bool
	output *outputFlag
}

func newPolicyDeleteCommand(inv *invocation) *cobra.Command {
	o := &policyDeleteOptions{inv: inv}
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "Delete meshmon's policy objects",
		Long: `Delete the policy objects meshmon created for this Prometheus (also in the
namespaces allow-scrapes covered). From a MeshTLSAuthentication meshmon merged
into (name it with --mtls-authentication, as for apply), only the identities
meshmon added are removed. Objects meshmon did not create are never deleted.`,
		Example: fmt.Sprintf(`  %[1]s policy delete --dry-run
  %[1]s policy delete --mtls-authentication scrapers`, inv.host.Display),
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.spec.addFlags(cmd, false, "-n")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "Send every deletion as a server-side dry run; change nothing")
	o.output = addOutputFlag(cmd.Flags(), "text", "json", "yaml")
	return cmd
}

func (o *policyDeleteOptions) Complete(*cobra.Command, []string) error {
	o.spec.complete()
	return nil
}

func (o *policyDeleteOptions) Validate() error {
	if err := o.output.validate(); err != nil {
		return err
	}
	return o.spec.validate()
}

func (o *policyDeleteOptions) Run(ctx context.Context) error {
	pol, objs, err := buildPolicy(ctx, o.inv, &o.spec, true)
	if err != nil {
		return err
	}
	changes, err := policy.Delete(ctx, pol.Clients, objs, policy.DeleteOptions{DryRun: o.dryRun})
	if perr := printChanges(o.inv.streams.Out, o.output.value, changes, true); perr != nil {
		return perr
	}
	return err
}
