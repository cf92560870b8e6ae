package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/meshmon/meshmon/pkg/linkerd"
)

// conflictBackoff paces the read-modify-write of a shared MeshTLSAuthentication. client-go's
// DefaultRetry gives up after five tries within about 50 ms, too soon when another writer keeps
// updating the object; this keeps trying for about ten seconds.
func conflictBackoff() wait.Backoff {
	return wait.Backoff{Steps: 30, Duration: 10 * time.Millisecond, Factor: 1.3, Jitter: 0.5, Cap: time.Second}
}

// MergeIdentities returns existing followed by the identities of add that existing does not
// already match, and those added ones. existing is kept as is; nothing is added twice. A match
// follows Linkerd's rules: exact, `*` (everything) or `*.suffix` (any identity ending in .suffix).
func MergeIdentities(existing, add []string) (merged, added []string) {
	merged = slices.Clone(existing)
	for _, id := range add {
		if matchesAny(merged, id) {
			continue
		}
		merged = append(merged, id)
		added = append(added, id)
	}
	return merged, added
}

// UnmergeIdentities removes what meshmon added: for each entry of meshmonAdded its last
// occurrence in existing (meshmon appends), so a copy someone else added later survives.
func UnmergeIdentities(existing, meshmonAdded []string) []string {
	out := slices.Clone(existing)
	for _, id := range meshmonAdded {
		if i := lastIndex(out, id); i >= 0 {
			out = slices.Delete(out, i, i+1)
		}
	}
	return out
}

// identityMatches mirrors the Linkerd policy controller: `*` matches all, `*.x.y` matches names
// ending in `.x.y`, anything else must be equal. A wildcard id is matched when every identity it
// stands for is.
func identityMatches(pattern, id string) bool {
	switch {
	case pattern == id, pattern == "*":
		return true
	case strings.HasPrefix(pattern, "*."):
		return strings.HasSuffix(id, pattern[1:])
	default:
		return false
	}
}

func matchesAny(patterns []string, id string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return identityMatches(p, id) })
}

func lastIndex(ss []string, s string) int {
	for i := len(ss) - 1; i >= 0; i-- {
		if ss[i] == s {
			return i
		}
	}
	return -1
}

// identityDomain is `<linkerd namespace>.<trust domain>`, taken from the first mesh identity.
func identityDomain(ids []string) string {
	for _, id := range ids {
		if _, _, d, ok := linkerd.SplitIdentity(id); ok {
			return d
		}
	}
	return ""
}

// refIdentity is the identity (or wildcard) the policy controller derives from an identityRef.
func refIdentity(ref map[string]any, objNamespace, domain string) (string, bool) {
	kind, _, _ := unstructured.NestedString(ref, "kind")
	group, _, _ := unstructured.NestedString(ref, "group")
	name, _, _ := unstructured.NestedString(ref, "name")
	if group != "" && group != "core" {
		return "", false
	}
	switch kind {
	case "ServiceAccount":
		ns, _, _ := unstructured.NestedString(ref, "namespace")
		if ns == "" {
			ns = objNamespace
		}
		return linkerd.IdentityInDomain(name, ns, domain), true
	case "Namespace":
		return linkerd.IdentityInDomain("*", name, domain), true
	default:
		return "", false
	}
}

// identityToRef expresses id as an identityRef, which works only for identities of this
// cluster's domain: a ServiceAccount, or a whole namespace for `*.<ns>…`.
func identityToRef(id, domain string) (map[string]any, bool) {
	sa, ns, d, ok := linkerd.SplitIdentity(id)
	if !ok || d != domain || strings.Contains(ns, "*") {
		return nil, false
	}
	if sa == "*" {
		return map[string]any{"kind": "Namespace", "name": ns}, true
	}
	if strings.Contains(sa, "*") {
		return nil, false
	}
	return serviceAccountRef(ns, sa), true
}

// meshTLSClients reads a live MeshTLSAuthentication: its identities, or (when it uses
// identityRefs) the identities those refs stand for.
type meshTLSClients struct {
	usesRefs   bool
	identities []string
	refs       []any
}

