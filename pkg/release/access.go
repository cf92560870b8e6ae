package release

import (
	"context"
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/meshmon/meshmon/pkg/kube"
)

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
func ChartAccess(_ context.Context, manifest, namespace string, mapper meta.RESTMapper) ([]kube.Access, error) {
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
	var out []kube.Access
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
		a := kube.Access{Group: kr.group, Resource: kr.resource, Verbs: objectVerbs(), Kind: gk.Kind + "s", Why: "the chart creates them"}
		if kr.namespaced {
			a.Namespace = namespace
		}
		out = append(out, a)
	}
	out = append(out,
		kube.Access{Resource: "secrets", Namespace: namespace, Verbs: storageVerbs(), Kind: "Secrets", Why: "Helm stores the release in them"},
		kube.Access{Resource: "pods", Namespace: namespace, Verbs: []string{"list", "watch"}, Kind: "Pods", Why: "waiting for the rollout reads them"},
		kube.Access{Group: "apps", Resource: "replicasets", Namespace: namespace, Verbs: []string{"list", "watch"}, Kind: "ReplicaSets", Why: "waiting for the rollout reads them"},
	)
	return mergeAccess(out), nil
}

// mergeAccess folds entries for the same resource and namespace together.
func mergeAccess(in []kube.Access) []kube.Access {
	var out []kube.Access
	for _, a := range in {
		i := slices.IndexFunc(out, func(b kube.Access) bool {
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

// UninstallAccess lists what Uninstall does in namespace to a release of the chart's usual
// objects: Helm reads its records, marks the release uninstalling and deletes the records,
// deletes the objects and watches them go; the data volume claims are listed, and with
// deleteData deleted and read until they are gone.
func UninstallAccess(namespace string, deleteData bool) []kube.Access {
	known := knownResources()
	var out []kube.Access
	for _, gk := range defaultChartKinds() {
		if gk.Kind == "PersistentVolumeClaim" {
			continue // Helm keeps it (KeepAnnotation); only --delete-data deletes it
		}
		kr := known[gk]
		a := kube.Access{Group: kr.group, Resource: kr.resource, Verbs: []string{"get", "list", "watch", "delete"}, Kind: gk.Kind + "s", Why: "Helm deletes the chart's objects and waits until they are gone"}
		if kr.namespaced {
			a.Namespace = namespace
		}
		out = append(out, a)
	}
	out = append(out, kube.Access{Resource: "secrets", Namespace: namespace, Verbs: []string{"get", "list", "update", "delete"}, Kind: "Secrets", Why: "Helm marks the release uninstalled and deletes its records"})
	pvc := kube.Access{Resource: "persistentvolumeclaims", Namespace: namespace, Verbs: []string{"list"}, Kind: "PersistentVolumeClaims", Why: "find the data volume that is kept"}
	if deleteData {
		pvc.Verbs = append(pvc.Verbs, "get", "delete")
		pvc.Why = "find the data volume, delete it (--delete-data) and wait until it is gone"
	}
	return mergeAccess(append(out, pvc))
}
