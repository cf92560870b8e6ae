// Command kubectl-meshmon is meshmon as a kubectl plugin: `kubectl meshmon …`.
// Invoked as linkerd-meshmon (the link `kubectl meshmon extension link`
// makes) it is the Linkerd extension: `linkerd meshmon …`.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshmon/meshmon/pkg/cli"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	os.Exit(cli.Run(cli.HostFor(os.Args[0]), os.Args[1:], streams))
}
