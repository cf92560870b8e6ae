package viz

import (
	"context"
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
)

// cliViz is the CLI-installed viz of the fixture viz.yaml.
func cliViz(t *testing.T) []runtime.Object {
	return fixtureObjects(t, "viz.yaml")
}

// helmShaped turns the fixture viz into what the chart renders in namespace ns: created by
// linkerd/helm and annotated by Helm as part of release linkerd-viz.
func helmShaped(t *testing.T, ns string, ownership bool) []runtime.Object {
	t.Helper()
	var out []runtime.Object
	for _, o := range cliViz(t) {
		o = o.DeepCopyObject()
		m := o.(metav1.Object)
		if m.GetName() == "linkerd-viz" {
			m.SetName(ns)
		}
		if m.GetNamespace() == "linkerd-viz" {
			m.SetNamespace(ns)
		}
		ann := m.GetAnnotations()
		if _, ok := ann[AnnotationCreatedBy]; ok {
			ann[AnnotationCreatedBy] = "linkerd/helm edge-26.8.3"
		}
		if d, ok := o.(*appsv1.Deployment); ok {
			d.Spec.Template.Annotations[AnnotationCreatedBy] = "linkerd/helm edge-26.8.3"
			if ownership {
				ann[helmReleaseNameAnnotation] = "linkerd-viz"
				ann[helmReleaseNamespaceAnnotation] = ns
			}
		}
		m.SetAnnotations(ann)
		out = append(out, o)
	}
	return out
}

func metricsAPI(objs []runtime.Object) *appsv1.Deployment {
	for _, o := range objs {
		if d, ok := o.(*appsv1.Deployment); ok && d.Name == MetricsAPIName {
			return d
		}
	}
	return nil
}

func TestDetectCLIFixture(t *testing.T) {
	kc := kubefake.NewClientset(cliViz(t)...)
	in, err := Detect(context.Background(), Clients{Kube: kc}, "linkerd-viz")
	if err != nil {
		t.Fatal(err)
	}
	if in.Method != MethodCLI || in.Version != "edge-26.8.3" || in.CreatedBy != "linkerd/cli edge-26.8.3" || in.Release != nil {
		t.Errorf("Detect = method %q version %q createdBy %q release %v; want cli, edge-26.8.3, linkerd/cli edge-26.8.3, no release",
			in.Method, in.Version, in.CreatedBy, in.Release)
	}
	if in.PrometheusURL != "http://prometheus.linkerd-viz.svc.cluster.local:9090" {
		t.Errorf("PrometheusURL = %q, want the bundled one from the fixture", in.PrometheusURL)
	}
	if !in.BundledPrometheus.Present || in.BundledPrometheus.Replicas != 1 {
		t.Errorf("BundledPrometheus = %+v, want present with 1 replica", in.BundledPrometheus)
	}
	if in.ExternalPrometheus != "" || in.ConfiguredByMeshmon {
		t.Errorf("a fresh install has external %q configured %v; want neither", in.ExternalPrometheus, in.ConfiguredByMeshmon)
	}
}

// `linkerd inject` output (viz-injected.yaml) drops created-by from the Deployment but keeps it
// on the pod template.
func TestDetectInjectedFixtureReadsThePodTemplate(t *testing.T) {
	objs := cliViz(t)
	d := metricsAPI(objs)
	delete(d.Annotations, AnnotationCreatedBy)
	in, err := Detect(context.Background(), Clients{Kube: kubefake.NewClientset(objs...)}, "linkerd-viz")
	if err != nil {
		t.Fatal(err)
	}
	if in.Method != MethodCLI || in.CreatedBy != "linkerd/cli edge-26.8.3" {
		t.Errorf("Detect = %q from %q, want cli from the pod template", in.Method, in.CreatedBy)
	}
}

func TestDetectHelmRelease(t *testing.T) {
	for _, ownership := range []bool{true, false} {
		name := map[bool]string{true: "by Helm's ownership annotations", false: "by the release Secrets' name"}[ownership]
		t.Run(name, func(t *testing.T) {
			cfg := memoryHelm(t)
			installVizChart(t, cfg, "viz-helm", map[string]any{"installNamespace": false})
			kc := kubefake.NewClientset(helmShaped(t, "viz-helm", ownership)...)
			if !ownership {
				// What Helm's Secret driver leaves in the namespace.
				_, err := kc.CoreV1().Secrets("viz-helm").Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
					Name: "sh.helm.release.v1.linkerd-viz.v1", Namespace: "viz-helm",
					Labels: map[string]string{"owner": "helm", "name": "linkerd-viz", "version": "1", "status": "deployed"},
				}}, metav1.CreateOptions{})
				if err != nil {
					t.Fatal(err)
				}
			}
			in, err := Detect(context.Background(), Clients{Kube: kc, Helm: helmFactory(cfg)}, "viz-helm")
			if err != nil {
				t.Fatal(err)
			}
			if in.Method != MethodHelm || in.Release == nil {
				t.Fatalf("Detect = %q release %v, want helm with a release", in.Method, in.Release)
			}
			want := HelmRelease{Name: "linkerd-viz", Namespace: "viz-helm", Revision: 1, Status: "deployed", ChartVersion: "2026.8.3"}
			if *in.Release != want {
				t.Errorf("Release = %+v, want %+v", *in.Release, want)
			}
			if in.Version != "edge-26.8.3" {
				t.Errorf("Version = %q", in.Version)
			}
		})
	}
}

