package viz

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshmon/meshmon/pkg/change"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	helmfake "helm.sh/helm/v4/pkg/kube/fake"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/meshmon/meshmon/pkg/fixtures"
	"github.com/meshmon/meshmon/pkg/helmvalues"
)

// memoryHelm is a Helm configuration with in-memory release storage and a Kubernetes client
// that writes nothing: enough to install, upgrade and read releases.
func memoryHelm(t *testing.T) *action.Configuration {
	t.Helper()
	mem := driver.NewMemory()
	mem.SetNamespace("")
	kv, err := common.ParseKubeVersion("v1.37.1")
	if err != nil {
		t.Fatal(err)
	}
	caps := common.DefaultCapabilities.Copy()
	caps.KubeVersion = *kv
	cfg := action.NewConfiguration()
	cfg.Releases = storage.Init(mem)
	cfg.KubeClient = &helmfake.PrintingKubeClient{Out: io.Discard}
	cfg.Capabilities = caps
	return cfg
}

func helmFactory(cfg *action.Configuration) func(string) (*action.Configuration, error) {
	return func(string) (*action.Configuration, error) { return cfg, nil }
}

// installVizChart installs the e2e fixture linkerd-viz chart into memory storage.
func installVizChart(t *testing.T, cfg *action.Configuration, namespace string, vals map[string]any) *releasev1.Release {
	t.Helper()
	ch, err := loader.Load(fixtureVizChart(t))
	if err != nil {
		t.Fatalf("loading the fixture linkerd-viz chart: %v", err)
	}
	in := action.NewInstall(cfg)
	in.ReleaseName = "linkerd-viz"
	in.Namespace = namespace
	r, err := in.Run(ch, vals)
	if err != nil {
		t.Fatalf("installing the fixture linkerd-viz chart: %v", err)
	}
	return r.(*releasev1.Release)
}

// fixtureVizChart is the hand-made stand-in for the linkerd-viz chart (no subcharts).
func fixtureVizChart(t *testing.T) string {
	return filepath.Join(fixtures.RepoRoot(t), "e2e", "testdata", "charts", "linkerd-viz")
}

func lastRevision(t *testing.T, cfg *action.Configuration, name string) *releasev1.Release {
	t.Helper()
	r, err := cfg.Releases.Last(name)
	if err != nil {
		t.Fatal(err)
	}
	return r.(*releasev1.Release)
}

func TestConfigureRestoreHelmRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals map[string]any
	}{
		{name: "bundled Prometheus, values for it", vals: map[string]any{"installNamespace": false, "prometheus": map[string]any{"logLevel": "debug"}}},
		{name: "no prometheus values at all", vals: map[string]any{"installNamespace": false}},
		{name: "already external", vals: map[string]any{"installNamespace": false, "prometheusUrl": "http://old:9090", "prometheus": map[string]any{"enabled": false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := memoryHelm(t)
			orig := installVizChart(t, cfg, "viz-helm", tc.vals)
			kc := kubefake.NewClientset(helmShaped(t, "viz-helm", true)...)
			c := Clients{Kube: kc, Helm: helmFactory(cfg)}
			chart := ChartOptions{Chart: fixtureVizChart(t), CacheDir: t.TempDir()}
			opts := Options{Namespace: "viz-helm", PrometheusURL: newURL, Chart: chart}

			changes, err := Configure(ctx, c, opts)
			if err != nil {
				t.Fatal(err)
			}
			if a := actionOf(changes, "HelmRelease", "linkerd-viz"); a != change.Upgraded {
				t.Fatalf("release: %q, want upgraded; changes %+v", a, changes)
			}
			rel := lastRevision(t, cfg, "linkerd-viz")
			if rel.Version != 2 {
				t.Errorf("revision = %d, want 2", rel.Version)
			}
			want := helmvalues.Merge(orig.Config)
			want[valuePrometheusURL] = newURL
			pm, _ := want[valuePrometheus].(map[string]any)
			if pm == nil {
				pm = map[string]any{}
				want[valuePrometheus] = pm
			}
			pm[valueEnabled] = false
			if d := jsonDiff(t, rel.Config, want); len(d) > 0 {
				t.Errorf("values after configure differ from the original plus meshmon's two keys:\n%s", strings.Join(d, "\n"))
			}
			if !strings.Contains(rel.Manifest, "-prometheus-url="+newURL) || strings.Contains(rel.Manifest, "name: prometheus\n  namespace") {
				t.Errorf("the upgraded manifest does not point metrics-api at %s or still has the bundled Prometheus:\n%s", newURL, rel.Manifest)
			}
			ns, _ := kc.CoreV1().Namespaces().Get(ctx, "viz-helm", metav1.GetOptions{})
			if ns.Annotations[AnnotationExternalPrometheus] != newURL {
				t.Errorf("namespace annotation = %q", ns.Annotations[AnnotationExternalPrometheus])
			}
			// metrics-api itself is Helm's to change: meshmon must not patch it directly.
			for _, w := range writes(kc) {
				if strings.Contains(w, "deployments") {
					t.Errorf("configure wrote a Deployment of a Helm-installed viz: %s", w)
				}
			}

			again, err := Configure(ctx, c, opts)
			if err != nil {
				t.Fatal(err)
			}
			if again.Changed() || lastRevision(t, cfg, "linkerd-viz").Version != 2 {
				t.Errorf("second configure changed something: %+v", again)
			}

			if _, err := Restore(ctx, c, RestoreOptions{Namespace: "viz-helm", Chart: chart}); err != nil {
				t.Fatal(err)
			}
			rel = lastRevision(t, cfg, "linkerd-viz")
			if rel.Version != 3 {
				t.Errorf("revision after restore = %d, want 3", rel.Version)
			}
			if d := jsonDiff(t, rel.Config, orig.Config); len(d) > 0 {
				t.Errorf("values after restore differ from the original:\n%s", strings.Join(d, "\n"))
			}
			ns, _ = kc.CoreV1().Namespaces().Get(ctx, "viz-helm", metav1.GetOptions{})
			if _, ok := ns.Annotations[AnnotationExternalPrometheus]; ok {
				t.Errorf("namespace annotation left behind: %v", ns.Annotations)
			}
			if _, ok := ns.Annotations[AnnotationRecord]; ok {
				t.Error("record left behind")
			}
		})
	}
}

