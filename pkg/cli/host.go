package cli

import (
	"path"
	"strings"

	linkerdplugin "github.com/meshmon/meshmon/plugins/linkerd"
)

// HostFor picks the host from the name the program was invoked as
// (argv[0]): the one binary is the Linkerd extension when it runs as
// linkerd-meshmon, e.g. through the link `extension link` makes, and the
// kubectl plugin otherwise.
func HostFor(argv0 string) Host {
	// Either separator: Windows passes backslashes, and the test of this
	// runs everywhere.
	name := path.Base(strings.ReplaceAll(argv0, `\`, "/"))
	name = strings.TrimSuffix(strings.ToLower(name), ".exe")
	if name == linkerdplugin.Binary {
		return LinkerdHost
	}
	return KubectlHost
}
