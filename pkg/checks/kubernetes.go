package checks

import (
	"context"
	"fmt"
	"sync"

	authv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/client-go/discovery"

	"github.com/meshmon/meshmon/pkg/defaults"
	"github.com/meshmon/meshmon/pkg/healthcheck"
	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/policy"
)

// minKubernetes is the oldest Kubernetes meshmon supports: that of the
// oldest Linkerd serving Server v1beta3 (2.16).
const minKubernetes = "1.22.0"

// KubernetesAPI checks that the cluster can be reached and that the user may
// do what the run needs.
func KubernetesAPI(e *Env) healthcheck.Category {
	return healthcheck.Category{
		Name: CategoryKubernetesAPI,
		Checks: []healthcheck.Check{
			{
				ID:          idClient,
				Description: "can initialize the Kubernetes client",
				HintAnchor:  "mm-k8s-client",
				Fatal:       true,
				Run: func(ctx context.Context) error {
					_, err := e.Clients(ctx)
					return err
				},
			},
			{
				ID:          idAPI,
				Description: "can query the Kubernetes API",
				HintAnchor:  "mm-k8s-api",
				Fatal:       true,
				Retryable:   true,
				Needs:       []string{idClient},
				Run:         e.checkAPI,
			},
			{
				Description: "Kubernetes version is supported",
				HintAnchor:  "mm-k8s-version",
				Needs:       []string{idAPI},
				Run:         e.checkVersion,
			},
			{
				Description: "can read what the checks need",
				HintAnchor:  "mm-k8s-rbac",
				Needs:       []string{idAPI},
				Run:         e.checkRBAC,
			},
		},
	}
}

func (e *Env) serverVersion(ctx context.Context) (string, error) {
	c, err := e.Clients(ctx)
	if err != nil {
		return "", err
	}
	info, err := discovery.ToDiscoveryInterfaceWithContext(c.Kube.Discovery()).ServerVersionWithContext(ctx)
	if err != nil {
		return "", kube.Unreachable(c.Host, c.Context, err)
	}
	return info.GitVersion, nil
}

func (e *Env) checkAPI(ctx context.Context) error {
	_, err := e.serverVersion(ctx)
	return err
}

func (e *Env) checkVersion(ctx context.Context) error {
	v, err := e.serverVersion(ctx)
	if err != nil {
		return err
	}
	got, err := version.ParseGeneric(v)
	if err != nil {
		return fmt.Errorf("the API server reports version %q, which is not a Kubernetes version; meshmon needs Kubernetes %s or newer", v, minKubernetes)
	}
	if got.LessThan(version.MustParseGeneric(minKubernetes)) {
		return fmt.Errorf("Kubernetes %s is too old: meshmon (and Linkerd's Server v1beta3 policy) need %s or newer; upgrade the cluster", v, minKubernetes)
	}
	return nil
}

// access is one permission the run needs, and why.
type access struct {
	verb, group, resource, subresource, namespace string
	why                                           string
}

func (a access) String() string {
	res := a.resource
	if a.subresource != "" {
		res += "/" + a.subresource
	}
	if a.group != "" {
		res += "." + a.group
	}
	where := "in all namespaces"
	switch {
	case a.namespace != "":
		where = "in namespace " + a.namespace
	case clusterScoped(a.resource):
		where = "(cluster-wide)"
	}
	return fmt.Sprintf("%s %s %s (%s)", a.verb, res, where, a.why)
}

func clusterScoped(resource string) bool {
	switch resource {
	case "namespaces", "persistentvolumes", "storageclasses", "clusterroles", "clusterrolebindings", "customresourcedefinitions":
		return true
	}
	return false
}

// neededAccess lists what the health checks do.
func (e *Env) neededAccess(ctx context.Context) []access {
	ns, err := e.promNamespace(ctx)
	if err != nil {
		ns = defaults.VizNamespace
	}
	viz := e.opts.VizNamespace
	if viz == "" {
		if v, err := e.vizNamespace(ctx); err == nil {
			viz = v
		} else {
			viz = defaults.VizNamespace
		}
	}
	return accessList(ns, viz, e.opts.LinkerdNamespace, e.opts.PrometheusURL == "", e.opts.DashboardURL == "")
}

// accessList is what the health checks do with Prometheus in ns, linkerd-viz in viz and
// the control plane in lnk; portForwardProm and portForwardDash say whether they reach
// Prometheus and the dashboard through a port-forward (no --prometheus-url/--dashboard-url).
func accessList(ns, viz, lnk string, portForwardProm, portForwardDash bool) []access {
	needs := []access{
		{"get", "", "configmaps", "", lnk, "read linkerd-config"},
		{"get", "", "namespaces", "", "", "find linkerd-viz"},
		{"list", "", "secrets", "", ns, "read the Helm release"},
		{"list", "", "services", "", ns, "find the Prometheus Service"},
		{"list", "apps", "deployments", "", ns, "find the Prometheus server"},
		{"get", "", "persistentvolumeclaims", "", ns, "check the data volume"},
		{"get", "", "persistentvolumes", "", "", "check the reclaim policy"},
		{"list", "storage.k8s.io", "storageclasses", "", "", "check the storage class"},
		{"list", "", "pods", "", "", "measure meshed-pod coverage"},
		{"get", "apps", "deployments", "", viz, "read metrics-api's Prometheus URL"},
		{"list", policy.Group, "servers", "", ns, "check the Prometheus Server policy"},
		{"list", policy.Group, "authorizationpolicies", "", ns, "check who may query Prometheus"},
	}
	if portForwardProm {
		needs = append(needs, access{"create", "", "pods", "portforward", ns, "reach Prometheus"})
	}
	if portForwardDash {
		needs = append(needs, access{"create", "", "pods", "portforward", viz, "reach the dashboard"})
	}
	return needs
}