// Someone re-runs helm without meshmon's values: HelmDrift names each value and the object
// that contradicts it.
func TestHelmDrift(t *testing.T) {
	ctx := context.Background()
	cfg := memoryHelm(t)
	orig := installVizChart(t, cfg, "viz-helm", map[string]any{"installNamespace": false})
	kc := kubefake.NewClientset(helmShaped(t, "viz-helm", true)...)
	c := Clients{Kube: kc, Helm: helmFactory(cfg)}
	if _, configured, err := HelmDrift(ctx, c, "viz-helm"); err != nil || configured {
		t.Fatalf("before configure: configured=%v, %v", configured, err)
	}
	if _, err := Configure(ctx, c, Options{Namespace: "viz-helm", PrometheusURL: newURL, Chart: ChartOptions{Chart: fixtureVizChart(t), CacheDir: t.TempDir()}}); err != nil {
		t.Fatal(err)
	}
	// The fake cluster does not run Helm's writes: play the objects the upgrade made.
	d, _ := kc.AppsV1().Deployments("viz-helm").Get(ctx, MetricsAPIName, metav1.GetOptions{})
	d.Spec.Template.Spec.Containers[0].Args = setFlag(d.Spec.Template.Spec.Containers[0].Args, PrometheusURLFlag, newURL)
	if _, err := kc.AppsV1().Deployments("viz-helm").Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := kc.AppsV1().Deployments("viz-helm").Delete(ctx, BundledPrometheus, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if drifts, configured, err := HelmDrift(ctx, c, "viz-helm"); err != nil || !configured || len(drifts) != 0 {
		t.Fatalf("right after configure: %v configured=%v, %v", drifts, configured, err)
	}

	// helm upgrade --reset-values with the original values, and its objects.
	ch, err := loader.Load(fixtureVizChart(t))
	if err != nil {
		t.Fatal(err)
	}
	up := action.NewUpgrade(cfg)
	up.Namespace, up.ResetValues = "viz-helm", true
	if _, err := up.Run("linkerd-viz", ch, orig.Config); err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Args = setFlag(d.Spec.Template.Spec.Containers[0].Args, PrometheusURLFlag, "http://prometheus.viz-helm.svc.cluster.local:9090")
	if _, err := kc.AppsV1().Deployments("viz-helm").Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	bundled := find[*appsv1.Deployment](t, helmShaped(t, "viz-helm", true), "viz-helm", BundledPrometheus)
	if _, err := kc.AppsV1().Deployments("viz-helm").Create(ctx, bundled, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	drifts, _, err := HelmDrift(ctx, c, "viz-helm")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range drifts {
		got = append(got, d.String())
	}
	want := []string{
		"prometheusUrl=" + newURL + " (set by meshmon): Deployment viz-helm/metrics-api runs -prometheus-url=http://prometheus.viz-helm.svc.cluster.local:9090; revision 3 of release viz-helm/linkerd-viz no longer has it",
		"prometheus.enabled=false (set by meshmon): Deployment viz-helm/prometheus exists (1 replicas); revision 3 of release viz-helm/linkerd-viz no longer has it",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("drifts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
