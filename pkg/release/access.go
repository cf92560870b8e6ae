package release

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	authv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// Access is a set of permissions a step of the install needs on one kind of object.
type Access struct {
	Group    string
	Resource string
	// Namespace is where; empty for cluster-scoped resources.
	Namespace string
	Verbs     []string
	// Kind names the objects for people, plural: "ClusterRoles".
	Kind string
	// Why the install needs them.
	Why string
}

func (a Access) description() string {
	where := "cluster-wide"
	if a.Namespace != "" {
		where = "in namespace " + a.Namespace
	}
	return fmt.Sprintf("can %s %s %s", joinAnd(a.Verbs), a.Kind, where)
}

func (a Access) resourceName() string {
	if a.Group == "" {
		return a.Resource
	}
	return a.Resource + "." + a.Group
}

func joinAnd(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// objectVerbs are what Helm does to the chart's objects: server-side apply (patch),
// create, read back, watch while waiting, and delete on rollback or uninstall.
func objectVerbs() []string { return []string{"get", "list", "watch", "create", "patch", "delete"} }

// storageVerbs are what Helm's Secret storage driver does with release records.
func storageVerbs() []string { return []string{"get", "list", "create", "update", "delete"} }

// knownResource maps the kinds the prometheus chart can render to their resources, so
// that preflight works before discovery is possible (or permitted).
type knownResource struct {
	group, resource string
	namespaced      bool
}

func knownResources() map[schema.GroupKind]knownResource {
	return map[schema.GroupKind]knownResource{
		{Kind: "ServiceAccount"}:                                                   {"", "serviceaccounts", true},
		{Kind: "ConfigMap"}:                                                        {"", "configmaps", true},
		{Kind: "Secret"}:                                                           {"", "secrets", true},
		{Kind: "Service"}:                                                          {"", "services", true},
		{Kind: "PersistentVolumeClaim"}:                                            {"", "persistentvolumeclaims", true},
		{Group: "apps", Kind: "Deployment"}:                                        {"apps", "deployments", true},
		{Group: "apps", Kind: "StatefulSet"}:                                       {"apps", "statefulsets", true},
		{Group: "apps", Kind: "DaemonSet"}:                                         {"apps", "daemonsets", true},
		{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:                  {"rbac.authorization.k8s.io", "clusterroles", false},
		{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}:           {"rbac.authorization.k8s.io", "clusterrolebindings", false},
		{Group: "rbac.authorization.k8s.io", Kind: "Role"}:                         {"rbac.authorization.k8s.io", "roles", true},
		{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}:                  {"rbac.authorization.k8s.io", "rolebindings", true},
		{Group: "networking.k8s.io", Kind: "Ingress"}:                              {"networking.k8s.io", "ingresses", true},
		{Group: "networking.k8s.io", Kind: "NetworkPolicy"}:                        {"networking.k8s.io", "networkpolicies", true},
		{Group: "policy", Kind: "PodDisruptionBudget"}:                             {"policy", "poddisruptionbudgets", true},
		{Group: "autoscaling.k8s.io", Kind: "VerticalPodAutoscaler"}:               {"autoscaling.k8s.io", "verticalpodautoscalers", true},
		{Group: "gateway.networking.k8s.io", Kind: "HTTPRoute"}:                    {"gateway.networking.k8s.io", "httproutes", true},
		{Group: "monitoring.coreos.com", Kind: "ServiceMonitor"}:                   {"monitoring.coreos.com", "servicemonitors", true},
		{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}:          {"apiextensions.k8s.io", "customresourcedefinitions", false},
		{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicy"}: {"admissionregistration.k8s.io", "validatingadmissionpolicies", false},
	}
}

// defaultChartKinds are what chart 29 renders with meshmon's values in Deployment mode:
// the objects preflight checks when no manifest is at hand.
func defaultChartKinds() []schema.GroupKind {
	return []schema.GroupKind{
		{Kind: "ServiceAccount"}, {Kind: "ConfigMap"}, {Kind: "PersistentVolumeClaim"}, {Kind: "Service"},
		{Group: "apps", Kind: "Deployment"},
		{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"},
		{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"},
	}
}

// ChartAccess lists the permissions installing manifest into namespace needs, one Access
// per kind, plus Helm's release storage and what waiting reads. An empty manifest stands
// for the chart's usual objects. mapper (may be nil) resolves kinds the built-in table
// does not know.
func ChartAccess(ctx context.Context, manifest, namespace string, mapper meta.RESTMapper) ([]Access, error) {
	var kinds []schema.GroupKind
	if strings.TrimSpace(manifest) == "" {
		kinds = defaultChartKinds()
	} else {
		objs, err := ManifestObjects(manifest)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			if gk := o.GVK.GroupKind(); !slices.Contains(kinds, gk) {
				kinds = append(kinds, gk)
			}
		}
	}
	known := knownResources()
	var out []Access
	for _, gk := range kinds {
		kr, ok := known[gk]
		if !ok {
			if mapper == nil {
				return nil, fmt.Errorf("the chart renders %s, whose resource meshmon cannot look up without the cluster's discovery", gk)
			}
			m, err := mapper.RESTMapping(gk)
			if err != nil {
				return nil, fmt.Errorf("the chart renders %s, which this cluster does not serve: %w", gk, err)
			}
			kr = knownResource{m.Resource.Group, m.Resource.Resource, m.Scope.Name() == meta.RESTScopeNameNamespace}
		}
		a := Access{Group: kr.group, Resource: kr.resource, Verbs: objectVerbs(), Kind: gk.Kind + "s", Why: "the chart creates them"}
		if kr.namespaced {
			a.Namespace = namespace
		}
		out = append(out, a)
	}
	out = append(out,
		Access{Resource: "secrets", Namespace: namespace, Verbs: storageVerbs(), Kind: "Secrets", Why: "Helm stores the release in them"},
		Access{Resource: "pods", Namespace: namespace, Verbs: []string{"list", "watch"}, Kind: "Pods", Why: "waiting for the rollout reads them"},
		Access{Group: "apps", Resource: "replicasets", Namespace: namespace, Verbs: []string{"list", "watch"}, Kind: "ReplicaSets", Why: "waiting for the rollout reads them"},
	)
	return mergeAccess(out), nil
}

// mergeAccess folds entries for the same resource and namespace together.
func mergeAccess(in []Access) []Access {
	var out []Access
	for _, a := range in {
		i := slices.IndexFunc(out, func(b Access) bool {
			return b.Group == a.Group && b.Resource == a.Resource && b.Namespace == a.Namespace
		})
		if i < 0 {
			out = append(out, a)
			continue
		}
		for _, v := range a.Verbs {
			if !slices.Contains(out[i].Verbs, v) {
				out[i].Verbs = append(out[i].Verbs, v)
			}
		}
	}
	return out
}

// accessChecker asks the API server what the current user may do, each question once.
type accessChecker struct {
	kc    kubernetes.Interface
	mu    sync.Mutex
	cache map[string]accessAnswer
}

type accessAnswer struct {
	allowed bool
	err     error
}

func newAccessChecker(kc kubernetes.Interface) *accessChecker {
	return &accessChecker{kc: kc, cache: map[string]accessAnswer{}}
}

func accessKey(spec authv1.SelfSubjectAccessReviewSpec) string {
	if ra := spec.ResourceAttributes; ra != nil {
		return strings.Join([]string{"r", ra.Namespace, ra.Verb, ra.Group, ra.Resource, ra.Subresource, ra.Name}, "\x00")
	}
	if nra := spec.NonResourceAttributes; nra != nil {
		return strings.Join([]string{"n", nra.Path, nra.Verb}, "\x00")
	}
	return ""
}

func (c *accessChecker) allowed(ctx context.Context, spec authv1.SelfSubjectAccessReviewSpec) (bool, error) {
	key := accessKey(spec)
	c.mu.Lock()
	ans, ok := c.cache[key]
	c.mu.Unlock()
	if ok {
		return ans.allowed, ans.err
	}
	r, err := c.kc.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authv1.SelfSubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
	ans = accessAnswer{err: err}
	if err == nil {
		ans.allowed = r.Status.Allowed
	}
	c.mu.Lock()
	c.cache[key] = ans
	c.mu.Unlock()
	return ans.allowed, ans.err
}

// check returns nil when every verb of a is allowed, else an error naming the missing
// ones and the fix.
func (c *accessChecker) check(ctx context.Context, a Access) error {
	missing := make([]string, len(a.Verbs))
	errs := make([]error, len(a.Verbs))
	var wg sync.WaitGroup
	for i, verb := range a.Verbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := c.allowed(ctx, authv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authv1.ResourceAttributes{
				Namespace: a.Namespace, Verb: verb, Group: a.Group, Resource: a.Resource,
			}})
			switch {
			case err != nil:
				errs[i] = err
			case !ok:
				missing[i] = verb
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("asking the API server whether you may %s %s: %w", joinAnd(a.Verbs), a.resourceName(), err)
		}
	}
	missing = slices.DeleteFunc(missing, func(s string) bool { return s == "" })
	if len(missing) == 0 {
		return nil
	}
	where := "cluster-wide (a ClusterRole)"
	if a.Namespace != "" {
		where = "in namespace " + a.Namespace + " (a Role, or a ClusterRole bound there)"
	}
	return fmt.Errorf("you may not %s %s (%s); ask a cluster administrator for that %s, or use a context that may",
		joinAnd(missing), a.resourceName(), a.Why, where)
}

// checkGrant verifies that the user may create a ClusterRole with these rules (and bind
// it): RBAC refuses to grant permissions the creator does not hold, unless they may
// escalate and bind.
func (c *accessChecker) checkGrant(ctx context.Context, role rbacv1.ClusterRole) error {
	type ask struct {
		spec     authv1.SelfSubjectAccessReviewSpec
		verb     string
		resource string
	}
	var asks []ask
	for _, rule := range role.Rules {
		for _, url := range rule.NonResourceURLs {
			for _, verb := range rule.Verbs {
				asks = append(asks, ask{authv1.SelfSubjectAccessReviewSpec{NonResourceAttributes: &authv1.NonResourceAttributes{Path: url, Verb: verb}}, verb, url})
			}
		}
		for _, group := range rule.APIGroups {
			for _, res := range rule.Resources {
				resource, sub, _ := strings.Cut(res, "/")
				name := res
				if group != "" {
					name = resource + "." + group
					if sub != "" {
						name += "/" + sub
					}
				}
				for _, verb := range rule.Verbs {
					asks = append(asks, ask{authv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authv1.ResourceAttributes{
						Verb: verb, Group: group, Resource: resource, Subresource: sub,
					}}, verb, name})
				}
			}
		}
	}
	lacking := make([]bool, len(asks))
	errs := make([]error, len(asks))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, a := range asks {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			ok, err := c.allowed(ctx, a.spec)
			errs[i], lacking[i] = err, err == nil && !ok
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("asking the API server about the permissions of ClusterRole %s: %w", role.Name, err)
		}
	}
	// Group what is lacking as "get, list and watch nodes, pods", one group per verb set.
	var resources []string
	verbs := map[string][]string{}
	for i, a := range asks {
		if !lacking[i] {
			continue
		}
		if _, seen := verbs[a.resource]; !seen {
			resources = append(resources, a.resource)
		}
		verbs[a.resource] = append(verbs[a.resource], a.verb)
	}
	if len(resources) == 0 {
		return nil
	}
	var groups []string
	byVerbs := map[string][]string{}
	for _, r := range resources {
		key := joinAnd(verbs[r])
		if _, seen := byVerbs[key]; !seen {
			groups = append(groups, key)
		}
		byVerbs[key] = append(byVerbs[key], r)
	}
	var missing []string
	for _, g := range groups {
		missing = append(missing, g+" "+strings.Join(byVerbs[g], ", "))
	}
	escalate, err := c.allowed(ctx, authv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authv1.ResourceAttributes{Verb: "escalate", Group: rbacv1.GroupName, Resource: "clusterroles"}})
	if err != nil {
		return err
	}
	bind, err := c.allowed(ctx, authv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authv1.ResourceAttributes{Verb: "bind", Group: rbacv1.GroupName, Resource: "clusterroles"}})
	if err != nil {
		return err
	}
	if escalate && bind {
		return nil
	}
	return fmt.Errorf("ClusterRole %s lets Prometheus %s, which you may not do yourself, so Kubernetes will refuse to create or bind it (RBAC prevents privilege escalation); run the install as a cluster administrator, or get the escalate and bind verbs on clusterroles",
		role.Name, strings.Join(missing, "; "))
}

// manifestClusterRoles returns the ClusterRoles of a rendered manifest.
func manifestClusterRoles(manifest string) ([]rbacv1.ClusterRole, error) {
	docs, err := manifestDocs(manifest)
	if err != nil {
		return nil, err
	}
	var out []rbacv1.ClusterRole
	for _, doc := range docs {
		var cr rbacv1.ClusterRole
		if err := yaml.Unmarshal(doc, &cr); err != nil {
			continue
		}
		if cr.Kind == "ClusterRole" && cr.APIVersion == rbacv1.SchemeGroupVersion.String() {
			out = append(out, cr)
		}
	}
	return out, nil
}
