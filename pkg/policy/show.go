package policy

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshmon/meshmon/pkg/kube"
)

// State is how a live object compares with what meshmon would build.
type State string

// States reported by Show.
const (
	StatePresent State = "present"
	StateMissing State = "missing"
	// StateDrifted: meshmon's object exists but differs; Differences says where.
	StateDrifted State = "drifted"
	// StateUnmanaged: an object of that name exists but meshmon did not create it.
	StateUnmanaged State = "unmanaged"
	// StateMerged: a MeshTLSAuthentication meshmon does not own contains every wanted identity.
	StateMerged State = "merged"
	// StateStale: meshmon created it, but the current settings no longer include it.
	StateStale State = "stale"
)

// ObjectStatus is one row of Status.
type ObjectStatus struct {
	Kind        string   `json:"kind"`
	Namespace   string   `json:"namespace"`
	Name        string   `json:"name"`
	State       State    `json:"state"`
	Differences []string `json:"differences,omitempty"`
}

// IdentityStatus describes the MeshTLSAuthentication that lists the scraper identities.
type IdentityStatus struct {
	Namespace        string `json:"namespace"`
	Name             string `json:"name"`
	Exists           bool   `json:"exists"`
	ManagedByMeshmon bool   `json:"managedByMeshmon"`
	// UsesIdentityRefs: the object lists ServiceAccount/Namespace refs; Identities shows what
	// they stand for.
	UsesIdentityRefs bool     `json:"usesIdentityRefs,omitempty"`
	Identities       []string `json:"identities"`
	// AddedByMeshmon is what meshmon merged into an object it does not own.
	AddedByMeshmon []string `json:"addedByMeshmon,omitempty"`
	// Missing are wanted identities nothing in the object matches.
	Missing []string `json:"missing,omitempty"`
}

// Status is the result of Show.
type Status struct {
	// InSync: every object is present (or merged) and nothing is stale.
	InSync                bool            `json:"inSync"`
	Objects               []ObjectStatus  `json:"objects"`
	MeshTLSAuthentication *IdentityStatus `json:"meshTLSAuthentication,omitempty"`
}

// Table returns a header and one row per object, for `-o table`.
func (s Status) Table() (header []string, rows [][]string) {
	header = []string{"KIND", "NAMESPACE", "NAME", "STATE", "DETAIL"}
	for _, o := range s.Objects {
		rows = append(rows, []string{o.Kind, o.Namespace, o.Name, string(o.State), strings.Join(o.Differences, "; ")})
	}
	return header, rows
}

// Show compares objs (from Build) with the cluster and lists stale objects of the same meshmon
// installation. It changes nothing.
func Show(ctx context.Context, c Clients, objs []*unstructured.Unstructured) (Status, error) {
	gvrs, err := c.resolve(ctx, allKinds())
	if err != nil {
		return Status{}, err
	}
	st := Status{InSync: true, Objects: []ObjectStatus{}}
	expected := map[string]bool{}
	for _, o := range objs {
		expected[key(o)] = true
		gvr, ok := gvrs[o.GetKind()]
		if !ok {
			return Status{}, fmt.Errorf("%s %s/%s: unsupported kind", o.GetKind(), o.GetNamespace(), o.GetName())
		}
		row := ObjectStatus{Kind: o.GetKind(), Namespace: o.GetNamespace(), Name: o.GetName()}
		live, err := c.Dynamic.Resource(gvr).Namespace(o.GetNamespace()).Get(ctx, o.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			row.State = StateMissing
		case err != nil:
			return Status{}, kube.ExplainAPIError("get", kube.ResourceName(gvr), o.GetNamespace(), o.GetName(), err)
		case o.GetKind() == KindMeshTLSAuthentication:
			ids, err := identityStatus(o, live)
			if err != nil {
				return Status{}, err
			}
			st.MeshTLSAuthentication = &ids
			row.State, row.Differences = meshTLSState(o, live, ids)
		case !isManaged(live):
			row.State = StateUnmanaged
			row.Differences = []string{"exists without the " + LabelManagedBy + "=" + managerName + " label"}
		default:
			row.State = StatePresent
			row.Differences = differences(o, live)
			if len(row.Differences) > 0 {
				row.State = StateDrifted
			}
		}
		if row.State == StateMissing && o.GetKind() == KindMeshTLSAuthentication {
			want, _, _ := unstructured.NestedStringSlice(o.Object, "spec", "identities")
			st.MeshTLSAuthentication = &IdentityStatus{Namespace: o.GetNamespace(), Name: o.GetName(), Identities: []string{}, Missing: want}
		}
		st.Objects = append(st.Objects, row)
	}

	managed, err := c.listManaged(ctx, gvrs, instanceOf(objs))
	if err != nil {
		return Status{}, err
	}
	for _, m := range managed {
		if !expected[key(m)] {
			st.Objects = append(st.Objects, ObjectStatus{Kind: m.GetKind(), Namespace: m.GetNamespace(), Name: m.GetName(), State: StateStale,
				Differences: []string{"no longer part of the settings; `policy delete` removes it"}})
		}
	}
	for _, o := range st.Objects {
		if o.State != StatePresent && o.State != StateMerged {
			st.InSync = false
		}
	}
	return st, nil
}

