// Package viz rewires linkerd-viz to an external Prometheus, reversibly.
package viz

import (
	"context"
	"errors"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"helm.sh/helm/v4/pkg/action"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
)

// Method is how linkerd-viz was installed.
type Method string

// The install methods meshmon can rewire.
const (
	// MethodHelm: a Helm release of the linkerd-viz chart owns the objects.
	MethodHelm Method = "helm"
	// MethodCLI: `linkerd viz install | kubectl apply`; no release, meshmon patches the objects.
	MethodCLI Method = "cli"
)

// Names fixed by linkerd-viz.
const (
	MetricsAPIName       = "metrics-api"
	BundledPrometheus    = "prometheus"
	ChartName            = "linkerd-viz"
	DefaultHeartbeatName = "linkerd-heartbeat"

	// AnnotationExternalPrometheus is what `linkerd viz check` compares with metrics-api's flag.
	AnnotationExternalPrometheus = "viz.linkerd.io/external-prometheus"
	// AnnotationCreatedBy is set by both the CLI ("linkerd/cli <version>") and the chart
	// ("linkerd/helm <version>").
	AnnotationCreatedBy = "linkerd.io/created-by"
	// PrometheusURLFlag is the metrics-api and heartbeat flag naming the Prometheus to query.
	PrometheusURLFlag = "prometheus-url"

	helmReleaseNameAnnotation      = "meta.helm.sh/release-name"
	helmReleaseNamespaceAnnotation = "meta.helm.sh/release-namespace"
	createdByCLI                   = "linkerd/cli"
	createdByHelm                  = "linkerd/helm"
)

// Errors Detect wraps; the message around them says what was found.
var (
	// ErrNotInstalled: no linkerd-viz in the namespace.
	ErrNotInstalled = errors.New("linkerd-viz is not installed")
	// ErrAmbiguous: viz is there, but how it was installed cannot be told safely.
	ErrAmbiguous = errors.New("cannot tell how linkerd-viz was installed")
)

// HelmRelease is the release that owns a Helm-installed viz.
type HelmRelease struct {
	Name         string `json:"name"`
	Namespace    string `json:"namespace"`
	Revision     int    `json:"revision"`
	Status       string `json:"status"`
	ChartVersion string `json:"chartVersion"`
}

// Bundled describes linkerd-viz's own Prometheus Deployment.
type Bundled struct {
	Present  bool  `json:"present"`
	Replicas int32 `json:"replicas"`
}

// Install is what Detect found.
type Install struct {
	Namespace string `json:"namespace"`
	Method    Method `json:"method"`
	// Version is the Linkerd version that rendered viz, e.g. edge-26.8.3.
	Version   string       `json:"version,omitempty"`
	CreatedBy string       `json:"createdBy,omitempty"`
	Release   *HelmRelease `json:"release,omitempty"`
	// PrometheusURL is the -prometheus-url metrics-api runs with ("" when the flag is absent).
	PrometheusURL     string  `json:"prometheusURL"`
	BundledPrometheus Bundled `json:"bundledPrometheus"`
	// ExternalPrometheus is the namespace annotation AnnotationExternalPrometheus ("" when unset).
	ExternalPrometheus string `json:"externalPrometheus,omitempty"`
	// ConfiguredByMeshmon: meshmon's record of the previous state is on the namespace.
	ConfiguredByMeshmon bool `json:"configuredByMeshmon"`
}

// Clients are the API clients this package needs.
type Clients struct {
	Kube kubernetes.Interface
	// Helm returns a Helm configuration for releases stored in namespace; it is called only
	// when a Helm release may own viz.
	Helm func(namespace string) (*action.Configuration, error)
}

// Detect finds out how linkerd-viz was installed in namespace. A Helm release is recognised by
// the ownership annotations Helm puts on metrics-api, or by the release Secrets of a release
// named linkerd-viz; without either, the created-by annotation must say the CLI did it.
// Everything else is ErrAmbiguous: rewiring the wrong way would be undone by the real owner.
func Detect(ctx context.Context, c Clients, namespace string) (Install, error) {
	st, err := detect(ctx, c, namespace)
	if err != nil {
		return Install{}, err
	}
	return st.install, nil
}

