package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshmon/meshmon/pkg/install"
	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/ui"
	"github.com/meshmon/meshmon/pkg/viz"
)

type uninstallOptions struct {
	inv         *invocation
	releaseName string
	deleteData  bool
	yes         bool
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
deletes it too: it lists the claims it will delete and asks for confirmation on a
terminal; without a terminal it refuses unless --yes is given.`,
		Example: fmt.Sprintf(`  # Remove Prometheus, keep its data for a later install
  %[1]s uninstall

  # Remove Prometheus and its data (asks first; --yes in scripts)
  %[1]s uninstall --delete-data
  %[1]s uninstall --delete-data --yes`, inv.host.Display),
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	f := cmd.Flags()
	addReleaseNameFlag(f, &o.releaseName, "Name of the Helm release")
	f.BoolVar(&o.deleteData, "delete-data", false, "Delete the data volume claim too (the metrics are lost unless the volume's reclaim policy is Retain)")
	f.BoolVar(&o.yes, "yes", false, "With --delete-data: delete the listed claims without asking (required when stdin is not a terminal)")
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
	if o.yes && !o.deleteData {
		return usageError("--yes only confirms --delete-data; without --delete-data nothing needs confirming")
	}
	if err := o.vizChart.Validate(); err != nil {
		return usageError("%w", err)
	}
	return validateMTLSName(o.mtlsName)
}

// Run runs the uninstall pipeline.
func (o *uninstallOptions) Run(ctx context.Context) error {
	return install.Uninstall(ctx, o.inv.env(false), install.UninstallOptions{
		ReleaseName: o.releaseName, DeleteData: o.deleteData, ConfirmDeleteData: o.confirmDeleteData, Timeout: o.timeout,
		SkipViz: o.skipViz, VizChart: o.vizChart, SkipPolicy: o.skipPolicy, MTLSAuthenticationName: o.mtlsName,
	})
}

// deletion is what uninstall --delete-data does before deleting data volumes.
type deletion int

const (
	deleteConfirmed deletion = iota // --yes
	deleteAsk                       // a person at a terminal answers
	deleteRefused                   // nobody to ask and no --yes
)

// decideDeletion: --yes confirms; otherwise only a person at a terminal can.
func decideDeletion(yes, stdinTerminal bool) deletion {
	switch {
	case yes:
		return deleteConfirmed
	case stdinTerminal:
		return deleteAsk
	default:
		return deleteRefused
	}
}

// confirmDeleteData lists the claims on stdout, then applies decideDeletion.
func (o *uninstallOptions) confirmDeleteData(volumes []release.Volume) error {
	out := o.inv.streams.Out
	fmt.Fprintf(out, "--delete-data will delete %d data volume claim(s) and the metrics on them:\n", len(volumes))
	for _, v := range volumes {
		fmt.Fprintf(out, "  %s\n", v)
	}
	switch decideDeletion(o.yes, ui.IsTerminalInput(o.inv.streams.In)) {
	case deleteConfirmed:
		return nil
	case deleteRefused:
		return usageError("stdin is not a terminal, so nobody can confirm deleting the data; pass --yes to delete the claims listed above")
	}
	return askDeletion(o.inv.streams.In, o.inv.streams.ErrOut)
}

// askDeletion prompts on errw and reads the answer from in: only "y" or "yes" deletes.
func askDeletion(in io.Reader, errw io.Writer) error {
	fmt.Fprint(errw, "Delete them? This cannot be undone [y/N]: ")
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading the answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return errors.New("not confirmed; the data volumes are kept")
}
