package policy

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const vizWildcard = "*.linkerd-viz.serviceaccount.identity.linkerd.cluster.local"

func TestMergeIdentities(t *testing.T) {
	tests := []struct {
		name          string
		existing, add []string
		merged, added []string
	}{
		{"empty", nil, []string{meshmonPromID}, []string{meshmonPromID}, []string{meshmonPromID}},
		{"keeps existing first", []string{otherID}, []string{meshmonPromID, tapID},
			[]string{otherID, meshmonPromID, tapID}, []string{meshmonPromID, tapID}},
		{"already present", []string{tapID, meshmonPromID}, []string{meshmonPromID, tapID},
			[]string{tapID, meshmonPromID}, nil},
		{"duplicates in add", nil, []string{tapID, tapID}, []string{tapID}, []string{tapID}},
		{"existing duplicates are not touched", []string{otherID, otherID}, []string{tapID},
			[]string{otherID, otherID, tapID}, []string{tapID}},
		{"star covers everything", []string{"*"}, []string{meshmonPromID, vizWildcard}, []string{"*"}, nil},
		{"namespace wildcard covers its ServiceAccounts", []string{vizWildcard}, []string{meshmonPromID, vizPromID, otherID},
			[]string{vizWildcard, otherID}, []string{otherID}},
		{"domain wildcard covers a narrower wildcard", []string{"*.cluster.local"}, []string{vizWildcard}, []string{"*.cluster.local"}, nil},
		{"narrow identity does not cover a wildcard", []string{meshmonPromID}, []string{vizWildcard},
			[]string{meshmonPromID, vizWildcard}, []string{vizWildcard}},
		{"wildcard of another trust domain covers nothing here", []string{"*.linkerd-viz.serviceaccount.identity.linkerd.other.org"}, []string{tapID},
			[]string{"*.linkerd-viz.serviceaccount.identity.linkerd.other.org", tapID}, []string{tapID}},
		{"** is an exact name for Linkerd", []string{"**.cluster.local"}, []string{tapID},
			[]string{"**.cluster.local", tapID}, []string{tapID}},
		{"wildcard needs the dot boundary", []string{"*.viz.serviceaccount.identity.linkerd.cluster.local"}, []string{tapID},
			[]string{"*.viz.serviceaccount.identity.linkerd.cluster.local", tapID}, []string{tapID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			existing := slices.Clone(tt.existing)
			merged, added := MergeIdentities(existing, tt.add)
			if !slices.Equal(merged, tt.merged) || !slices.Equal(added, tt.added) {
				t.Errorf("MergeIdentities(%q, %q) = %q, %q; want %q, %q", tt.existing, tt.add, merged, added, tt.merged, tt.added)
			}
			if !slices.Equal(existing, tt.existing) {
				t.Error("the input slice was modified")
			}
		})
	}
}

func TestUnmergeIdentities(t *testing.T) {
	tests := []struct {
		name                    string
		existing, added, remain []string
	}{
		{"removes what meshmon added", []string{otherID, meshmonPromID, tapID}, []string{meshmonPromID, tapID}, []string{otherID}},
		{"keeps identities meshmon did not add", []string{otherID, tapID}, nil, []string{otherID, tapID}},
		{"already removed by someone", []string{otherID}, []string{tapID}, []string{otherID}},
		{"a copy added later by someone else survives", []string{otherID, tapID, tapID}, []string{tapID}, []string{otherID, tapID}},
		{"removes the last occurrence", []string{tapID, otherID, tapID}, []string{tapID}, []string{tapID, otherID}},
		{"can empty the list", []string{tapID}, []string{tapID}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := UnmergeIdentities(tt.existing, tt.added)
			if !slices.Equal(got, tt.remain) {
				t.Errorf("UnmergeIdentities(%q, %q) = %q, want %q", tt.existing, tt.added, got, tt.remain)
			}
		})
	}
}

func TestMergeThenUnmergeRestoresTheOriginal(t *testing.T) {
	for _, existing := range [][]string{{otherID}, {otherID, tapID}, {vizWildcard, otherID}, {"*"}} {
		merged, added := MergeIdentities(existing, []string{meshmonPromID, vizPromID, tapID})
		if got := UnmergeIdentities(merged, added); !slices.Equal(got, existing) {
			t.Errorf("round trip of %q gave %q", existing, got)
		}
	}
}

func refsObject(refs ...map[string]any) *unstructured.Unstructured {
	items := make([]any, len(refs))
	for i, r := range refs {
		items[i] = r
	}
	return foreignMeshTLS("scrapers", map[string]any{"identityRefs": items}, nil)
}

func refStrings(t *testing.T, o *unstructured.Unstructured) []string {
	t.Helper()
	refs, _, _ := unstructured.NestedSlice(o.Object, "spec", "identityRefs")
	var out []string
	for _, r := range refs {
		m := r.(map[string]any)
		s := m["kind"].(string) + ":" + m["name"].(string)
		if ns, ok := m["namespace"]; ok {
			s += "@" + ns.(string)
		}
		out = append(out, s)
	}
	return out
}

