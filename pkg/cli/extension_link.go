package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/meshmon/meshmon/pkg/extension"
	linkerdplugin "github.com/meshmon/meshmon/plugins/linkerd"
)

// findSelf locates the running program; a variable so tests can place it.
var findSelf = func() (extension.Self, error) {
	return extension.FindSelf(os.Args[0], exec.LookPath, os.Executable)
}

type extensionLinkOptions struct {
	inv *invocation
	dir string
	req extension.Request
}

func newExtensionCommand(inv *invocation) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "extension",
		Short: "Make this program the Linkerd CLI extension too (" + linkerdplugin.Binary + " on PATH)",
		Long: fmt.Sprintf(`The Linkerd CLI runs "linkerd meshmon ..." (and includes meshmon's checks in
"linkerd check") by finding %[1]s on PATH. "extension link" creates it as a
link to this program, which behaves as the extension under that name; krew
installs only %[2]s, so krew users run it once after installing.`, linkerdplugin.Binary, inv.host.Binary),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newExtensionLinkCommand(inv, true), newExtensionLinkCommand(inv, false))
	return cmd
}

func newExtensionLinkCommand(inv *invocation, link bool) *cobra.Command {
	o := &extensionLinkOptions{inv: inv}
	cmd := &cobra.Command{
		Use:   "link",
		Short: "Create " + linkerdplugin.Binary + " next to this program (or in --dir)",
		Long: fmt.Sprintf(`Create %[1]s, a link to this program, in the directory this program was run
from (for krew: ~/.krew/bin), or in --dir. Without --dir it refuses when that
directory is not on PATH, where linkerd would not find it. Where symlinks
cannot be made (Windows without developer mode) it copies the program instead;
run it again after upgrading meshmon. Running it again changes nothing.`, linkerdplugin.Binary),
		Example: fmt.Sprintf(`  %[1]s extension link
  %[1]s extension link --dir ~/.local/bin
  linkerd meshmon check`, inv.host.Display),
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			return o.RunLink()
		},
	}
	if !link {
		cmd.Use = "unlink"
		cmd.Short = "Remove the " + linkerdplugin.Binary + " that link made"
		cmd.Long = fmt.Sprintf(`Remove %[1]s from the directory this program was run from, or from --dir,
if it is a link to (or a copy of) kubectl-meshmon; any other file of that name
is left alone.`, linkerdplugin.Binary)
		cmd.Example = fmt.Sprintf(`  %[1]s extension unlink`, inv.host.Display)
		cmd.RunE = func(*cobra.Command, []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			return o.RunUnlink()
		}
	}
	cmd.Flags().StringVar(&o.dir, "dir", "", "Directory for "+linkerdplugin.Binary+" (default: this program's own directory, which must be on PATH)")
	return cmd
}

// Complete finds the running program.
func (o *extensionLinkOptions) Complete() error {
	self, err := findSelf()
	if err != nil {
		return err
	}
	o.req = extension.Request{Self: self, Dir: o.dir, PathEnv: o.inv.getenv("PATH"), GOOS: runtime.GOOS}
	return nil
}

// RunLink creates the extension and says how linkerd will find it.
func (o *extensionLinkOptions) RunLink() error {
	res, err := extension.Link(o.req)
	if errors.Is(err, extension.ErrNotOnPath) {
		return usageError("%w", err)
	}
	if err != nil {
		return err
	}
	out, errOut := o.inv.streams.Out, o.inv.streams.ErrOut
	switch {
	case !res.Changed:
		fmt.Fprintf(out, "%s is already this meshmon; nothing to do.\n", res.Path)
	case res.Copied:
		fmt.Fprintf(out, "Copied this program to %s (symlinks are not available here); run this again after upgrading meshmon.\n", res.Path)
	default:
		fmt.Fprintf(out, "Linked %s -> %s.\n", res.Path, res.Target)
	}
	if !res.OnPath {
		fmt.Fprintf(errOut, "Warning: %s is not on PATH; add it, or linkerd will not find %s.\n", filepath.Dir(res.Path), linkerdplugin.Binary)
	}
	if res.Shadowed != "" {
		fmt.Fprintf(errOut, "Warning: linkerd will run %s instead: it comes earlier on PATH.\n", res.Shadowed)
	}
	if res.OnPath && res.Shadowed == "" {
		fmt.Fprintf(out, "`%s ...` and `linkerd check` now run meshmon.\n", linkerdplugin.DisplayName)
	}
	return nil
}

// RunUnlink removes the extension meshmon made.
func (o *extensionLinkOptions) RunUnlink() error {
	res, err := extension.Unlink(o.req)
	if err != nil {
		return err
	}
	if res.Changed {
		fmt.Fprintf(o.inv.streams.Out, "Removed %s.\n", res.Path)
	} else {
		fmt.Fprintf(o.inv.streams.Out, "There is no %s; nothing to do.\n", res.Path)
	}
	return nil
}
