package install

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshmon/meshmon/pkg/release"
	"github.com/meshmon/meshmon/pkg/scrape"
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
		warning = fmt.Sprintf("the URL is left out: reading the cluster domain from %s/%s: %v", e.LinkerdNamespace, scrape.LinkerdConfigName, err)
	}
	s, err := release.GetStatus(ctx, t, domain)
	return s, warning, err
}

func (e *Env) clusterDomain(ctx context.Context, t *release.Target) (string, error) {
	cm, err := t.Kube.CoreV1().ConfigMaps(e.LinkerdNamespace).Get(ctx, scrape.LinkerdConfigName, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if cm.Namespace == "" {
		cm.Namespace = e.LinkerdNamespace
	}
	params, err := scrape.FromLinkerdConfig(cm)
	if err != nil {
		return "", err
	}
	return params.ClusterDomain, nil
}