func TestMergeIntoIdentityRefs(t *testing.T) {
	want := []string{meshmonPromID, vizPromID, tapID}
	tests := []struct {
		name     string
		obj      *unstructured.Unstructured
		want     []string
		refs     []string
		added    []string
		errMatch string
	}{
		{
			name:  "ServiceAccount refs are added, local refs count as the object's namespace",
			obj:   refsObject(map[string]any{"kind": "ServiceAccount", "name": "tap"}),
			want:  want,
			refs:  []string{"ServiceAccount:tap", "ServiceAccount:prometheus-server@linkerd-viz", "ServiceAccount:prometheus@linkerd-viz"},
			added: []string{meshmonPromID, vizPromID},
		},
		{
			name: "a Namespace ref covers its ServiceAccounts",
			obj:  refsObject(map[string]any{"kind": "Namespace", "name": "linkerd-viz"}),
			want: want,
			refs: []string{"Namespace:linkerd-viz"},
		},
		{
			name: "a ref in another namespace covers only that namespace",
			obj:  refsObject(map[string]any{"kind": "ServiceAccount", "name": "tap", "namespace": "other"}),
			want: []string{tapID},
			refs: []string{"ServiceAccount:tap@other", "ServiceAccount:tap@linkerd-viz"}, added: []string{tapID},
		},
		{
			name:  "a namespace wildcard becomes a Namespace ref",
			obj:   refsObject(map[string]any{"kind": "ServiceAccount", "name": "web"}),
			want:  []string{"*.monitoring.serviceaccount.identity.linkerd.cluster.local"},
			refs:  []string{"ServiceAccount:web", "Namespace:monitoring"},
			added: []string{"*.monitoring.serviceaccount.identity.linkerd.cluster.local"},
		},
		{
			name:     "an identity of another trust domain cannot be a ref",
			obj:      refsObject(map[string]any{"kind": "ServiceAccount", "name": "web"}),
			want:     []string{meshmonPromID, "prom.mon.serviceaccount.identity.linkerd.example.org"},
			errMatch: "cannot express prom.mon.serviceaccount.identity.linkerd.example.org",
		},
		{
			name:     "a global wildcard cannot be a ref",
			obj:      refsObject(map[string]any{"kind": "ServiceAccount", "name": "web"}),
			want:     []string{meshmonPromID, "*"},
			errMatch: "cannot express *",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.obj.DeepCopy()
			added, changed, err := mergeInto(tt.obj, tt.want)
			if tt.errMatch != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errMatch) {
					t.Fatalf("err = %v, want %q", err, tt.errMatch)
				}
				if !equalObjects(before, tt.obj) {
					t.Error("the object was modified despite the error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := refStrings(t, tt.obj); !slices.Equal(got, tt.refs) {
				t.Errorf("refs = %v, want %v", got, tt.refs)
			}
			if !slices.Equal(added, tt.added) || changed != (len(tt.added) > 0) {
				t.Errorf("added = %q changed = %v, want %q", added, changed, tt.added)
			}
			if _, found, _ := unstructured.NestedFieldNoCopy(tt.obj.Object, "spec", "identities"); found {
				t.Error("spec.identities set on an identityRefs object")
			}

			// Idempotent, and Unmerge restores the original refs.
			if again, changed, err := mergeInto(tt.obj, tt.want); err != nil || changed || len(again) > 0 {
				t.Errorf("second merge: added %q changed %v err %v", again, changed, err)
			}
			if len(tt.added) > 0 {
				removed, empty, err := unmergeFrom(tt.obj)
				if err != nil || empty {
					t.Fatalf("unmerge: %v empty=%v", err, empty)
				}
				if !slices.Equal(removed, tt.added) {
					t.Errorf("removed %q, want %q", removed, tt.added)
				}
				if !equalObjects(before, tt.obj) {
					t.Errorf("after unmerge refs = %v, want %v", refStrings(t, tt.obj), refStrings(t, before))
				}
			}
		})
	}
}

func TestMergeIntoRecordsAcrossRuns(t *testing.T) {
	o := foreignMeshTLS("scrapers", map[string]any{"identities": []any{otherID}}, nil)
	if _, _, err := mergeInto(o, []string{meshmonPromID}); err != nil {
		t.Fatal(err)
	}
	// The next run also wants tap: the record must keep prometheus-server and add tap.
	added, _, err := mergeInto(o, []string{meshmonPromID, tapID})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(added, []string{tapID}) {
		t.Errorf("added %q", added)
	}
	rec, _ := recordedIdentities(o)
	if !slices.Equal(rec, []string{meshmonPromID, tapID}) {
		t.Errorf("recorded %q", rec)
	}
	// The owner removes tap; the record follows on the next merge that does not want it.
	_ = unstructured.SetNestedStringSlice(o.Object, []string{otherID, meshmonPromID}, "spec", "identities")
	if _, _, err := mergeInto(o, []string{meshmonPromID}); err != nil {
		t.Fatal(err)
	}
	if rec, _ := recordedIdentities(o); !slices.Equal(rec, []string{meshmonPromID}) {
		t.Errorf("recorded after owner's removal %q", rec)
	}
}

func TestUnmergeNeverEmptiesTheObject(t *testing.T) {
	o := foreignMeshTLS("scrapers", map[string]any{"identities": []any{otherID}}, nil)
	if _, _, err := mergeInto(o, []string{meshmonPromID}); err != nil {
		t.Fatal(err)
	}
	_ = unstructured.SetNestedStringSlice(o.Object, []string{meshmonPromID}, "spec", "identities") // owner removed theirs
	before := o.DeepCopy()
	_, empty, err := unmergeFrom(o)
	if err != nil || !empty {
		t.Fatalf("empty = %v, err = %v; want empty", empty, err)
	}
	if !equalObjects(before, o) {
		t.Error("object changed although it would have been left empty")
	}
}

func TestRecordedIdentitiesRejectsGarbage(t *testing.T) {
	o := foreignMeshTLS("scrapers", map[string]any{"identities": []any{otherID}}, nil)
	o.SetAnnotations(map[string]string{AnnotationAddedIdentities: "prometheus-server"})
	if _, _, err := mergeInto(o, []string{tapID}); err == nil || !strings.Contains(err.Error(), "not a JSON list") {
		t.Fatalf("err = %v", err)
	}
}

func equalObjects(a, b *unstructured.Unstructured) bool {
	return sameContent(a, b)
}
