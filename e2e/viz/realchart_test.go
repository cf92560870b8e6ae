//go:build e2e

package viz

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	helmkube "helm.sh/helm/v4/pkg/kube"
	"helm.sh/helm/v4/pkg/release/common"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"

	"github.com/meshmon/meshmon/e2e/framework"
	"github.com/meshmon/meshmon/pkg/viz"
)

const (
	realVizNS      = "linkerd-viz-real"
	realVizRelease = "linkerd-viz"
	realVizTgz     = "linkerd-viz-2026.8.3.tgz"
	// noNamespace is a namespace name no test creates: the tap injector's webhook selects
	// only it, so the API server never calls the webhook's Service.
	noNamespace = "meshmon-e2e-never-created"
)

// inertVizValues keep the real chart's APIService and webhook from making the API server
// dial anything, through this install and every upgrade meshmon renders from the same
// values: no tap pod means no tap endpoints, and the aggregator dials an APIService's
// Service only once it has ready endpoints; the webhook selects a namespace that never
// exists, so no admission request matches it. Both objects are rendered as published.
func inertVizValues() map[string]any {
	return map[string]any{
		"tap": map[string]any{"replicas": 0},
		"tapInjector": map[string]any{
			"replicas": 0,
			"namespaceSelector": map[string]any{"matchExpressions": []any{map[string]any{
				"key": "kubernetes.io/metadata.name", "operator": "In", "values": []any{noNamespace},
			}}},
		},
	}
}

// installRealViz installs the published linkerd-viz chart (with its partials library
// subchart) with the Helm SDK, as `helm install` would.
func installRealViz(t *testing.T, env *framework.Env, ns string) *releasev1.Release {
	t.Helper()
	ch, err := loader.Load(env.Fixture("charts", realVizTgz))
	if err != nil {
		t.Fatalf("loading %s: %v", realVizTgz, err)
	}
	if len(ch.Dependencies()) == 0 {
		t.Fatalf("%s has no subcharts; the test needs the published chart with partials", realVizTgz)
	}
	helmkube.ManagedFieldsManager = "helm"
	in := action.NewInstall(helmConfig(t, env, ns))
	in.WaitStrategy = helmkube.HookOnlyStrategy
	in.ReleaseName, in.Namespace = realVizRelease, ns
	// The chart renders its own Namespace; the CLI-installed viz of the fixtures already
	// holds the chart's fixed-name RBAC objects (tap-injector's, linkerd/web), which a second
	// viz takes over as `helm install --take-ownership --force-conflicts` would.
	in.CreateNamespace, in.TakeOwnership, in.ForceConflicts = true, true, true
	r, err := in.Run(ch, inertVizValues())
	if err != nil {
		t.Fatalf("helm install %s %s -n %s: %v", realVizRelease, realVizTgz, ns, err)
	}
	t.Cleanup(func() { removeInertObjects(t, env) })
	return r.(*releasev1.Release)
}

var (
	apiServiceGVR = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}
	tapAPIService = "v1alpha1.tap.linkerd.io"
	tapWebhook    = "linkerd-tap-injector-webhook-config"
)

// removeInertObjects deletes the chart's APIService and webhook so no later test of the
// package sees an unavailable API group or a webhook in discovery and admission.
func removeInertObjects(t *testing.T, env *framework.Env) {
	kc, dc := env.Clients(t)
	c := context.Background()
	if err := dc.Resource(apiServiceGVR).Delete(c, tapAPIService, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("deleting APIService %s: %v", tapAPIService, err)
	}
	if err := kc.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(c, tapWebhook, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("deleting MutatingWebhookConfiguration %s: %v", tapWebhook, err)
	}
}

// checkInert fails the test at once if the chart's APIService or webhook could make the API
// server dial a Service: the guard of the network rule, checked after every write.
func checkInert(t *testing.T, env *framework.Env, ns string) {
	t.Helper()
	kc, _ := env.Clients(t)
	c := context.Background()
	if wh, err := kc.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(c, tapWebhook, metav1.GetOptions{}); err == nil {
		for _, w := range wh.Webhooks {
			sel := w.NamespaceSelector
			if sel == nil || len(sel.MatchLabels) > 0 || len(sel.MatchExpressions) != 1 ||
				sel.MatchExpressions[0].Operator != metav1.LabelSelectorOpIn || !slices.Equal(sel.MatchExpressions[0].Values, []string{noNamespace}) {
				t.Fatalf("webhook %s/%s selects namespaces %+v: the API server could call it", tapWebhook, w.Name, sel)
			}
		}
	} else if !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	for _, name := range []string{"tap", "tap-injector"} {
		d, err := kc.AppsV1().Deployments(ns).Get(c, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("reading Deployment %s/%s: %v", ns, name, err)
		}
		if d.Spec.Replicas == nil || *d.Spec.Replicas != 0 {
			t.Fatalf("Deployment %s/%s wants %v replicas: its Service would get endpoints the API server dials", ns, name, d.Spec.Replicas)
		}
	}
}

