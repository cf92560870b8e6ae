package linkerd

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshmon/meshmon/pkg/kube"
)

const installViz = "install it (linkerd viz install | kubectl apply -f -) or name its namespace with --viz-namespace"

// FindVizNamespace returns linkerd-viz's namespace: the one named, or else the one
// namespace labelled linkerd.io/extension=viz.
func FindVizNamespace(ctx context.Context, client kubernetes.Interface, name string) (*corev1.Namespace, error) {
	if name != "" {
		ns, err := client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return nil, fmt.Errorf("linkerd-viz is not installed: namespace %q does not exist; %s", name, installViz)
		case err != nil:
			return nil, kube.ExplainAPIError("get", "namespaces", "", name, err)
		}
		return ns, nil
	}
	list, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: VizExtensionSelector})
	if err != nil {
		return nil, kube.ExplainAPIError("list", "namespaces", "", "", err)
	}
	switch len(list.Items) {
	case 0:
		return nil, fmt.Errorf("linkerd-viz is not installed: no namespace has the label %s; %s", VizExtensionSelector, installViz)
	case 1:
		return &list.Items[0], nil
	}
	names := make([]string, 0, len(list.Items))
	for _, ns := range list.Items {
		names = append(names, ns.Name)
	}
	slices.Sort(names)
	return nil, fmt.Errorf("several namespaces carry the label %s (%s); name the one to use with --viz-namespace", VizExtensionSelector, strings.Join(names, ", "))
}

// Discover reads the facts of the install from the cluster: linkerd-config from linkerdNS
// ("" means defaults.LinkerdNamespace) and viz's namespace (vizNS, or the labelled one when
// it is ""). The result passes Validate.
func Discover(ctx context.Context, client kubernetes.Interface, linkerdNS, vizNS string) (Facts, error) {
	f, err := ReadConfig(ctx, client, linkerdNS)
	if err != nil {
		return Facts{}, err
	}
	viz, err := FindVizNamespace(ctx, client, vizNS)
	if err != nil {
		return Facts{}, err
	}
	f.VizNamespace = viz.Name
	if err := f.Validate(); err != nil {
		return Facts{}, err
	}
	return f, nil
}
