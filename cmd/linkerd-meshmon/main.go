// Command linkerd-meshmon is meshmon as a linkerd plugin: `linkerd meshmon …`.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshmon/meshmon/pkg/cli"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	os.Exit(cli.Run(cli.LinkerdHost, os.Args[1:], streams))
}