// RequiredAccess is what the whole check suite needs, one permission per entry, for
// Prometheus in namespace, linkerd-viz in vizNamespace and Linkerd in linkerdNamespace,
// reaching Prometheus and the dashboard through port-forwards: the published check role
// (docs/rbac/check.yaml) is generated from it.
func RequiredAccess(namespace, vizNamespace, linkerdNamespace string) []kube.Access {
	var out []kube.Access
	for _, a := range append(accessList(namespace, vizNamespace, linkerdNamespace, true, true), alsoRead(namespace)...) {
		out = append(out, kube.Access{Group: a.group, Resource: a.resource, Subresource: a.subresource, Namespace: a.namespace, Verbs: []string{a.verb}, Why: a.why})
	}
	return out
}

// alsoRead are further reads of the suite with Prometheus in ns. The RBAC check does not
// ask about them (each question is one more API request); the check that reads one
// reports a refusal itself, with the permission text of kube.ExplainAPIError.
func alsoRead(ns string) []access {
	return []access{
		{"get", "", "services", "", "", "find the Services the scrape jobs and the dashboard use"},
		{"get", "", "endpoints", "", "", "check that Services have ready endpoints"},
		{"get", "", "pods", "", "", "read the Prometheus pod"},
		{"get", "apps", "deployments", "", ns, "read the Prometheus server"},
		{"list", "apps", "statefulsets", "", ns, "find a StatefulSet Prometheus server"},
		{"get", "apps", "statefulsets", "", ns, "read a StatefulSet Prometheus server"},
		{"get", "", "serviceaccounts", "", "", "check that the service accounts the policy authorizes exist"},
		{"get", policy.Group, "servers", "", ns, "read the Prometheus Server policy"},
		{"get", policy.Group, "authorizationpolicies", "", ns, "read who may query Prometheus"},
		{"get", policy.Group, "meshtlsauthentications", "", ns, "read the identities the policy lets in"},
		{"get", policy.Group, "networkauthentications", "", ns, "read the networks the policy lets in"},
		// Repeated reads of one kind in a namespace are answered by one list (kube.SharedReads).
		{"list", "apps", "deployments", "", ns, "read the namespace's Deployments once for every check"},
		{"list", policy.Group, "servers", "", "", "read a namespace's Server policies once"},
		{"list", policy.Group, "authorizationpolicies", "", "", "read a namespace's authorization policies once"},
		{"list", policy.Group, "meshtlsauthentications", "", "", "read a namespace's identity lists once"},
		{"list", policy.Group, "networkauthentications", "", "", "read a namespace's network lists once"},
		{"list", policy.Group, "httproutes", "", "", "find meshmon's policy objects of every kind (policy.Show lists them all)"},
		{"get", "storage.k8s.io", "storageclasses", "", "", "check the volume's storage class"},
		{"list", "monitoring.coreos.com", "servicemonitors", "", "", "find prometheus-operator scrape configs that miss the mesh"},
		{"list", "monitoring.coreos.com", "prometheuses", "", "", "find prometheus-operator servers"},
	}
}

func (e *Env) checkRBAC(ctx context.Context) error {
	kc, err := e.kube(ctx)
	if err != nil {
		return err
	}
	needs := e.neededAccess(ctx)
	denied := make([]string, len(needs))
	errs := make([]error, len(needs))
	// One rules review per namespace answers the namespaced questions; the
	// rest (and anything the rules do not grant) are asked together, which
	// keeps the check at one round trip on a distant API server.
	ac := kube.NewAccessChecker(kc)
	var wg sync.WaitGroup
	for i, a := range needs {
		wg.Go(func() {
			ok, err := ac.Allowed(ctx, authv1.ResourceAttributes{
				Verb: a.verb, Group: a.group, Resource: a.resource, Subresource: a.subresource, Namespace: a.namespace,
			})
			switch {
			case err != nil:
				errs[i] = err
			case !ok:
				denied[i] = a.String()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("asking the API server what you may do (SelfSubjectAccessReview): %w", err)
		}
	}
	var missing []string
	for _, d := range denied {
		if d != "" {
			missing = append(missing, d)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %d %s; ask a cluster admin to grant %s:%s", len(missing), plural(len(missing), "permission", "permissions"),
			plural(len(missing), "it", "them"), allBullets(missing))
	}
	return nil
}
