package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshmon/meshmon/pkg/install"
	"github.com/meshmon/meshmon/pkg/viz"
)

type uninstallOptions struct {
	inv         *invocation
	releaseName string
	deleteData  bool
	timeout     time.Duration
	skipViz     bool
	vizChart    viz.ChartOptions
	skipPolicy  bool
	mtlsName    string
}

func newUninstallCommand(inv *invocation) *cobra.Command {
	o := &uninstallOptions{inv: inv}
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
  %[1]s uninstall --delete-data`, inv.host.Display),
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	f := cmd.Flags()
	addReleaseNameFlag(f, &o.releaseName, "Name of the Helm release")
	f.BoolVar(&o.deleteData, "delete-data", false, "Delete the data volume claim too (the metrics are lost unless the volume's reclaim policy is Retain)")
	addTimeoutFlag(f, &o.timeout, "How long to wait for the objects to be deleted")
	f.BoolVar(&o.skipViz, "skip-viz", false, "Leave linkerd-viz as it is instead of restoring its previous Prometheus settings")
	addVizChartFlags(f, &o.vizChart)
	f.BoolVar(&o.skipPolicy, "skip-policy", false, "Leave meshmon's authorization policy objects in place")
	f.StringVar(&o.mtlsName, "mtls-authentication", "", "The MeshTLSAuthentication given to install with --mtls-authentication, to take meshmon's identities out of it")
	return cmd
}

func (o *uninstallOptions) Complete(*cobra.Command, []string) error { return nil }

// Validate checks the flags without contacting the cluster.
func (o *uninstallOptions) Validate() error {
	if err := validateTimeout(o.timeout); err != nil {
		return err
	}
	if err := validateReleaseName(o.releaseName); err != nil {
		return err
	}
	if err := o.vizChart.Validate(); err != nil {
		return usageError("%w", err)
	}
	return validateMTLSName(o.mtlsName)
}

// Run runs the uninstall pipeline.
func (o *uninstallOptions) Run(ctx context.Context) error {
	return install.Uninstall(ctx, o.inv.env(false), install.UninstallOptions{
		ReleaseName: o.releaseName, DeleteData: o.deleteData, Timeout: o.timeout,
		SkipViz: o.skipViz, VizChart: o.vizChart, SkipPolicy: o.skipPolicy, MTLSAuthenticationName: o.mtlsName,
	})
}
