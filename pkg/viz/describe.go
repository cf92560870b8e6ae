package viz

import "fmt"

// Describe says, for people, which linkerd-viz this is and how it was installed: how it
// is installed decides how it is rewired.
func (in Install) Describe() string {
	how := "the Linkerd CLI (linkerd viz install)"
	if in.Method == MethodHelm && in.Release != nil {
		how = fmt.Sprintf("Helm (release %s/%s, revision %d, chart linkerd-viz-%s, %s)",
			in.Release.Namespace, in.Release.Name, in.Release.Revision, in.Release.ChartVersion, in.Release.Status)
	}
	s := fmt.Sprintf("linkerd-viz %s in namespace %s was installed with %s", in.Version, in.Namespace, how)
	if in.ConfiguredByMeshmon {
		s += "; meshmon has configured it before"
	}
	return s
}
