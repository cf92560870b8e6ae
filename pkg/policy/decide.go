package policy

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"

	"github.com/meshmon/meshmon/pkg/linkerd"
)

// ScrapeDecision says why a namespace is, or is not, given scrape authorization.
type ScrapeDecision struct {
	Namespace string `json:"namespace"`
	Policy    string `json:"defaultInboundPolicy"`
	From      string `json:"from"`
	Allowed   bool   `json:"allowed"`
	Reason    string `json:"reason"`
}

// DecideScrapes applies Linkerd's rule to namespaces (every meshed namespace when all is
// set): a meshed Prometheus is let in by every default inbound policy but deny. The
// cluster default comes from linkerd-config in linkerdNamespace.
func DecideScrapes(ctx context.Context, kc kubernetes.Interface, linkerdNamespace string, namespaces []string, all bool) ([]ScrapeDecision, error) {
	facts, err := linkerd.ReadConfig(ctx, kc, linkerdNamespace)
	if err != nil {
		return nil, err
	}
	clusterDefault, err := ClusterDefaultInboundPolicy(facts)
	if err != nil {
		return nil, err
	}
	names := namespaces
	if all {
		if names, err = MeshedNamespaces(ctx, kc, facts.ProxyContainerName); err != nil {
			return nil, err
		}
	}
	out := make([]ScrapeDecision, 0, len(names))
	for _, name := range names {
		ns, err := kc.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("namespace %q does not exist; check -n", name)
		}
		if err != nil {
			return nil, fmt.Errorf("reading namespace %s: %w", name, err)
		}
		out = append(out, scrapeDecisionFor(ns, clusterDefault))
	}
	return out, nil
}

func scrapeDecisionFor(ns *corev1.Namespace, clusterDefault string) ScrapeDecision {
	d := ScrapeDecision{Namespace: ns.Name, From: "the cluster default in linkerd-config"}
	var fromAnnotation bool
	d.Policy, fromAnnotation = EffectiveInboundPolicy(ns, clusterDefault)
	if fromAnnotation {
		d.From = "namespace annotation " + DefaultInboundPolicyAnnotation
	}
	d.Allowed = NeedsScrapeAuthorization(ns, clusterDefault)
	if d.Allowed {
		d.Reason = "proxies deny unauthorized traffic, so Prometheus needs a policy to scrape them"
	} else {
		d.Reason = "a meshed Prometheus is already let in; nothing to do"
	}
	if v, ok := ns.Annotations[DefaultInboundPolicyAnnotation]; ok && !fromAnnotation {
		d.Reason += fmt.Sprintf(" (the namespace annotation %q is not a Linkerd policy; Linkerd ignores it)", v)
	}
	return d
}

// ScrapeObjects are the objects of objs that authorizing scrapes in namespaces needs: the
// per-namespace objects and the authentications they name.
func ScrapeObjects(objs []*unstructured.Unstructured, namespaces []string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, obj := range objs {
		role := obj.GetLabels()[LabelRole]
		if slices.Contains(namespaces, obj.GetNamespace()) || role == "scrapers" || role == "kubelet" {
			out = append(out, obj)
		}
	}
	return out
}
