package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/ui"
)

type uninstallOptions struct {
	g           *globals
	releaseName string
	deleteData  bool
	timeout     time.Duration
	skipViz     bool
	skipPolicy  bool
	mtlsName    string
}

func newUninstallCommand(g *globals) *cobra.Command {
	o := &uninstallOptions{g: g, releaseName: defaults.ReleaseName, timeout: defaults.Timeout}
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove meshmon's Prometheus release; its data volume is kept unless --delete-data",
		Long: `Remove the Prometheus Helm release meshmon installed.

The data volume (the PVC, or the StatefulSet's claim) is kept, with everything
Prometheus stored, so that a later install binds the same volume again and continues
where it left off. The command prints what it kept and how to delete it; --delete-data
deletes it too.`,
		Example: fmt.Sprintf(`  # Remove Prometheus, keep its data for a later install
  %[1]s uninstall

  # Remove Prometheus and its data
  %[1]s uninstall --delete-data`, g.host.Display),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.releaseName, "release-name", o.releaseName, "Name of the Helm release")
	f.BoolVar(&o.deleteData, "delete-data", false, "Delete the data volume claim too (the metrics are lost unless the volume's reclaim policy is Retain)")
	f.DurationVar(&o.timeout, "timeout", o.timeout, "How long to wait for the objects to be deleted")
	f.BoolVar(&o.skipViz, "skip-viz", false, "Leave linkerd-viz as it is instead of restoring its previous Prometheus settings")
	f.BoolVar(&o.skipPolicy, "skip-policy", false, "Leave meshmon's authorization policy objects in place")
	f.StringVar(&o.mtlsName, "mtls-authentication", "", "The MeshTLSAuthentication given to install with --mtls-authentication, to take meshmon's identities out of it")
	return cmd
}

// Validate checks the flags without contacting the cluster.
func (o *uninstallOptions) Validate() error {
	if o.timeout <= 0 {
		return usageError("--timeout must be positive, e.g. 5m")
	}
	if o.releaseName == "" {
		return usageError("--release-name must not be empty")
	}
	return nil
}

// uninstallStep is one stage of an uninstall; steps run in order and share the
// uninstallation.
type uninstallStep struct {
	name string
	run  func(context.Context, *uninstallation) error
}

// steps is the uninstall sequence. Restoring linkerd-viz and deleting the policies
// come before the release removal, so nothing keeps pointing at, or protecting, a
// Prometheus that is gone.
func (o *uninstallOptions) steps() []uninstallStep {
	steps := []uninstallStep{{name: "connect", run: o.connect}}
	if !o.skipViz {
		steps = append(steps, uninstallStep{name: "viz", run: o.restoreViz})
	}
	if !o.skipPolicy {
		steps = append(steps, uninstallStep{name: "policy", run: o.deletePolicy})
	}
	return append(steps, uninstallStep{name: "release", run: o.removeRelease})
}

// uninstallation is what the steps of one uninstall share.
type uninstallation struct {
	ui       *ui.UI
	progress ui.Progress
	clients  *kube.Clients
	target   *release.Target
	result   *release.UninstallResult
}

// Run executes the steps.
func (o *uninstallOptions) Run(ctx context.Context) error {
	u := o.g.ui(false)
	un := &uninstallation{ui: u, progress: u.Progress()}
	for _, s := range o.steps() {
		if err := s.run(ctx, un); err != nil {
			return err
		}
	}
	return nil
}

func (o *uninstallOptions) connect(_ context.Context, un *uninstallation) error {
	clients, err := o.g.kubeClients()
	if err != nil {
		return err
	}
	un.clients = clients
	un.target, err = release.NewTarget(clients.Flags, clients.Kube, o.g.namespace(), o.releaseName, helmLog(o.g))
	return err
}

func (o *uninstallOptions) removeRelease(ctx context.Context, un *uninstallation) error {
	t, p, out := un.target, un.progress, o.g.streams.Out
	p.Start(fmt.Sprintf("Uninstalling release %s from namespace %s", t.Release, t.Namespace))
	res, err := release.Uninstall(ctx, t, release.UninstallOptions{DeleteData: o.deleteData, Timeout: o.timeout, OnStatus: p.Update})
	if errors.Is(err, release.ErrNotInstalled) {
		p.Fail("nothing to uninstall")
		return fmt.Errorf("release %s is not installed in namespace %s and left no data volume there; nothing to uninstall (pass -n/--release-name if it was installed elsewhere)", t.Release, t.Namespace)
	}
	if err != nil {
		p.Fail("uninstall failed")
		return err
	}
	un.result = res
	if res.Revision != 0 {
		p.Done(fmt.Sprintf("release %s removed", t.Release))
		fmt.Fprintf(out, "Uninstalled release %s (revision %d) from namespace %s.\n", t.Release, res.Revision, t.Namespace)
	} else {
		p.Done(fmt.Sprintf("release %s was already gone", t.Release))
		fmt.Fprintf(out, "Release %s was not installed in namespace %s; only its data volume was left.\n", t.Release, t.Namespace)
	}
	for _, v := range res.Deleted {
		fmt.Fprintf(out, "Deleted the data volume: %s.\n", v)
		if v.ReclaimPolicy == "Retain" && v.PersistentVolume != "" {
			fmt.Fprintf(out, "PersistentVolume %s has reclaim policy Retain: the data stays on it until you delete it (kubectl delete pv %s).\n", v.PersistentVolume, v.PersistentVolume)
		}
	}
	for _, v := range res.Kept {
		fmt.Fprintf(out, "Kept the data volume: %s.\n", v)
	}
	if len(res.Kept) > 0 {
		fmt.Fprintf(out, "A later '%s install' in this namespace with release name %s uses it again. To delete it: %s uninstall --delete-data -n %s", o.g.host.Display, t.Release, o.g.host.Display, t.Namespace)
		if t.Release != defaults.ReleaseName {
			fmt.Fprintf(out, " --release-name %s", t.Release)
		}
		fmt.Fprintf(out, ", or kubectl delete pvc -n %s", t.Namespace)
		for _, v := range res.Kept {
			fmt.Fprintf(out, " %s", v.Claim)
		}
		fmt.Fprintln(out)
	}
	return nil
}
