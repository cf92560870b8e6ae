package cli

import (
	"os"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// CommandTree is the command tree Execute runs for host, for tools that
// describe the commands (hack/tools/gendocs) rather than run them. It
// includes the completion command cobra adds only when a command executes.
func CommandTree(host Host) *cobra.Command {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	root := newRootCommand(newInvocation(host, streams, os.Getenv))
	root.InitDefaultCompletionCmd()
	return root
}
