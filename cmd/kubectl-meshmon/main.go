// Command kubectl-meshmon is meshmon as a kubectl plugin: `kubectl meshmon …`.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshmon/meshmon/pkg/cli"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	os.Exit(cli.Run(cli.KubectlHost, os.Args[1:], streams))
}
