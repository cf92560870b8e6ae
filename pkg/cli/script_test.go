package cli_test

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshmon/meshmon/pkg/cli"
)

func TestMain(m *testing.M) {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	testscript.Main(m, map[string]func(){
		"kubectl-meshmon": func() { os.Exit(cli.Run(cli.KubectlHost, os.Args[1:], streams)) },
		"linkerd-meshmon": func() { os.Exit(cli.Run(cli.LinkerdHost, os.Args[1:], streams)) },
	})
}

// TestScripts runs testdata/script/*.txtar: help, flags, unknown flags and
// exit codes for both binary names, without a cluster.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			// No kubeconfig from the developer's machine may leak in.
			e.Setenv("KUBECONFIG", e.WorkDir+"/no-such-kubeconfig")
			e.Setenv("HOME", e.WorkDir)
			return nil
		},
	})
}
