package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/meshmon/meshmon/pkg/policy"
	"github.com/meshmon/meshmon/pkg/viz"
)

// restoreViz puts linkerd-viz back as it was before install, from the record
// configure left on its namespace; without a record there is nothing to do.
func (o *uninstallOptions) restoreViz(ctx context.Context, un *uninstallation) error {
	p := un.progress
	p.Start("Restoring linkerd-viz")
	changes, err := viz.Restore(ctx, vizClients(un.clients), viz.RestoreOptions{Namespace: o.g.vizNamespace})
	switch {
	case errors.Is(err, viz.ErrNotInstalled):
		p.Done("linkerd-viz is not installed; nothing to restore")
		return nil
	case err != nil:
		p.Fail("restoring linkerd-viz failed")
		if len(changes) > 0 {
			_ = printVizResult(o.g.streams.Out, "text", vizResult{Changes: changes})
		}
		return fmt.Errorf("%w\n(nothing was uninstalled; fix the cause and run uninstall again, or pass --skip-viz to leave linkerd-viz as it is)", err)
	}
	p.Done(vizSummary(changes, "linkerd-viz had nothing of meshmon's to restore", "linkerd-viz restored"))
	return printVizResult(o.g.streams.Out, "text", vizResult{Changes: changes})
}

// deletePolicy removes meshmon's authorization objects and takes meshmon's
// identities out of a MeshTLSAuthentication it merged into.
func (o *uninstallOptions) deletePolicy(ctx context.Context, un *uninstallation) error {
	flags := &policySpecFlags{releaseName: o.releaseName, mtlsName: o.mtlsName}
	if err := flags.validate(); err != nil {
		return err
	}
	p := un.progress
	p.Start("Deleting the Linkerd authorization policy")
	env, err := policySpec(ctx, o.g, flags, true)
	if err != nil {
		p.Fail("cannot read the policy")
		return fmt.Errorf("%w\n(nothing was uninstalled; pass --skip-policy to leave the policy objects in place)", err)
	}
	objs, err := policy.Build(env.spec)
	if err != nil {
		p.Fail("cannot name the policy objects")
		return err
	}
	changes, err := policy.Delete(ctx, env.pc, objs, policy.DeleteOptions{})
	switch {
	case errors.Is(err, policy.ErrCRDsNotInstalled):
		p.Done("Linkerd policy CRDs are not installed; no policy to delete")
		return nil
	case err != nil:
		p.Fail("deleting the authorization policy failed")
		return fmt.Errorf("%w\n(nothing was uninstalled; fix the cause and run uninstall again, or pass --skip-policy)", err)
	}
	p.Done("authorization policy deleted")
	return printPolicyChanges(o.g.streams.Out, "text", changes)
}
