package viz

import "github.com/meshmon/meshmon/pkg/kube"

// RequiredAccess is what Configure and Restore do to linkerd-viz in namespace (and, with
// heartbeat, to the control plane's CronJob in linkerdNamespace), so that an install can
// check it before it writes anything.
func RequiredAccess(namespace, linkerdNamespace string, heartbeat bool) []kube.Access {
	a := []kube.Access{
		{Group: "", Resource: "namespaces", Verbs: []string{"get", "patch"}, Kind: "Namespaces", Why: "to annotate linkerd-viz's namespace with the external Prometheus"},
		{Group: "apps", Resource: "deployments", Namespace: namespace, Verbs: []string{"get", "patch", "delete"}, Kind: "Deployments", Why: "to point metrics-api at the new Prometheus and remove the bundled one"},
		{Group: "", Resource: "configmaps", Namespace: namespace, Verbs: []string{"get", "create", "update"}, Kind: "ConfigMaps", Why: "to keep a backup of the bundled Prometheus for 'viz restore'"},
	}
	if heartbeat {
		a = append(a, kube.Access{Group: "batch", Resource: "cronjobs", Namespace: linkerdNamespace, Verbs: []string{"get", "patch"}, Kind: "CronJobs", Why: "to point the heartbeat at the new Prometheus"})
	}
	return a
}
