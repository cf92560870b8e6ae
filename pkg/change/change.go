// Package change is what a step that writes to the cluster reports: one Change per object,
// with what happened (or, in a dry run, would happen) to it. linkerd-viz rewiring and the
// authorization policy both report in it, so one printer shows either.
package change

// Action says what happened, or would happen, to one object.
type Action string

// Actions reported in Changes.
const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
	// Upgraded: a Helm release got a new revision.
	Upgraded Action = "upgraded"
	Deleted  Action = "deleted"
	Scaled   Action = "scaled"
	// Merged: identities were added to a MeshTLSAuthentication meshmon does not own.
	Merged Action = "merged"
	// Unmerged: meshmon's identities were removed from a MeshTLSAuthentication it does not own.
	Unmerged Action = "unmerged"
	// Absent: the object does not exist; there was nothing to do.
	Absent Action = "absent"
	// Kept: deliberately left alone; Detail says why.
	Kept Action = "kept"
)

// Change is the outcome for one object.
type Change struct {
	Kind string `json:"kind"`
	// Namespace is empty for cluster-scoped objects.
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Action    Action `json:"action"`
	// Identities added (Merged) or removed (Unmerged).
	Identities []string `json:"identities,omitempty"`
	Detail     string   `json:"detail,omitempty"`
	// Patch is the write as it would be sent (a JSON patch, merge patch, object or Helm
	// values); only client-side plans carry it.
	Patch  string `json:"patch,omitempty"`
	DryRun bool   `json:"dryRun,omitempty"`
}

// Changes lists outcomes in the order they happen.
type Changes []Change

// Changed reports whether anything was (or would be) written.
func (cs Changes) Changed() bool {
	for _, c := range cs {
		switch c.Action {
		case Unchanged, Absent, Kept:
		default:
			return true
		}
	}
	return false
}
