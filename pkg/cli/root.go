// Package cli is meshmon's command line: cobra commands that turn flags into
// Options and hand them to the domain packages.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	kubectlplugin "github.com/meshmon/meshmon/plugins/kubectl"
	linkerdplugin "github.com/meshmon/meshmon/plugins/linkerd"
)

// Host is the program meshmon is a plugin of.
type Host struct {
	// Binary is the executable name, e.g. "kubectl-meshmon".
	Binary string
	// Display is what users type, e.g. "kubectl meshmon"; it is shown in
	// usage lines and examples.
	Display string
	// Linkerd is true for the Linkerd extension binary.
	Linkerd bool
}

// The two hosts meshmon ships for.
var (
	KubectlHost = Host{Binary: kubectlplugin.Binary, Display: kubectlplugin.DisplayName}
	LinkerdHost = Host{Binary: linkerdplugin.Binary, Display: linkerdplugin.DisplayName, Linkerd: true}
)

// Run executes one invocation and returns the process exit code. args are
// os.Args without the program name. It installs the SIGINT/SIGTERM handler:
// the first signal cancels the command's context so long operations can
// clean up; a second one kills the process as usual.
func Run(host Host, args []string, streams genericiooptions.IOStreams) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	defer stop()
	stopProfiles := startProfiles(os.Getenv, streams.ErrOut)
	defer stopProfiles()
	return Execute(ctx, host, args, streams, os.Getenv)
}

// Execute is Run without signal handling, for tests.
func Execute(ctx context.Context, host Host, args []string, streams genericiooptions.IOStreams, getenv func(string) string) int {
	if host.Linkerd {
		args = linkerdplugin.NormalizeArgs(args)
	}
	inv := newInvocation(host, streams, getenv)
	root := newRootCommand(inv)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := exitCode(err)
	if ctx.Err() != nil && code == ExitFailure {
		code = ExitInterrupted
	}
	printError(streams.ErrOut, err)
	return code
}

func printError(w io.Writer, err error) {
	var ee *ExitError
	if errors.As(err, &ee) && ee.Err == nil {
		return
	}
	msg := err.Error()
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	fmt.Fprint(w, "Error: "+msg)
}

func newRootCommand(inv *invocation) *cobra.Command {
	root := &cobra.Command{
		Use:   inv.host.Binary,
		Short: "A persistent, correctly wired, policy-protected Prometheus for Linkerd",
		Long: fmt.Sprintf(`meshmon gives a Linkerd service mesh its own persistent Prometheus, rewires
linkerd-viz to use it, protects it with Linkerd authorization policy, and
proves that all of it works.

Get started:
  %[1]s install          install or upgrade everything (add --dry-run to preview)
  %[1]s check            verify the whole chain, like "linkerd check"`, inv.host.Display),
		SilenceUsage: true,
		// cobra only applies its default distance when it makes the
		// suggestion itself; rootRun asks for them directly.
		SuggestionsMinimumDistance: 2,
		SilenceErrors:              true,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: inv.host.Display,
		},
		Args: cobra.ArbitraryArgs,
		RunE: rootRun,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return inv.complete(cmd)
		},
	}
	root.SetIn(inv.streams.In)
	root.SetOut(inv.streams.Out)
	root.SetErr(inv.streams.ErrOut)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError("%w\nSee '%s --help' for usage.", err, cmd.CommandPath())
	})
	inv.addFlags(root)

	root.AddCommand(
		newInstallCommand(inv),
		newUninstallCommand(inv),
		newStatusCommand(inv),
		newCheckCommand(inv),
		newVizCommand(inv),
		newPolicyCommand(inv),
		newFederateCommand(inv),
		newRemoteWriteCommand(inv),
		newVersionCommand(inv),
		newExtensionCommand(inv),
	)
	if inv.host.Linkerd {
		root.AddCommand(newExtensionMetadataCommand(inv))
	}
	for _, c := range root.Commands() {
		c.Flags().SortFlags = false
	}
	registerCompletions(root, inv)
	return root
}

// rootRun prints help for a bare invocation and turns an unknown
// subcommand into a usage error with suggestions (cobra would otherwise
// treat it as an ordinary failure).
func rootRun(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t") + "\n"
	}
	return usageError("%s\nSee '%s --help' for usage.", msg, cmd.CommandPath())
}
