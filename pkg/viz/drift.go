package viz

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Drift is a value meshmon set on a Helm-installed viz that a running object contradicts,
// as after someone ran `helm upgrade` again without meshmon's values.
type Drift struct {
	// Value is the value meshmon set, e.g. "prometheusUrl=http://…".
	Value string
	// Object is the object that disagrees, e.g. "Deployment linkerd-viz/metrics-api".
	Object string
	// Found is what the object has instead.
	Found string
	// Release and Revision name the release's newest revision; InRelease says whether its
	// values still hold meshmon's value.
	Release   string
	Revision  int
	InRelease bool
}

func (d Drift) String() string {
	where := fmt.Sprintf("revision %d of release %s no longer has it", d.Revision, d.Release)
	if d.InRelease {
		where = fmt.Sprintf("revision %d of release %s still has it", d.Revision, d.Release)
	}
	return fmt.Sprintf("%s (set by meshmon): %s %s; %s", d.Value, d.Object, d.Found, where)
}

// HelmDrift compares, for a Helm-installed viz meshmon configured, the values meshmon set
// (prometheusUrl, prometheus.enabled=false) with the objects that run: metrics-api's
// -prometheus-url and the bundled Prometheus Deployment. configured is false when meshmon
// has not configured viz through Helm in namespace.
func HelmDrift(ctx context.Context, c Clients, namespace string) (drifts []Drift, configured bool, err error) {
	ns, dep, err := readViz(ctx, c.Kube, namespace)
	if err != nil {
		return nil, false, err
	}
	rec, err := readRecord(ns)
	if err != nil || rec == nil || rec.Helm == nil {
		return nil, false, err
	}
	if c.Helm == nil {
		return nil, true, fmt.Errorf("meshmon configured linkerd-viz through Helm release %s/%s, but Helm releases cannot be read here", rec.Helm.Namespace, rec.Helm.Release)
	}
	rel, err := lastRelease(c, rec.Helm.Namespace, rec.Helm.Release)
	if err != nil {
		return nil, true, err
	}
	base := Drift{Release: rel.Namespace + "/" + rel.Name, Revision: rel.Version}
	if got := metricsAPIURL(dep); got != rec.URL {
		d := base
		d.Value = valuePrometheusURL + "=" + rec.URL
		d.Object = fmt.Sprintf("Deployment %s/%s", namespace, MetricsAPIName)
		d.Found = "runs -" + PrometheusURLFlag + "=" + got
		if got == "" {
			d.Found = "runs without -" + PrometheusURLFlag
		}
		d.InRelease = rel.Config[valuePrometheusURL] == rec.URL
		drifts = append(drifts, d)
	}
	bundled, err := c.Kube.AppsV1().Deployments(namespace).Get(ctx, BundledPrometheus, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, true, fmt.Errorf("reading Deployment %s/%s: %w", namespace, BundledPrometheus, err)
	default:
		d := base
		d.Value = valuePrometheus + "." + valueEnabled + "=false"
		d.Object = fmt.Sprintf("Deployment %s/%s", namespace, BundledPrometheus)
		d.Found = fmt.Sprintf("exists (%d replicas)", replicas(bundled))
		pm, _ := prometheusMap(rel.Config)
		d.InRelease = pm[valueEnabled] == false
		drifts = append(drifts, d)
	}
	return drifts, true, nil
}
