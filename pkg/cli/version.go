package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	k8sversion "k8s.io/apimachinery/pkg/version"

	"github.com/meshmon/meshmon/pkg/version"
)

type versionOptions struct {
	g          *globals
	output     string
	clientOnly bool
}

type versionDocument struct {
	ClientVersion version.Info     `json:"clientVersion"`
	ServerVersion *k8sversion.Info `json:"serverVersion,omitempty"`
}

func newVersionCommand(g *globals) *cobra.Command {
	o := &versionOptions{g: g, output: "text"}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the meshmon client version and the Kubernetes server version",
		Example: fmt.Sprintf(`  %[1]s version
  %[1]s version --client -o json`, g.host.Display),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd)
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", o.output, "Output format: text, json or yaml")
	cmd.Flags().BoolVar(&o.clientOnly, "client", false, "Print the client version only; do not contact the cluster")
	return cmd
}

func (o *versionOptions) Validate() error {
	return validateOutput(o.output, "text", "json", "yaml")
}

func (o *versionOptions) Run(cmd *cobra.Command) error {
	doc := versionDocument{ClientVersion: version.Get()}
	var serverErr error
	if !o.clientOnly {
		serverErr = func() error {
			c, err := o.g.kubeClients()
			if err != nil {
				return err
			}
			info, err := c.ServerVersion(cmd.Context())
			if err != nil {
				return err
			}
			doc.ServerVersion = info
			return nil
		}()
	}
	out := o.g.streams.Out
	if o.output == "text" {
		v := doc.ClientVersion
		fmt.Fprintf(out, "Client Version: %s\n", v.Version)
		if v.GitCommit != "" {
			fmt.Fprintf(out, "Git Commit: %s\n", v.GitCommit)
		}
		fmt.Fprintf(out, "Go Version: %s (%s)\n", v.GoVersion, v.Platform)
		if doc.ServerVersion != nil {
			fmt.Fprintf(out, "Server Version: %s\n", doc.ServerVersion.GitVersion)
		}
	} else if err := printDocument(out, o.output, doc); err != nil {
		return err
	}
	if serverErr != nil {
		return fmt.Errorf("getting the server version: %w", serverErr)
	}
	return nil
}
