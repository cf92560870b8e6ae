package install

import (
	"context"
	"fmt"

	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/linkerd"
	"github.com/meshmon/meshmon/pkg/release"
)

// Status reads release name at a glance. Its URL needs Linkerd's cluster domain and
// everything else does not: when linkerd-config cannot be read the URL is left out and
// the status comes with a warning saying why.
func (e *Env) Status(ctx context.Context, name string) (*release.Status, string, error) {
	t, err := e.Target(name)
	if err != nil {
		return nil, "", err
	}
	warning := ""
	domain, err := e.clusterDomain(ctx, t)
	if err != nil {
		warning = fmt.Sprintf("the URL is left out: reading the cluster domain from %s: %v", linkerd.ConfigMapName, err)
	}
	s, err := release.GetStatus(ctx, t, domain)
	if err != nil {
		return s, warning, err
	}
	if c, cerr := e.Clients(); cerr == nil && c.Config != nil {
		s.ReadPrometheus(ctx, c.Config, t.Kube, domain)
	}
	return s, warning, nil
}

func (e *Env) clusterDomain(ctx context.Context, t *release.Target) (string, error) {
	facts, err := linkerd.ReadConfig(ctx, t.Kube, e.LinkerdNamespace)
	if err != nil {
		return "", err
	}
	return facts.ClusterDomain, nil
}

// StatusAccess is what Status reads for a release in namespace with Linkerd in
// linkerdNS: Helm's release records, the server's Service, workload and volumes, the
// cluster domain, and a port-forward to Prometheus for its own figures. The published
// status role (docs/rbac/status.yaml) is generated from it.
func StatusAccess(namespace, linkerdNS string) []kube.Access {
	return []kube.Access{
		{Resource: "secrets", Namespace: namespace, Verbs: []string{"list"}, Kind: "Secrets", Why: "read the Helm release"},
		{Resource: "configmaps", Namespace: linkerdNS, Verbs: []string{"get"}, Kind: "ConfigMaps", Why: "read the cluster domain from linkerd-config"},
		{Resource: "persistentvolumeclaims", Namespace: namespace, Verbs: []string{"list"}, Kind: "PersistentVolumeClaims", Why: "show the data volume"},
		{Resource: "persistentvolumes", Verbs: []string{"get"}, Kind: "PersistentVolumes", Why: "show the volume's reclaim policy (left out when refused)"},
		{Resource: "services", Namespace: namespace, Verbs: []string{"list"}, Kind: "Services", Why: "find the Prometheus Service and its URL"},
		{Group: "apps", Resource: "deployments", Namespace: namespace, Verbs: []string{"get", "list"}, Kind: "Deployments", Why: "find the Prometheus server and its ready replicas"},
		{Group: "apps", Resource: "statefulsets", Namespace: namespace, Verbs: []string{"get", "list"}, Kind: "StatefulSets", Why: "find a StatefulSet Prometheus server and its ready replicas"},
		{Resource: "pods", Namespace: namespace, Verbs: []string{"list"}, Kind: "Pods", Why: "pick the Prometheus pod to reach"},
		{Resource: "pods", Subresource: "portforward", Namespace: namespace, Verbs: []string{"create"}, Kind: "pods/portforward", Why: "read ingestion, series and disk use from Prometheus"},
	}
}