// state is what detect read, for the planners.
type state struct {
	install    Install
	ns         *corev1.Namespace
	metricsAPI *appsv1.Deployment
	bundled    *appsv1.Deployment // nil: absent
	release    *releasev1.Release // nil: not Helm-installed
}

func detect(ctx context.Context, c Clients, namespace string) (*state, error) {
	ns, dep, err := readViz(ctx, c.Kube, namespace)
	if err != nil {
		return nil, err
	}
	st := &state{ns: ns, metricsAPI: dep}
	in := Install{
		Namespace:          namespace,
		CreatedBy:          createdBy(dep),
		PrometheusURL:      metricsAPIURL(dep),
		ExternalPrometheus: ns.Annotations[AnnotationExternalPrometheus],
	}
	_, in.ConfiguredByMeshmon = ns.Annotations[AnnotationRecord]
	in.Version = versionOf(in.CreatedBy, dep)
	bundled, err := c.Kube.AppsV1().Deployments(namespace).Get(ctx, BundledPrometheus, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, fmt.Errorf("reading Deployment %s/%s: %w", namespace, BundledPrometheus, err)
	default:
		st.bundled = bundled
		in.BundledPrometheus = Bundled{Present: true, Replicas: replicas(bundled)}
	}

	rel, err := findRelease(ctx, c, namespace, dep)
	if err != nil {
		return nil, err
	}
	kind, _, _ := strings.Cut(in.CreatedBy, " ")
	switch {
	case rel != nil && kind == createdByCLI:
		return nil, fmt.Errorf("%w in namespace %q: Helm release %s/%s (chart %s) exists, but metrics-api says %q; "+
			"someone applied `linkerd viz install` output over a Helm install. Reinstall viz one way (helm upgrade, or helm uninstall then linkerd viz install) and retry",
			ErrAmbiguous, namespace, rel.Namespace, rel.Name, ChartName, in.CreatedBy)
	case rel != nil:
		st.release = rel
		in.Method = MethodHelm
		in.Release = &HelmRelease{
			Name: rel.Name, Namespace: rel.Namespace, Revision: rel.Version,
			Status: statusOf(rel), ChartVersion: rel.Chart.Metadata.Version,
		}
		if in.Version == "" {
			in.Version = rel.Chart.Metadata.AppVersion
		}
	case kind == createdByCLI:
		in.Method = MethodCLI
	case kind == createdByHelm:
		return nil, fmt.Errorf("%w in namespace %q: metrics-api was rendered by the Helm chart (%q) but no Helm release owns it "+
			"(rendered with `helm template`, or by a GitOps tool). Patching it would be reverted on the next sync: set prometheusUrl=<url> and "+
			"prometheus.enabled=false in the values you deploy viz with",
			ErrAmbiguous, namespace, in.CreatedBy)
	default:
		return nil, fmt.Errorf("%w in namespace %q: metrics-api has no %s annotation naming linkerd/cli or linkerd/helm, and no Helm release owns it; "+
			"reinstall viz with `linkerd viz install` or its Helm chart", ErrAmbiguous, namespace, AnnotationCreatedBy)
	}
	st.install = in
	return st, nil
}

func statusOf(rel *releasev1.Release) string {
	if rel.Info == nil {
		return string(rcommon.StatusUnknown)
	}
	return rel.Info.Status.String()
}

func readViz(ctx context.Context, kc kubernetes.Interface, namespace string) (*corev1.Namespace, *appsv1.Deployment, error) {
	ns, err := kc.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil, fmt.Errorf("%w: namespace %q does not exist; install linkerd-viz (linkerd viz install), or name the namespace it runs in with --viz-namespace", ErrNotInstalled, namespace)
	case err != nil:
		return nil, nil, fmt.Errorf("reading namespace %s: %w", namespace, err)
	}
	dep, err := kc.AppsV1().Deployments(namespace).Get(ctx, MetricsAPIName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil, fmt.Errorf("%w in namespace %q: it has no %s Deployment; install linkerd-viz there, or name the namespace it runs in with --viz-namespace", ErrNotInstalled, namespace, MetricsAPIName)
	case err != nil:
		return nil, nil, fmt.Errorf("reading Deployment %s/%s: %w", namespace, MetricsAPIName, err)
	}
	return ns, dep, nil
}

