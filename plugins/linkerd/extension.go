// Package linkerd holds what the Linkerd CLI expects of an extension binary.
//
// `linkerd meshmon …` execs linkerd-meshmon from PATH with the remaining
// arguments, and `linkerd check` discovers it through `_extension-metadata`
// and then runs `linkerd-meshmon check --<flag>=<value>… --output=json`,
// reading the JSON on stdout and ignoring the exit status.
package linkerd

import "encoding/json"

const (
	// Binary is the executable name Linkerd looks for on PATH.
	Binary = "linkerd-meshmon"
	// DisplayName is how users invoke it.
	DisplayName = "linkerd meshmon"
	// MetadataCommand is the hidden subcommand `linkerd check` calls.
	MetadataCommand = "_extension-metadata"
	// ChecksAlways asks `linkerd check` to run our checks whether or not a
	// namespace carries our extension label.
	ChecksAlways = "always"
)

// Metadata is the answer to `linkerd-meshmon _extension-metadata`. Linkerd
// accepts the extension only if Name equals the executable's file name.
type Metadata struct {
	Name   string `json:"name"`
	Checks string `json:"checks"`
}

// MetadataJSON returns the metadata document, newline-terminated.
func MetadataJSON() []byte {
	b, _ := json.Marshal(Metadata{Name: Binary, Checks: ChecksAlways})
	return append(b, '\n')
}

// CheckFlags are the flags `linkerd check` forwards to every extension
// (when set): meshmon must accept all of them.
var CheckFlags = []string{
	"api-addr", "context", "as", "as-group", "kubeconfig", "linkerd-namespace",
	"verbose", "namespace", "proxy", "wait", "output",
}

// NormalizeArgs drops arguments Linkerd forwards that would break a
// cli-runtime based binary: an empty impersonation group list arrives as
// "--as-group=[]" (pflag's rendering of an empty string array), which
// cli-runtime would read as the group "[]" and then refuse with "requesting
// uid, groups or user-extra … without impersonating a user".
func NormalizeArgs(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if a == "--as-group=[]" {
			continue
		}
		if a == "--as-group" && i+1 < len(args) && args[i+1] == "[]" {
			i++
			continue
		}
		out = append(out, a)
	}
	return out
}
