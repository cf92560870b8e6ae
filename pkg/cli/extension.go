package cli

import (
	"github.com/spf13/cobra"

	linkerdplugin "github.com/meshmon/meshmon/plugins/linkerd"
)

// newExtensionMetadataCommand answers `linkerd check`'s discovery probe.
func newExtensionMetadataCommand(inv *invocation) *cobra.Command {
	return &cobra.Command{
		Use:    linkerdplugin.MetadataCommand,
		Short:  "Print the Linkerd extension metadata (used by linkerd check)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := inv.streams.Out.Write(linkerdplugin.MetadataJSON())
			return err
		},
	}
}
