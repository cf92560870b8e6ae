package viz

import "github.com/meshmon/meshmon/pkg/kube"

// RequiredAccess is what Configure does to linkerd-viz in namespace (and, with heartbeat,
// to the control plane's CronJob in linkerdNamespace), so that an install can check it
// before it writes anything.
func RequiredAccess(namespace, linkerdNamespace string, heartbeat bool) []kube.Access {
	a := []kube.Access{
		{Group: "", Resource: "namespaces", Verbs: []string{"get", "patch"}, Kind: "Namespaces", Why: "to annotate linkerd-viz's namespace with the external Prometheus"},
		{Group: "apps", Resource: "deployments", Namespace: namespace, Verbs: []string{"get", "patch", "delete"}, Kind: "Deployments", Why: "to point metrics-api at the new Prometheus and remove the bundled one"},
		{Group: "", Resource: "configmaps", Namespace: namespace, Verbs: []string{"get", "create", "update"}, Kind: "ConfigMaps", Why: "to keep a backup of the bundled Prometheus for 'viz restore'"},
	}
	if heartbeat {
		a = append(a, heartbeatAccess(linkerdNamespace))
	}
	return a
}

// RestoreAccess is what Restore does to a CLI-installed linkerd-viz in namespace (and,
// with heartbeat, to the CronJob in linkerdNamespace): the namespace's record and
// annotation back, metrics-api's flag back, the bundled Prometheus recreated from its
// backup (or scaled back), and the backup deleted. A Helm-installed viz is restored by
// an upgrade of its release instead, which needs that release's rights.
func RestoreAccess(namespace, linkerdNamespace string, heartbeat bool) []kube.Access {
	a := []kube.Access{
		{Group: "", Resource: "namespaces", Verbs: []string{"get", "patch"}, Kind: "Namespaces", Why: "to take meshmon's record and annotation off linkerd-viz's namespace"},
		{Group: "apps", Resource: "deployments", Namespace: namespace, Verbs: []string{"get", "patch", "create"}, Kind: "Deployments", Why: "to point metrics-api back and recreate (or scale back) the bundled Prometheus"},
		{Group: "", Resource: "configmaps", Namespace: namespace, Verbs: []string{"get", "delete"}, Kind: "ConfigMaps", Why: "to read the bundled Prometheus' backup and delete it once restored"},
	}
	if heartbeat {
		a = append(a, heartbeatAccess(linkerdNamespace))
	}
	return a
}

func heartbeatAccess(linkerdNamespace string) kube.Access {
	return kube.Access{Group: "batch", Resource: "cronjobs", Namespace: linkerdNamespace, Verbs: []string{"get", "patch"}, Kind: "CronJobs", Why: "to point the heartbeat at the new Prometheus (and back)"}
}
