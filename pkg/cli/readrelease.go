package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/meshmon/meshmon/pkg/install"
	"github.com/meshmon/meshmon/pkg/release"
)

// releaseReader is what the commands that only read meshmon's release share (status,
// federate list, remote-write list): --release-name and -o table|json|yaml, validated
// the same way, and the deployed values read the same way.
type releaseReader struct {
	inv         *invocation
	releaseName string
	output      *outputFlag
}

func (r *releaseReader) addFlags(f *pflag.FlagSet, usage string) {
	addReleaseNameFlag(f, &r.releaseName, usage)
	r.output = addOutputFlag(f, "table", "json", "yaml")
}

func (r *releaseReader) Complete(*cobra.Command, []string) error { return nil }

// Validate checks the flags without contacting the cluster.
func (r *releaseReader) Validate() error {
	if err := r.output.validate(); err != nil {
		return err
	}
	return validateReleaseName(r.releaseName)
}

// env is the command's environment, quiet when the output is a document.
func (r *releaseReader) env() *install.Env { return r.inv.env(r.output.machineReadable()) }

// deployedValues reads the values of the release's deployed revision, and the release.
func (r *releaseReader) deployedValues(env *install.Env) (*release.Target, map[string]any, error) {
	t, err := env.Target(r.releaseName)
	if err != nil {
		return nil, nil, err
	}
	values, err := t.DeployedValues()
	if err != nil {
		return nil, nil, env.ExplainNotInstalled(err)
	}
	return t, values, nil
}

// printList prints items as the -o document (an empty list, never null), or as a table,
// or says that the release in namespace has none of what (a plural).
func printList[T any](r *releaseReader, namespace, what string, items []T, table func(io.Writer, []T) error) error {
	out := r.inv.streams.Out
	if items == nil {
		items = []T{}
	}
	if r.output.value != "table" {
		return printDocument(out, r.output.value, items)
	}
	if len(items) == 0 {
		fmt.Fprintf(out, "No %s in release %s (namespace %s).\n", what, r.releaseName, namespace)
		return nil
	}
	return table(out, items)
}
