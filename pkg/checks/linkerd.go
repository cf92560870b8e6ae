package checks

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshmon/meshmon/pkg/check"
)

// How linkerd-viz can have been installed.
const (
	VizInstalledWithHelm = "helm"
	VizInstalledWithCLI  = "cli"
)

// VizDetector tells how linkerd-viz was installed in namespace: method is
// VizInstalledWithHelm, VizInstalledWithCLI, or "" when it cannot tell;
// version is viz's version when known.
type VizDetector func(ctx context.Context, kube kubernetes.Interface, namespace string) (method, version string, err error)

// createdByAnnotation is what Linkerd's templates stamp on every object:
// "linkerd/cli <version>" or "linkerd/helm <version>".
const createdByAnnotation = "linkerd.io/created-by"

// metricsAPIName is viz's metrics-api Deployment (and ServiceAccount).
const metricsAPIName = "metrics-api"

// DetectVizByAnnotation reads the linkerd.io/created-by annotation of viz's
// metrics-api Deployment, or of its pod template: `linkerd inject` drops it
// from the Deployment itself.
func DetectVizByAnnotation(ctx context.Context, kc kubernetes.Interface, namespace string) (string, string, error) {
	d, err := kc.AppsV1().Deployments(namespace).Get(ctx, metricsAPIName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return "", "", fmt.Errorf("linkerd-viz has no %s Deployment in namespace %s; reinstall linkerd-viz", metricsAPIName, namespace)
	case err != nil:
		return "", "", apiErr("get", "deployments", namespace, metricsAPIName, err)
	}
	v, ok := d.Annotations[createdByAnnotation]
	if !ok {
		v = d.Spec.Template.Annotations[createdByAnnotation]
	}
	return parseCreatedBy(v)
}

func parseCreatedBy(v string) (string, string, error) {
	tool, ver, _ := strings.Cut(strings.TrimSpace(v), " ")
	switch tool {
	case "linkerd/cli":
		return VizInstalledWithCLI, ver, nil
	case "linkerd/helm":
		return VizInstalledWithHelm, ver, nil
	}
	return "", ver, nil
}

// Linkerd checks that the control plane and linkerd-viz are there, and
// reads the facts the other categories depend on.
func Linkerd(e *Env) check.Category {
	return check.Category{
		Name: CategoryLinkerd,
		Checks: []check.Check{
			{
				ID:          idLinkerdConfig,
				Description: "Linkerd control plane is installed",
				HintAnchor:  "mm-linkerd-config",
				Fatal:       true,
				Needs:       []string{idAPI},
				Run: func(ctx context.Context) error {
					p, err := e.linkerdParams(ctx)
					if err != nil {
						return err
					}
					return check.Detail(fmt.Sprintf("\t* namespace %s, trust domain %s, cluster domain %s", p.LinkerdNamespace, p.TrustDomain, p.ClusterDomain))
				},
			},
			{
				ID:          idViz,
				Description: "linkerd-viz is installed",
				HintAnchor:  "mm-viz-installed",
				Fatal:       true,
				Needs:       []string{idAPI},
				Run: func(ctx context.Context) error {
					ns, err := e.vizNamespace(ctx)
					if err != nil {
						return err
					}
					return check.Detail("\t* namespace " + ns)
				},
			},
			{
				Description: "linkerd-viz install method is known",
				HintAnchor:  "mm-viz-method",
				Warning:     true,
				Needs:       []string{idViz},
				Run:         e.checkVizMethod,
			},
		},
	}
}

func (e *Env) checkVizMethod(ctx context.Context) error {
	kc, err := e.kube(ctx)
	if err != nil {
		return err
	}
	ns, err := e.vizNamespace(ctx)
	if err != nil {
		return err
	}
	method, ver, err := e.deps.VizDetector(ctx, kc, ns)
	if err != nil {
		return err
	}
	suffix := ""
	if ver != "" {
		suffix = " (" + ver + ")"
	}
	switch method {
	case VizInstalledWithCLI:
		return check.Detail("\t* installed with the linkerd CLI" + suffix)
	case VizInstalledWithHelm:
		return check.Detail("\t* installed with Helm" + suffix)
	}
	return fmt.Errorf("cannot tell whether linkerd-viz in %s was installed with Helm or the linkerd CLI (no %s annotation saying linkerd/helm or linkerd/cli); meshmon rewires it the CLI way, which a later `helm upgrade` of viz would undo", ns, createdByAnnotation)
}