func identityStatus(want, live *unstructured.Unstructured) (IdentityStatus, error) {
	wanted, _, _ := unstructured.NestedStringSlice(want.Object, "spec", "identities")
	cur, err := readMeshTLS(live, identityDomain(wanted))
	if err != nil {
		return IdentityStatus{}, err
	}
	s := IdentityStatus{
		Namespace: live.GetNamespace(), Name: live.GetName(), Exists: true,
		ManagedByMeshmon: isManaged(live), UsesIdentityRefs: cur.usesRefs,
		Identities: slices.Clone(cur.identities),
	}
	if s.Identities == nil {
		s.Identities = []string{}
	}
	if !s.ManagedByMeshmon {
		if s.AddedByMeshmon, err = recordedIdentities(live); err != nil {
			return IdentityStatus{}, err
		}
	}
	for _, id := range wanted {
		if !matchesAny(cur.identities, id) {
			s.Missing = append(s.Missing, id)
		}
	}
	return s, nil
}

func meshTLSState(want, live *unstructured.Unstructured, ids IdentityStatus) (State, []string) {
	if ids.ManagedByMeshmon {
		// meshmon's own object must hold exactly the wanted list; an extra identity would
		// authorize a scraper nobody asked for.
		if d := differences(want, live); len(d) > 0 {
			return StateDrifted, d
		}
		return StatePresent, nil
	}
	if len(ids.Missing) == 0 {
		return StateMerged, nil
	}
	diffs := make([]string, 0, len(ids.Missing))
	for _, id := range ids.Missing {
		diffs = append(diffs, "identity "+id+" is missing")
	}
	return StateDrifted, diffs
}

// differences lists where live departs from want: every label, annotation and spec field meshmon
// sets must have its value. Fields meshmon does not set (API-server defaults) are ignored; lists
// must match in length, so an extra authentication or match is reported.
func differences(want, live *unstructured.Unstructured) []string {
	var out []string
	for k, v := range want.GetLabels() {
		if got, ok := live.GetLabels()[k]; !ok || got != v {
			out = append(out, fmt.Sprintf("label %s: want %q, got %q", k, v, got))
		}
	}
	for k, v := range want.GetAnnotations() {
		if got, ok := live.GetAnnotations()[k]; !ok || got != v {
			out = append(out, fmt.Sprintf("annotation %s: want %q, got %q", k, v, got))
		}
	}
	out = append(out, subsetDiff("spec", want.Object["spec"], live.Object["spec"])...)
	slices.Sort(out)
	return out
}

func subsetDiff(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %v", path, show(got))}
		}
		var out []string
		for k, v := range w {
			out = append(out, subsetDiff(path+"."+k, v, g[k])...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: want %v, got %v", path, show(want), show(got))}
		}
		var out []string
		for i := range w {
			out = append(out, subsetDiff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return out
	default:
		if !scalarEqual(want, got) {
			return []string{fmt.Sprintf("%s: want %v, got %v", path, show(want), show(got))}
		}
		return nil
	}
}

// scalarEqual treats JSON numbers alike whatever Go type decoding gave them.
func scalarEqual(a, b any) bool {
	if fa, ok := number(a); ok {
		fb, ok := number(b)
		return ok && fa == fb
	}
	return reflect.DeepEqual(a, b)
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case float64:
		return n, true
	default:
		return 0, false
	}
}

func show(v any) string {
	if v == nil {
		return "nothing"
	}
	return fmt.Sprintf("%v", v)
}
