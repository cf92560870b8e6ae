package linkerd

import "strings"

// identityInfix separates `<sa>.<ns>` from the identity domain in a mesh identity.
const identityInfix = ".serviceaccount.identity."

// IdentityDomain is the suffix of every mesh identity the control plane issues:
// `<linkerd namespace>.<trust domain>`.
func IdentityDomain(linkerdNamespace, trustDomain string) string {
	return linkerdNamespace + "." + trustDomain
}

// Identity returns the mesh identity Linkerd issues to a ServiceAccount:
// `<sa>.<ns>.serviceaccount.identity.<linkerd namespace>.<trust domain>`.
func Identity(serviceAccount, namespace, linkerdNamespace, trustDomain string) string {
	return IdentityInDomain(serviceAccount, namespace, IdentityDomain(linkerdNamespace, trustDomain))
}

// IdentityInDomain is Identity with the domain already joined; serviceAccount "*" makes
// the wildcard for a whole namespace.
func IdentityInDomain(serviceAccount, namespace, domain string) string {
	return serviceAccount + "." + namespace + identityInfix + domain
}

// SplitIdentity splits a mesh identity into its ServiceAccount (or "*"), namespace and
// identity domain. Namespaces hold no dots, ServiceAccount names may.
func SplitIdentity(id string) (serviceAccount, namespace, domain string, ok bool) {
	left, domain, ok := strings.Cut(id, identityInfix)
	if !ok || domain == "" {
		return "", "", "", false
	}
	i := strings.LastIndexByte(left, '.')
	if i <= 0 || i == len(left)-1 {
		return "", "", "", false
	}
	return left[:i], left[i+1:], domain, true
}
