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
