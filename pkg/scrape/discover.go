package scrape

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshmon/meshmon/pkg/defaults"
)

// VizExtensionSelector selects the namespace linkerd-viz installs itself into.
const VizExtensionSelector = "linkerd.io/extension=viz"

// Discover reads the scrape parameters from the cluster. An empty linkerdNS means
// defaults.LinkerdNamespace (as in Linkerd's CLI); an empty vizNS means the one namespace
// labelled linkerd.io/extension=viz.
func Discover(ctx context.Context, client kubernetes.Interface, linkerdNS, vizNS string) (Params, error) {
	if linkerdNS == "" {
		linkerdNS = defaults.LinkerdNamespace
	}
	cm, err := client.CoreV1().ConfigMaps(linkerdNS).Get(ctx, LinkerdConfigName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return Params{}, fmt.Errorf("no ConfigMap %s in namespace %q: Linkerd is not installed there; if the control plane lives in another namespace, point meshmon at it with -L/--linkerd-namespace", LinkerdConfigName, linkerdNS)
	case apierrors.IsForbidden(err):
		return Params{}, fmt.Errorf("reading ConfigMap %s/%s: %w; meshmon needs get on configmaps in the Linkerd namespace", linkerdNS, LinkerdConfigName, err)
	case err != nil:
		return Params{}, fmt.Errorf("reading ConfigMap %s/%s: %w", linkerdNS, LinkerdConfigName, err)
	}
	if cm.Namespace == "" {
		// Some clients leave the namespace out of returned objects; the request says it.
		cm = cm.DeepCopy()
		cm.Namespace = linkerdNS
	}
	p, err := FromLinkerdConfig(cm)
	if err != nil {
		return Params{}, err
	}
	p.VizNamespace, err = findVizNamespace(ctx, client, vizNS)
	if err != nil {
		return Params{}, err
	}
	if err := p.Validate(); err != nil {
		return Params{}, err
	}
	return p, nil
}

func findVizNamespace(ctx context.Context, client kubernetes.Interface, vizNS string) (string, error) {
	if vizNS != "" {
		_, err := client.CoreV1().Namespaces().Get(ctx, vizNS, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return "", fmt.Errorf("linkerd-viz namespace %q does not exist; install linkerd-viz (linkerd viz install) or name the namespace it runs in", vizNS)
		case err != nil:
			return "", fmt.Errorf("reading namespace %s: %w", vizNS, err)
		}
		return vizNS, nil
	}
	list, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: VizExtensionSelector})
	if err != nil {
		return "", fmt.Errorf("looking for the linkerd-viz namespace (label %s): %w", VizExtensionSelector, err)
	}
	switch len(list.Items) {
	case 0:
		return "", fmt.Errorf("linkerd-viz is not installed: no namespace has the label %s; install it (linkerd viz install) or name the namespace it runs in", VizExtensionSelector)
	case 1:
		return list.Items[0].Name, nil
	}
	names := make([]string, 0, len(list.Items))
	for _, ns := range list.Items {
		names = append(names, ns.Name)
	}
	return "", fmt.Errorf("several namespaces carry the label %s (%s); name the one meshmon should use", VizExtensionSelector, strings.Join(names, ", "))
}
