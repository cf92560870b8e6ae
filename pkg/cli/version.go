package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	k8sversion "k8s.io/apimachinery/pkg/version"

	"github.com/meshmon/meshmon/pkg/version"
)

type versionOptions struct {
	inv        *invocation
	output     *outputFlag
	clientOnly bool
}

type versionDocument struct {
	ClientVersion version.Info     `json:"clientVersion"`
	ServerVersion *k8sversion.Info `json:"serverVersion,omitempty"`
}

func newVersionCommand(inv *invocation) *cobra.Command {
	o := &versionOptions{inv: inv}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the meshmon client version and the Kubernetes server version",
		Example: fmt.Sprintf(`  %[1]s version
  %[1]s version --client -o json`, inv.host.Display),
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	o.output = addOutputFlag(cmd.Flags(), "text", "json", "yaml")
	cmd.Flags().BoolVar(&o.clientOnly, "client", false, "Print the client version only; do not contact the cluster")
	return cmd
}

func (o *versionOptions) Complete(*cobra.Command, []string) error { return nil }

func (o *versionOptions) Validate() error { return o.output.validate() }

func (o *versionOptions) Run(ctx context.Context) error {
	doc := versionDocument{ClientVersion: version.Get()}
	var serverErr error
	if !o.clientOnly {
		serverErr = func() error {
			c, err := o.inv.kubeClients()
			if err != nil {
				return err
			}
			info, err := c.ServerVersion(ctx)
			if err != nil {
				return err
			}
			doc.ServerVersion = info
			return nil
		}()
	}
	out := o.inv.streams.Out
	if o.output.value == "text" {
		v := doc.ClientVersion
		fmt.Fprintf(out, "Client Version: %s\n", v.Version)
		if v.GitCommit != "" {
			fmt.Fprintf(out, "Git Commit: %s\n", v.GitCommit)
		}
		fmt.Fprintf(out, "Go Version: %s (%s)\n", v.GoVersion, v.Platform)
		if doc.ServerVersion != nil {
			fmt.Fprintf(out, "Server Version: %s\n", doc.ServerVersion.GitVersion)
		}
	} else if err := printDocument(out, o.output.value, doc); err != nil {
		return err
	}
	if serverErr != nil {
		return fmt.Errorf("getting the server version: %w", serverErr)
	}
	return nil
}