// createdBy reads the annotation from the Deployment, else from its pod template:
// `linkerd inject` rewrites the Deployment's annotations but keeps the template's.
func createdBy(dep *appsv1.Deployment) string {
	if v := dep.Annotations[AnnotationCreatedBy]; v != "" {
		return v
	}
	return dep.Spec.Template.Annotations[AnnotationCreatedBy]
}

func versionOf(createdBy string, dep *appsv1.Deployment) string {
	if f := strings.Fields(createdBy); len(f) == 2 {
		return f[1]
	}
	return dep.Labels["app.kubernetes.io/version"]
}

func metricsAPIURL(dep *appsv1.Deployment) string {
	for _, c := range dep.Spec.Template.Spec.Containers {
		if c.Name == MetricsAPIName {
			if f := findFlag(c.Args, PrometheusURLFlag); f.found {
				return f.value
			}
		}
	}
	return ""
}

func replicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// findRelease returns the Helm release of the linkerd-viz chart owning dep, or nil.
func findRelease(ctx context.Context, c Clients, namespace string, dep *appsv1.Deployment) (*releasev1.Release, error) {
	name, relNS := dep.Annotations[helmReleaseNameAnnotation], dep.Annotations[helmReleaseNamespaceAnnotation]
	owned := name != ""
	if !owned {
		// Releases made before Helm annotated its objects: look for the conventional name.
		name, relNS = ChartName, namespace
		sel := labels.Set{"owner": "helm", "name": name}.String()
		secrets, err := c.Kube.CoreV1().Secrets(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel, Limit: 1})
		if err != nil {
			return nil, fmt.Errorf("looking for Helm release %s in namespace %s (Secrets labelled %s): %w", name, namespace, sel, err)
		}
		if len(secrets.Items) == 0 {
			return nil, nil
		}
	}
	if relNS == "" {
		relNS = namespace
	}
	if c.Helm == nil {
		return nil, fmt.Errorf("linkerd-viz in %q belongs to Helm release %s/%s, but no Helm configuration was given", namespace, relNS, name)
	}
	rel, err := lastRelease(c, relNS, name)
	switch {
	case errors.Is(err, driver.ErrReleaseNotFound) && owned:
		return nil, fmt.Errorf("%w in namespace %q: metrics-api is annotated as part of Helm release %s/%s, which does not exist (uninstalled with its objects kept?); "+
			"reinstall viz with Helm or with `linkerd viz install`", ErrAmbiguous, namespace, relNS, name)
	case errors.Is(err, driver.ErrReleaseNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	}
	if rel.Info != nil && rel.Info.Status == rcommon.StatusUninstalled {
		if !owned {
			return nil, nil
		}
		return nil, fmt.Errorf("%w in namespace %q: metrics-api is annotated as part of Helm release %s/%s, which was uninstalled (its history kept); "+
			"reinstall viz with Helm or with `linkerd viz install`", ErrAmbiguous, namespace, relNS, name)
	}
	if rel.Chart == nil || rel.Chart.Metadata == nil || rel.Chart.Metadata.Name != ChartName {
		if !owned {
			return nil, nil
		}
		return nil, fmt.Errorf("%w in namespace %q: metrics-api belongs to Helm release %s/%s, which is not of the %s chart", ErrAmbiguous, namespace, relNS, name, ChartName)
	}
	return rel, nil
}

// lastRelease reads the newest revision of a release.
func lastRelease(c Clients, namespace, name string) (*releasev1.Release, error) {
	cfg, err := c.Helm(namespace)
	if err != nil {
		return nil, err
	}
	r, err := cfg.Releases.Last(name)
	if err != nil {
		return nil, fmt.Errorf("reading Helm release %s/%s: %w", namespace, name, err)
	}
	rel, ok := r.(*releasev1.Release)
	if !ok {
		return nil, fmt.Errorf("reading Helm release %s/%s: unsupported release type %T", namespace, name, r)
	}
	return rel, nil
}