func TestDetectAbsentAndAmbiguous(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		objs     func(t *testing.T) []runtime.Object
		helm     bool // a linkerd-viz release exists in memory storage
		ns       string
		want     error
		wantText []string
	}{
		{
			name: "no namespace", objs: cliViz, ns: "nope", want: ErrNotInstalled,
			wantText: []string{`namespace "nope" does not exist`, "--viz-namespace"},
		},
		{
			name: "namespace without metrics-api",
			objs: func(*testing.T) []runtime.Object {
				return []runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "linkerd-viz"}}}
			},
			ns: "linkerd-viz", want: ErrNotInstalled, wantText: []string{"no metrics-api Deployment"},
		},
		{
			name: "rendered by the chart, no release (helm template, GitOps)",
			objs: func(t *testing.T) []runtime.Object { return helmShaped(t, "linkerd-viz", false) },
			ns:   "linkerd-viz", want: ErrAmbiguous, wantText: []string{"no Helm release owns it", "prometheusUrl", "prometheus.enabled=false"},
		},
		{
			name: "annotated for a release that does not exist",
			objs: func(t *testing.T) []runtime.Object { return helmShaped(t, "linkerd-viz", true) },
			ns:   "linkerd-viz", want: ErrAmbiguous, wantText: []string{"Helm release linkerd-viz/linkerd-viz, which does not exist"},
		},
		{
			name: "CLI output applied over a Helm release",
			objs: func(t *testing.T) []runtime.Object {
				objs := cliViz(t)
				d := metricsAPI(objs)
				d.Annotations[helmReleaseNameAnnotation] = "linkerd-viz"
				return objs
			},
			helm: true, ns: "linkerd-viz", want: ErrAmbiguous, wantText: []string{"exists, but metrics-api says \"linkerd/cli edge-26.8.3\""},
		},
		{
			name: "no created-by anywhere",
			objs: func(t *testing.T) []runtime.Object {
				objs := cliViz(t)
				d := metricsAPI(objs)
				delete(d.Annotations, AnnotationCreatedBy)
				delete(d.Spec.Template.Annotations, AnnotationCreatedBy)
				return objs
			},
			ns: "linkerd-viz", want: ErrAmbiguous, wantText: []string{"no linkerd.io/created-by annotation"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := memoryHelm(t)
			if tc.helm {
				installVizChart(t, cfg, tc.ns, map[string]any{"installNamespace": false})
			}
			_, err := Detect(ctx, Clients{Kube: kubefake.NewClientset(tc.objs(t)...), Helm: helmFactory(cfg)}, tc.ns)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Detect error = %v, want %v", err, tc.want)
			}
			for _, s := range tc.wantText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
}

// A release left pending by an interrupted helm command is detected, and configure refuses it
// with the way out.
func TestConfigureRefusesPendingRelease(t *testing.T) {
	cfg := memoryHelm(t)
	rel := installVizChart(t, cfg, "viz-helm", map[string]any{"installNamespace": false})
	rel.Info.Status = "pending-upgrade"
	if err := cfg.Releases.Update(rel); err != nil {
		t.Fatal(err)
	}
	c := Clients{Kube: kubefake.NewClientset(helmShaped(t, "viz-helm", true)...), Helm: helmFactory(cfg)}
	in, err := Detect(context.Background(), c, "viz-helm")
	if err != nil {
		t.Fatal(err)
	}
	if in.Release.Status != "pending-upgrade" {
		t.Errorf("Release.Status = %q", in.Release.Status)
	}
	_, err = Configure(context.Background(), c, Options{Namespace: "viz-helm", PrometheusURL: "http://p:9090"})
	if err == nil || !strings.Contains(err.Error(), `is "pending-upgrade", not deployed`) || !strings.Contains(err.Error(), "helm rollback") {
		t.Fatalf("Configure error = %v, want a refusal naming the status and helm rollback", err)
	}
	if lastRevision(t, cfg, "linkerd-viz").Version != 1 {
		t.Error("Configure upgraded a pending release")
	}
}
