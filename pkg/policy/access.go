package policy

import "github.com/meshmon/meshmon/pkg/kube"

// RequiredAccess is what Apply needs to create and update meshmon's policy objects in
// namespace, so that an install can check it before it writes anything.
func RequiredAccess(namespace string) []kube.Access {
	var a []kube.Access
	for _, r := range []string{"servers", "authorizationpolicies", "meshtlsauthentications", "networkauthentications"} {
		a = append(a, kube.Access{Group: Group, Resource: r, Namespace: namespace, Verbs: []string{"get", "create", "patch"}, Kind: r, Why: "to protect Prometheus with Linkerd policy"})
	}
	return a
}

// DeleteAccess is what Delete needs to remove meshmon's policy objects from namespace: it
// finds the installation's objects of every kind in all namespaces (stale ones too), reads
// each before deleting it, and takes meshmon's identities out of a MeshTLSAuthentication it
// does not own (an update).
func DeleteAccess(namespace string) []kube.Access {
	var a []kube.Access
	for _, r := range resources() {
		a = append(a, kube.Access{Group: Group, Resource: r, Verbs: []string{"list"}, Kind: r, Why: "to find meshmon's policy objects in every namespace"})
	}
	for _, r := range resources() {
		verbs := []string{"get", "delete"}
		if r == "meshtlsauthentications" {
			verbs = append(verbs, "update")
		}
		a = append(a, kube.Access{Group: Group, Resource: r, Namespace: namespace, Verbs: verbs, Kind: r, Why: "to delete meshmon's policy objects"})
	}
	return a
}

// resources are the policy.linkerd.io resources meshmon writes, reads and deletes.
func resources() []string {
	return []string{"servers", "authorizationpolicies", "meshtlsauthentications", "networkauthentications", "httproutes"}
}