func readMeshTLS(obj *unstructured.Unstructured, domain string) (meshTLSClients, error) {
	ids, hasIDs, err := unstructured.NestedStringSlice(obj.Object, "spec", "identities")
	if err != nil {
		return meshTLSClients{}, fmt.Errorf("reading spec.identities of MeshTLSAuthentication %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	refs, hasRefs, err := unstructured.NestedSlice(obj.Object, "spec", "identityRefs")
	if err != nil {
		return meshTLSClients{}, fmt.Errorf("reading spec.identityRefs of MeshTLSAuthentication %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	if !hasRefs || (hasIDs && len(ids) > 0) {
		return meshTLSClients{identities: ids}, nil
	}
	c := meshTLSClients{usesRefs: true, refs: refs}
	for _, r := range refs {
		m, _ := r.(map[string]any)
		if id, ok := refIdentity(m, obj.GetNamespace(), domain); ok {
			c.identities = append(c.identities, id)
		}
	}
	return c, nil
}

// recordedIdentities reads AnnotationAddedIdentities.
func recordedIdentities(obj *unstructured.Unstructured) ([]string, error) {
	raw, ok := obj.GetAnnotations()[AnnotationAddedIdentities]
	if !ok || raw == "" {
		return nil, nil
	}
	var ids []string
	if err := json.Unmarshal([]byte(raw), &ids); err != nil {
		return nil, fmt.Errorf("annotation %s on MeshTLSAuthentication %s/%s is not a JSON list of strings (%w); fix or remove it",
			AnnotationAddedIdentities, obj.GetNamespace(), obj.GetName(), err)
	}
	return ids, nil
}

func setRecordedIdentities(obj *unstructured.Unstructured, ids []string) error {
	ann := obj.GetAnnotations()
	if len(ids) == 0 {
		delete(ann, AnnotationAddedIdentities)
	} else {
		raw, err := json.Marshal(ids)
		if err != nil {
			return fmt.Errorf("encoding %s: %w", AnnotationAddedIdentities, err)
		}
		if ann == nil {
			ann = map[string]string{}
		}
		ann[AnnotationAddedIdentities] = string(raw)
	}
	if len(ann) == 0 {
		ann = nil
	}
	obj.SetAnnotations(ann)
	return nil
}

// mergeInto adds want to a MeshTLSAuthentication meshmon does not own, in whichever form it
// uses (identities XOR identityRefs), and records what it added. It fails, changing nothing,
// when an identityRefs object cannot express an identity.
func mergeInto(obj *unstructured.Unstructured, want []string) (added []string, changed bool, err error) {
	recorded, err := recordedIdentities(obj)
	if err != nil {
		return nil, false, err
	}
	domain := identityDomain(want)
	cur, err := readMeshTLS(obj, domain)
	if err != nil {
		return nil, false, err
	}

	present := cur.identities
	if cur.usesRefs {
		refs := slices.Clone(cur.refs)
		var impossible []string
		for _, id := range want {
			if matchesAny(present, id) {
				continue
			}
			ref, ok := identityToRef(id, domain)
			if !ok {
				impossible = append(impossible, id)
				continue
			}
			refs = append(refs, ref)
			present = append(present, id)
			added = append(added, id)
		}
		if len(impossible) > 0 {
			return nil, false, fmt.Errorf("MeshTLSAuthentication %s/%s lists its clients as identityRefs, which cannot express %s "+
				"(Linkerd allows identities or identityRefs, not both); let meshmon use its own MeshTLSAuthentication, "+
				"or add these identities to one that uses spec.identities",
				obj.GetNamespace(), obj.GetName(), strings.Join(impossible, ", "))
		}
		if len(added) > 0 {
			if err := unstructured.SetNestedSlice(obj.Object, refs, "spec", "identityRefs"); err != nil {
				return nil, false, fmt.Errorf("setting spec.identityRefs: %w", err)
			}
		}
	} else {
		present, added = MergeIdentities(cur.identities, want)
		if len(added) > 0 {
			if err := unstructured.SetNestedStringSlice(obj.Object, present, "spec", "identities"); err != nil {
				return nil, false, fmt.Errorf("setting spec.identities: %w", err)
			}
		}
	}

	// Keep earlier records that are still there: a re-apply finds meshmon's identities present
	// and adds nothing, yet they remain meshmon's to remove.
	next := make([]string, 0, len(recorded)+len(added))
	for _, id := range recorded {
		if slices.Contains(present, id) && !slices.Contains(next, id) {
			next = append(next, id)
		}
	}
	next = append(next, added...)
	if slices.Equal(next, recorded) {
		return added, len(added) > 0, nil
	}
	if err := setRecordedIdentities(obj, next); err != nil {
		return nil, false, err
	}
	return added, true, nil
}

// unmergeFrom removes the identities meshmon recorded as added. When that would leave the
// object without clients (invalid for Linkerd), it changes nothing and reports empty.
func unmergeFrom(obj *unstructured.Unstructured) (removed []string, empty bool, err error) {
	recorded, err := recordedIdentities(obj)
	if err != nil || len(recorded) == 0 {
		return nil, false, err
	}
	domain := identityDomain(recorded)
	cur, err := readMeshTLS(obj, domain)
	if err != nil {
		return nil, false, err
	}

	if cur.usesRefs {
		refs := slices.Clone(cur.refs)
		for _, id := range recorded {
			for j := len(refs) - 1; j >= 0; j-- {
				m, _ := refs[j].(map[string]any)
				if got, ok := refIdentity(m, obj.GetNamespace(), domain); ok && got == id {
					refs = slices.Delete(refs, j, j+1)
					removed = append(removed, id)
					break
				}
			}
		}
		if len(refs) == 0 {
			return nil, true, nil
		}
		if err := unstructured.SetNestedSlice(obj.Object, refs, "spec", "identityRefs"); err != nil {
			return nil, false, fmt.Errorf("setting spec.identityRefs: %w", err)
		}
	} else {
		remaining := UnmergeIdentities(cur.identities, recorded)
		if len(remaining) == 0 {
			return nil, true, nil
		}
		for _, id := range recorded {
			if slices.Contains(cur.identities, id) {
				removed = append(removed, id)
			}
		}
		if err := unstructured.SetNestedStringSlice(obj.Object, remaining, "spec", "identities"); err != nil {
			return nil, false, fmt.Errorf("setting spec.identities: %w", err)
		}
	}
	if err := setRecordedIdentities(obj, nil); err != nil {
		return nil, false, err
	}
	return removed, false, nil
}
