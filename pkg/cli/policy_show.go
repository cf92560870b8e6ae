package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/meshmon/meshmon/pkg/policy"
)

type policyShowOptions struct {
	inv    *invocation
	spec   policySpecFlags
	output *outputFlag
}

func newPolicyShowCommand(inv *invocation) *cobra.Command {
	o := &policyShowOptions{inv: inv}
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Show which policy objects exist and which are missing",
		Long: `Compare the policy objects meshmon would apply (same flags as apply) with the
cluster: present, missing, drifted, unmanaged (same name, not meshmon's), merged
(a MeshTLSAuthentication meshmon merged into) or stale (no longer wanted).`,
		Example: fmt.Sprintf(`  %[1]s policy show
  %[1]s policy show --allow-client grafana/grafana -o json`, inv.host.Display),
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.spec.addFlags(cmd, true, "-n")
	o.output = addOutputFlag(cmd.Flags(), "table", "json", "yaml")
	return cmd
}

func (o *policyShowOptions) Complete(*cobra.Command, []string) error {
	o.spec.complete()
	return nil
}

func (o *policyShowOptions) Validate() error {
	if err := o.output.validate(); err != nil {
		return err
	}
	return o.spec.validate()
}

func (o *policyShowOptions) Run(ctx context.Context) error {
	pol, objs, err := buildPolicy(ctx, o.inv, &o.spec, false)
	if err != nil {
		return err
	}
	st, err := policy.Show(ctx, pol.Clients, objs)
	if err != nil {
		return err
	}
	w := o.inv.streams.Out
	if o.output.value != "table" {
		return printDocument(w, o.output.value, st)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header, rows := st.Table()
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if m := st.MeshTLSAuthentication; m != nil {
		owner := "meshmon's own"
		if m.Exists && !m.ManagedByMeshmon {
			owner = "not meshmon's; identities merged in"
		}
		if !m.Exists {
			owner = "missing"
		}
		fmt.Fprintf(w, "\nMeshTLSAuthentication %s/%s (%s):\n", m.Namespace, m.Name, owner)
		for _, id := range m.Identities {
			mark := ""
			if slices.Contains(m.AddedByMeshmon, id) {
				mark = "  (added by meshmon)"
			}
			fmt.Fprintf(w, "  %s%s\n", id, mark)
		}
		for _, id := range m.Missing {
			fmt.Fprintf(w, "  %s  (missing)\n", id)
		}
	}
	if st.InSync {
		fmt.Fprintln(w, "\nThe policy is in place.")
	} else {
		fmt.Fprintf(w, "\nThe policy is not in place: run `%s policy apply` with the same flags.\n", o.inv.host.Display)
	}
	return nil
}
