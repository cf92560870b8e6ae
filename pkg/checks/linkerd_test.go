package checks

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshmon/meshmon/pkg/healthcheck"
	"github.com/meshmon/meshmon/pkg/linkerd"
	"github.com/meshmon/meshmon/pkg/viz"
)

func TestLinkerd(t *testing.T) {
	t.Run("no control plane", func(t *testing.T) {
		f := newFixture(t)
		f.delete(corev1.SchemeGroupVersion.WithResource("configmaps"), "linkerd", linkerd.ConfigMapName)
		res := f.run(Options{})
		expect(t, res, "Linkerd control plane is installed", healthcheck.StatusError, `Linkerd is not installed in namespace "linkerd" (it has no ConfigMap linkerd-config)`, "-L/--linkerd-namespace")
		expect(t, res, "Prometheus server Service and workload exist", healthcheck.StatusSkipped)
	})
	t.Run("other control plane namespace", func(t *testing.T) {
		f := newFixture(t)
		expect(t, f.run(Options{LinkerdNamespace: "l5d"}), "Linkerd control plane is installed", healthcheck.StatusError, `namespace "l5d"`)
	})
	t.Run("viz missing", func(t *testing.T) {
		f := newFixture(t)
		f.delete(corev1.SchemeGroupVersion.WithResource("namespaces"), "", vizNS)
		res := f.run(Options{})
		expect(t, res, "linkerd-viz is installed", healthcheck.StatusError, "no namespace has the label linkerd.io/extension=viz")
		res = f.run(Options{VizNamespace: "viz"})
		expect(t, res, "linkerd-viz is installed", healthcheck.StatusError, `namespace "viz" does not exist`)
	})
	t.Run("install method", func(t *testing.T) {
		f := newFixture(t)
		d := f.deployment(vizNS, viz.MetricsAPIName)
		d.Annotations[viz.AnnotationCreatedBy] = "linkerd/helm edge-26.8.3"
		f.update(d)
		// Helm's annotation with no release behind it: helm template or GitOps,
		// which a rewiring by patch would be reverted by.
		expect(t, f.run(Options{}), "linkerd-viz install method is known", healthcheck.StatusWarning, "no Helm release owns it")
		delete(d.Annotations, viz.AnnotationCreatedBy)
		d.Spec.Template.Annotations = map[string]string{viz.AnnotationCreatedBy: "linkerd/cli edge-26.8.3"}
		f.update(d)
		expect(t, f.run(Options{}), "linkerd-viz install method is known", healthcheck.StatusSuccess, "installed with the linkerd CLI (edge-26.8.3)")
		d.Spec.Template.Annotations = nil
		f.update(d)
		expect(t, f.run(Options{}), "linkerd-viz install method is known", healthcheck.StatusWarning, "no linkerd.io/created-by annotation")
	})
}