// history is the release's revisions as "v<n>=<status>", oldest first.
func history(t *testing.T, env *framework.Env, ns, name string) []string {
	t.Helper()
	h, err := action.NewHistory(helmConfig(t, env, ns)).Run(name)
	if err != nil {
		t.Fatalf("helm history %s -n %s: %v", name, ns, err)
	}
	var rs []*releasev1.Release
	for _, r := range h {
		rs = append(rs, r.(*releasev1.Release))
	}
	slices.SortFunc(rs, func(a, b *releasev1.Release) int { return a.Version - b.Version })
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("v%d=%s", r.Version, r.Info.Status))
	}
	return out
}

// wantHistory is a clean history of n revisions: the last deployed, the others superseded.
func wantHistory(n int) []string {
	var out []string
	for v := 1; v <= n; v++ {
		s := common.StatusSuperseded
		if v == n {
			s = common.StatusDeployed
		}
		out = append(out, fmt.Sprintf("v%d=%s", v, s))
	}
	return out
}

// valuesCopy is a deep copy of release values, through JSON as Helm stores them.
func valuesCopy(t *testing.T, v map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func metricsAPIArgs(t *testing.T, kc kubernetes.Interface, ns string) []string {
	t.Helper()
	d, err := kc.AppsV1().Deployments(ns).Get(context.Background(), viz.MetricsAPIName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return args(t, d.Spec.Template.Spec, viz.MetricsAPIName)
}

func bundledPrometheus(t *testing.T, kc kubernetes.Interface, ns string) error {
	t.Helper()
	_, err := kc.AppsV1().Deployments(ns).Get(context.Background(), viz.BundledPrometheus, metav1.GetOptions{})
	return err
}

// TestRealChartVizConfigureRestore rewires and restores the published linkerd-viz chart,
// whose partials library subchart Helm's release storage does not keep.
func TestRealChartVizConfigureRestore(t *testing.T) {
	env := framework.Current(t)
	installPrometheus(t, env)
	kc, _ := env.Clients(t)
	orig := installRealViz(t, env, realVizNS)
	checkInert(t, env, realVizNS)
	chart := env.Fixture("charts", realVizTgz)
	origArgs := metricsAPIArgs(t, kc, realVizNS)
	bundledURL := fmt.Sprintf("-prometheus-url=http://prometheus.%s.svc.cluster.local:9090", realVizNS)
	if !slices.Contains(origArgs, bundledURL) {
		t.Fatalf("the chart's metrics-api args %q lack the bundled Prometheus's %s", origArgs, bundledURL)
	}
	if err := bundledPrometheus(t, kc, realVizNS); err != nil {
		t.Fatalf("the chart's bundled Prometheus: %v", err)
	}
	before := snapshot(t, kc, realVizNS, false)

	t.Run("without --viz-chart, Linkerd's repository is out of reach: nothing is written", func(t *testing.T) {
		marks := writeMarks(t, kc, realVizNS)
		r := env.Meshmon(t, "kubectl", "viz", "configure", "--viz-namespace", realVizNS, "-n", vizNS)
		if r.Code == 0 {
			t.Fatalf("configure succeeded without a reachable chart:\n%s", r.Stdout)
		}
		fix := fmt.Sprintf("helm upgrade %s linkerd-viz --repo https://helm.linkerd.io/edge --version 2026.8.3 --namespace %s --reuse-values --set prometheusUrl=%s --set prometheus.enabled=false",
			realVizRelease, realVizNS, wantURL)
		for _, want := range []string{fix, "Nothing was changed", "--viz-chart"} {
			if !strings.Contains(r.Stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
			}
		}
		if strings.Contains(r.Stderr, "--chart") {
			t.Errorf("stderr names --chart, the flag of meshmon's own release, not viz's --viz-chart:\n%s", r.Stderr)
		}
		if got := history(t, env, realVizNS, realVizRelease); !slices.Equal(got, wantHistory(orig.Version)) {
			t.Errorf("history after the refused configure = %v, want %v", got, wantHistory(orig.Version))
		}
		if got := writeMarks(t, kc, realVizNS); !maps.Equal(got, marks) {
			t.Errorf("the refused configure wrote objects: %v -> %v", marks, got)
		}
	})

	want := valuesCopy(t, orig.Config)
	t.Run("configure with --viz-chart", func(t *testing.T) {
		res := runJSON(t, env, "kubectl", "viz", "configure", "--viz-namespace", realVizNS, "-n", vizNS, "--viz-chart", chart)
		checkInert(t, env, realVizNS)
		if res.Install.Method != viz.MethodHelm || res.Install.Release == nil || res.Install.Release.Name != realVizRelease {
			t.Fatalf("detected %+v, want the Helm release %s", res.Install, realVizRelease)
		}
		rel := lastRelease(t, env, realVizNS, realVizRelease)
		if rel.Version != orig.Version+1 {
			t.Errorf("revision %d after configure, want %d", rel.Version, orig.Version+1)
		}
		want["prometheusUrl"] = wantURL
		want["prometheus"] = map[string]any{"enabled": false}
		if d := diff(t, rel.Config, want); len(d) > 0 {
			t.Errorf("release values after configure:\n%s", strings.Join(d, "\n"))
		}
		if rel.Chart.Metadata.Version != orig.Chart.Metadata.Version {
			t.Errorf("configure changed the chart version %s -> %s", orig.Chart.Metadata.Version, rel.Chart.Metadata.Version)
		}
		wantArgs := slices.Clone(origArgs)
		wantArgs[slices.Index(wantArgs, bundledURL)] = "-prometheus-url=" + wantURL
		if got := metricsAPIArgs(t, kc, realVizNS); !slices.Equal(got, wantArgs) {
			t.Errorf("metrics-api args =\n  %q\nwant\n  %q", got, wantArgs)
		}
		if err := bundledPrometheus(t, kc, realVizNS); !apierrors.IsNotFound(err) {
			t.Errorf("the bundled Prometheus survived prometheus.enabled=false (err %v)", err)
		}
		// The partials subchart's templates rendered: the created-by annotation is one of them.
		d, _ := kc.AppsV1().Deployments(realVizNS).Get(context.Background(), "web", metav1.GetOptions{})
		if d == nil || d.Annotations["linkerd.io/created-by"] == "" {
			t.Errorf("Deployment web lacks the partials annotation linkerd.io/created-by: %v", d)
		}
		if got := history(t, env, realVizNS, realVizRelease); !slices.Equal(got, wantHistory(orig.Version+1)) {
			t.Errorf("history after configure = %v, want %v", got, wantHistory(orig.Version+1))
		}
	})

	t.Run("restore with --viz-chart", func(t *testing.T) {
		env.MustMeshmon(t, "kubectl", "viz", "restore", "--viz-namespace", realVizNS, "--viz-chart", chart)
		checkInert(t, env, realVizNS)
		back := lastRelease(t, env, realVizNS, realVizRelease)
		if back.Version != orig.Version+2 {
			t.Errorf("revision %d after restore, want %d (two new revisions)", back.Version, orig.Version+2)
		}
		if d := diff(t, back.Config, orig.Config); len(d) > 0 {
			t.Errorf("release values after restore differ from the original:\n%s", strings.Join(d, "\n"))
		}
		if got := metricsAPIArgs(t, kc, realVizNS); !slices.Equal(got, origArgs) {
			t.Errorf("metrics-api args after restore =\n  %q\nwant\n  %q", got, origArgs)
		}
		if err := bundledPrometheus(t, kc, realVizNS); err != nil {
			t.Errorf("the bundled Prometheus is not back: %v", err)
		}
		framework.Eventually(t, time.Minute, func() error {
			pods, err := kc.CoreV1().Pods(realVizNS).List(context.Background(), metav1.ListOptions{LabelSelector: "component=prometheus"})
			if err != nil {
				return err
			}
			for _, p := range pods.Items {
				for _, c := range p.Status.Conditions {
					if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
						return nil
					}
				}
			}
			return fmt.Errorf("no ready bundled Prometheus pod among %d", len(pods.Items))
		})
		if d := diff(t, snapshot(t, kc, realVizNS, false), before); len(d) > 0 {
			t.Errorf("after restore the objects differ from before configure:\n%s", strings.Join(d, "\n"))
		}
		if got := history(t, env, realVizNS, realVizRelease); !slices.Equal(got, wantHistory(orig.Version+2)) {
			t.Errorf("helm history after restore = %v, want %v", got, wantHistory(orig.Version+2))
		}
	})
}
