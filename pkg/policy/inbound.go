package policy

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshmon/meshmon/pkg/kube"
	"github.com/meshmon/meshmon/pkg/linkerd"
)

// Linkerd names this package reads.
const (
	DefaultInboundPolicyAnnotation = "config.linkerd.io/default-inbound-policy"
	meshedPodsPageSize             = 500
)

func validInboundPolicy(p string) bool {
	return slices.Contains([]string{
		"all-unauthenticated", "all-authenticated", "cluster-unauthenticated", "cluster-authenticated", "deny", "audit",
	}, p)
}

// NeedsScrapeAuthorization reports whether a meshed Prometheus needs explicit authorization to
// scrape proxies in ns. Prometheus is meshed, so it connects with mTLS from a cluster address:
// every allow policy, authenticated or not, and audit let it in; only deny blocks it. The
// namespace annotation overrides clusterDefault; an unrecognised value is ignored, as Linkerd's
// policy controller does. Pod-level annotations are not considered.
func NeedsScrapeAuthorization(ns *corev1.Namespace, clusterDefault string) bool {
	p, _ := EffectiveInboundPolicy(ns, clusterDefault)
	return p == "deny"
}

// EffectiveInboundPolicy is the default inbound policy of ns's proxies: the namespace annotation
// when it names a Linkerd policy (fromAnnotation), else clusterDefault.
func EffectiveInboundPolicy(ns *corev1.Namespace, clusterDefault string) (policy string, fromAnnotation bool) {
	if v, ok := ns.GetAnnotations()[DefaultInboundPolicyAnnotation]; ok && validInboundPolicy(v) {
		return v, true
	}
	return clusterDefault, false
}

// ClusterDefaultInboundPolicy is the cluster's default inbound policy from linkerd-config
// (proxy.defaultInboundPolicy); a value that is no Linkerd policy is an error.
func ClusterDefaultInboundPolicy(f linkerd.Facts) (string, error) {
	if !validInboundPolicy(f.InboundPolicy) {
		return "", fmt.Errorf("ConfigMap %s/%s: proxy.defaultInboundPolicy %q is not a Linkerd policy", f.LinkerdNamespace, linkerd.ConfigMapName, f.InboundPolicy)
	}
	return f.InboundPolicy, nil
}

// MeshedNamespaces returns, sorted, the namespaces with a live pod that runs a proxy container
// named proxyContainerName (a regular one or a native sidecar). It makes one paginated list of pods carrying
// Linkerd's control-plane label, whatever the number of pods or namespaces.
func MeshedNamespaces(ctx context.Context, kc kubernetes.Interface, proxyContainerName string) ([]string, error) {
	opts := metav1.ListOptions{LabelSelector: linkerd.ControlPlaneNamespaceLabel, Limit: meshedPodsPageSize}
	seen := map[string]bool{}
	for {
		pods, err := kc.CoreV1().Pods(metav1.NamespaceAll).List(ctx, opts)
		if err != nil {
			return nil, kube.ExplainAPIError("list", "pods", "", "", err)
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if !seen[p.Namespace] && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && hasProxy(p, proxyContainerName) {
				seen[p.Namespace] = true
			}
		}
		if opts.Continue = pods.Continue; opts.Continue == "" {
			break
		}
	}
	out := make([]string, 0, len(seen))
	for ns := range seen {
		out = append(out, ns)
	}
	slices.Sort(out)
	return out, nil
}

func hasProxy(p *corev1.Pod, proxyContainerName string) bool {
	isProxy := func(c corev1.Container) bool { return c.Name == proxyContainerName }
	return slices.ContainsFunc(p.Spec.Containers, isProxy) || slices.ContainsFunc(p.Spec.InitContainers, isProxy)
}
