package policy

import (
	"context"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshmon/meshmon/pkg/kube"
)

// AllowedScrapeNamespaces returns, sorted, the namespaces where the installation spec describes
// has authorized scrapes (its Server ProxyAdminServerName is there), so that settings built
// later keep them instead of reporting them stale.
func AllowedScrapeNamespaces(ctx context.Context, c Clients, spec Spec) ([]string, error) {
	gvrs, err := c.resolve(ctx, []string{KindServer})
	if err != nil {
		return nil, err
	}
	gvr := gvrs[KindServer]
	sel := labels.Set{LabelManagedBy: managerName, LabelInstance: spec.Instance(), LabelRole: "scrape"}.String()
	opts := metav1.ListOptions{LabelSelector: sel, Limit: 500}
	var out []string
	for {
		l, err := c.Dynamic.Resource(gvr).List(ctx, opts)
		if err != nil {
			return nil, kube.ExplainAPIError("list", kube.ResourceName(gvr), "", "", err)
		}
		for _, item := range l.Items {
			if item.GetName() == ProxyAdminServerName && !slices.Contains(out, item.GetNamespace()) {
				out = append(out, item.GetNamespace())
			}
		}
		if opts.Continue = l.GetContinue(); opts.Continue == "" {
			break
		}
	}
	slices.Sort(out)
	return out, nil
}
