package policy

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshmon/meshmon/pkg/linkerd"
)

// Group is the API group of every object this package manages.
const Group = "policy.linkerd.io"

// Kinds this package manages.
const (
	KindServer                = "Server"
	KindAuthorizationPolicy   = "AuthorizationPolicy"
	KindMeshTLSAuthentication = "MeshTLSAuthentication"
	KindNetworkAuthentication = "NetworkAuthentication"
	KindHTTPRoute             = "HTTPRoute"
)

// Labels and annotations meshmon puts on policy objects.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelPartOf    = "app.kubernetes.io/part-of"
	// LabelInstance tells apart two meshmon Prometheus installations in one cluster, so deleting
	// one never removes the other's data-plane policies.
	LabelInstance = "meshmon.io/instance"
	// LabelRole says what an object is for (admin, client, federate, scrapers, kubelet, scrape).
	LabelRole = "meshmon.io/policy-role"
	// AnnotationAddedIdentities (JSON list) records, on a MeshTLSAuthentication meshmon does not
	// own, exactly the identities meshmon merged in, so Delete removes those and nothing else.
	AnnotationAddedIdentities = "meshmon.io/added-identities"
	// AnnotationAllowClient records the `--allow-client` value behind a client AuthorizationPolicy.
	AnnotationAllowClient = "meshmon.io/allow-client"

	managerName = "meshmon"
)

// Names of the objects Build creates. Per-client AuthorizationPolicies are named by
// ClientAuthorizationName.
const (
	// In the Prometheus namespace.
	ServerName             = "prometheus-server-admin"
	AdminAuthorizationName = "prometheus-server-admin"
	FederateName           = "prometheus-server-federate" // NetworkAuthentication and AuthorizationPolicy
	KubeletNetworkName     = "meshmon-kubelet"
	// In every scrape namespace.
	ProxyAdminServerName  = "meshmon-proxy-admin"
	ProxyMetricsRouteName = "meshmon-proxy-metrics" // HTTPRoute and AuthorizationPolicy
	ProxyProbesRouteName  = "meshmon-proxy-probes"  // HTTPRoute and AuthorizationPolicy

	clientAuthorizationPrefix = "prometheus-server-client-"
)

// apiVersion returns the served version meshmon writes for kind. Server v1beta3 is the first
// with accessPolicy (Linkerd 2.16); HTTPRoute v1beta3 is the storage version.
func apiVersion(kind string) string {
	switch kind {
	case KindServer, KindHTTPRoute:
		return Group + "/v1beta3"
	default:
		return Group + "/v1alpha1"
	}
}

// applyRank orders writes so that nothing is denied in between: authentications and
// authorizations exist before the Server that starts enforcing them. Deletion runs backwards.
func applyRank(kind string) int {
	switch kind {
	case KindMeshTLSAuthentication:
		return 0
	case KindNetworkAuthentication:
		return 1
	case KindAuthorizationPolicy:
		return 2
	case KindHTTPRoute:
		return 3
	case KindServer:
		return 4
	default:
		return 5
	}
}

func sortForApply(objs []*unstructured.Unstructured) {
	slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int {
		return cmp.Or(
			cmp.Compare(applyRank(a.GetKind()), applyRank(b.GetKind())),
			cmp.Compare(a.GetNamespace(), b.GetNamespace()),
			cmp.Compare(a.GetName(), b.GetName()),
		)
	})
}

// Build returns every object for spec, in a safe apply order. The output depends only on spec.
func Build(spec Spec) ([]*unstructured.Unstructured, error) {
	s, err := spec.normalize()
	if err != nil {
		return nil, err
	}
	b := builder{s: s, instance: s.Instance()}
	prom := s.PrometheusNamespace

	objs := []*unstructured.Unstructured{
		b.object(KindMeshTLSAuthentication, prom, s.MTLSAuthenticationName, "scrapers", map[string]any{
			"identities": toAnySlice(s.ScraperIdentities()),
		}),
		b.object(KindServer, prom, ServerName, "admin", map[string]any{
			"accessPolicy":  "deny",
			"podSelector":   map[string]any{"matchLabels": toAnyMap(s.ServerPodLabels)},
			"port":          int64(s.Port),
			"proxyProtocol": "HTTP/1",
		}),
		b.authorization(prom, AdminAuthorizationName, "admin", targetRef(KindServer, ServerName),
			serviceAccountRef(s.VizNamespace, s.MetricsAPIServiceAccount)),
	}

	seen := map[string]ServiceAccountRef{}
	for _, c := range s.AllowClients {
		name := ClientAuthorizationName(c)
		if prev, ok := seen[name]; ok {
			return nil, fmt.Errorf("clients %s and %s both map to AuthorizationPolicy %q; authorize one of them by hand", prev, c, name)
		}
		seen[name] = c
		ap := b.authorization(prom, name, "client", targetRef(KindServer, ServerName), serviceAccountRef(c.Namespace, c.Name))
		ap.SetAnnotations(map[string]string{AnnotationAllowClient: c.String()})
		objs = append(objs, ap)
	}

	if len(s.AllowFederateFrom) > 0 {
		networks := make([]any, 0, len(s.AllowFederateFrom))
		for _, c := range s.AllowFederateFrom {
			networks = append(networks, map[string]any{"cidr": c})
		}
		objs = append(objs,
			b.object(KindNetworkAuthentication, prom, FederateName, "federate", map[string]any{"networks": networks}),
			b.authorization(prom, FederateName, "federate", targetRef(KindServer, ServerName),
				policyRef(KindNetworkAuthentication, "", FederateName)),
		)
	}

	if len(s.ScrapeNamespaces) > 0 {
		// Kubelet probes reach the proxy admin port from the node, outside the mesh; the address
		// cannot be discovered, so (like linkerd-viz) every address is allowed, on both families.
		objs = append(objs, b.object(KindNetworkAuthentication, prom, KubeletNetworkName, "kubelet", map[string]any{
			"networks": []any{map[string]any{"cidr": "0.0.0.0/0"}, map[string]any{"cidr": "::/0"}},
		}))
	}
	for _, ns := range s.ScrapeNamespaces {
		objs = append(objs, b.scrapeObjects(ns)...)
	}

	sortForApply(objs)
	return objs, nil
}

// scrapeObjects authorize /metrics on every proxy's admin port in ns for the scraper identities,
// and keep the proxy's own probes working: once a Server has routes, only routed paths are served.
func (b builder) scrapeObjects(ns string) []*unstructured.Unstructured {
	prom := b.s.PrometheusNamespace
	route := func(name string, paths ...string) *unstructured.Unstructured {
		matches := make([]any, 0, len(paths))
		for _, p := range paths {
			matches = append(matches, map[string]any{"path": map[string]any{"type": "Exact", "value": p}})
		}
		return b.object(KindHTTPRoute, ns, name, "scrape", map[string]any{
			"parentRefs": []any{map[string]any{"group": Group, "kind": KindServer, "name": ProxyAdminServerName}},
			"rules":      []any{map[string]any{"matches": matches}},
		})
	}
	return []*unstructured.Unstructured{
		b.object(KindServer, ns, ProxyAdminServerName, "scrape", map[string]any{
			"accessPolicy":  "deny",
			"podSelector":   map[string]any{},
			"port":          linkerd.ProxyAdminPortName,
			"proxyProtocol": "HTTP/1",
		}),
		route(ProxyMetricsRouteName, "/metrics"),
		route(ProxyProbesRouteName, "/live", "/ready"),
		b.authorization(ns, ProxyMetricsRouteName, "scrape", targetRef(KindHTTPRoute, ProxyMetricsRouteName),
			policyRef(KindMeshTLSAuthentication, prom, b.s.MTLSAuthenticationName)),
		b.authorization(ns, ProxyProbesRouteName, "scrape", targetRef(KindHTTPRoute, ProxyProbesRouteName),
			policyRef(KindNetworkAuthentication, prom, KubeletNetworkName)),
	}
}

// ClientAuthorizationName is the AuthorizationPolicy name for an `--allow-client`: readable when
// `prometheus-server-client-<ns>-<sa>` is a valid DNS-1123 label, else truncated with a hash.
func ClientAuthorizationName(c ServiceAccountRef) string {
	return boundedName(clientAuthorizationPrefix+c.Namespace+"-"+c.Name, c.String())
}

// boundedName keeps names within a DNS-1123 label (63 characters) so they also fit label values;
// the hash of key keeps sanitized or truncated names distinct.
func boundedName(name, key string) string {
	if len(validation.IsDNS1123Label(name)) == 0 {
		return name
	}
	clean := []byte(strings.ToLower(name))
	for i, c := range clean {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			clean[i] = '-'
		}
	}
	sum := sha256.Sum256([]byte(key))
	suffix := "-" + hex.EncodeToString(sum[:])[:8]
	head := string(clean[:min(len(clean), validation.DNS1123LabelMaxLength-len(suffix))])
	return strings.TrimRight(head, "-") + suffix
}

// labelValue fits s into a label value, hashing when it is too long or has illegal characters.
func labelValue(s string) string {
	if len(validation.IsValidLabelValue(s)) == 0 {
		return s
	}
	return boundedName(s, s)
}

type builder struct {
	s        Spec
	instance string
}

func (b builder) object(kind, ns, name, role string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetAPIVersion(apiVersion(kind))
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	u.SetLabels(map[string]string{
		LabelManagedBy: managerName,
		LabelPartOf:    managerName,
		LabelInstance:  b.instance,
		LabelRole:      role,
	})
	return u
}

func (b builder) authorization(ns, name, role string, target map[string]any, authn ...any) *unstructured.Unstructured {
	return b.object(KindAuthorizationPolicy, ns, name, role, map[string]any{
		"targetRef":                  target,
		"requiredAuthenticationRefs": authn,
	})
}

func targetRef(kind, name string) map[string]any {
	return map[string]any{"group": Group, "kind": kind, "name": name}
}

// policyRef references a policy.linkerd.io authentication; an empty ns means the referrer's own.
func policyRef(kind, ns, name string) map[string]any {
	r := map[string]any{"group": Group, "kind": kind, "name": name}
	if ns != "" {
		r["namespace"] = ns
	}
	return r
}

func serviceAccountRef(ns, name string) map[string]any {
	return map[string]any{"kind": "ServiceAccount", "name": name, "namespace": ns}
}

func toAnySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func toAnyMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
