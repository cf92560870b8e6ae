//go:build e2e

package viz

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshmon/meshmon/pkg/change"

	"helm.sh/helm/v4/pkg/action"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshmon/meshmon/e2e/framework"
	"github.com/meshmon/meshmon/pkg/viz"
)

const (
	vizNS   = "linkerd-viz"
	wantURL = "http://prometheus-server.linkerd-viz.svc.cluster.local:9090"
	oldURL  = "http://prometheus.linkerd-viz.svc.cluster.local:9090"
)

// state is everything configure may touch, as restore must put it back: spec and metadata
// labels and annotations, without what the API server and controllers set.
type state struct {
	Namespace   meta
	Deployments map[string]object
	CronJob     *object
}

type meta struct {
	Labels, Annotations map[string]string
}

type object struct {
	meta
	Spec any
}

// serverSet are annotations no installer writes: the Deployment controller's revision counter.
var serverSet = []string{"deployment.kubernetes.io/revision"}

func metaOf(m metav1.ObjectMeta) meta {
	ann := map[string]string{}
	for k, v := range m.Annotations {
		if !slices.Contains(serverSet, k) {
			ann[k] = v
		}
	}
	return meta{Labels: m.Labels, Annotations: ann}
}

func snapshot(t *testing.T, kc kubernetes.Interface, ns string, withHeartbeat bool) state {
	t.Helper()
	ctx := context.Background()
	n, err := kc.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := state{Namespace: metaOf(n.ObjectMeta), Deployments: map[string]object{}}
	for _, name := range []string{viz.MetricsAPIName, viz.BundledPrometheus} {
		d, err := kc.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		s.Deployments[name] = object{metaOf(d.ObjectMeta), d.Spec}
	}
	if withHeartbeat {
		cj, err := kc.BatchV1().CronJobs("linkerd").Get(ctx, viz.DefaultHeartbeatName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s.CronJob = &object{metaOf(cj.ObjectMeta), cj.Spec}
	}
	return s
}

// diff lists the JSON paths where two values differ.
func diff(t *testing.T, got, want any) []string {
	t.Helper()
	var g, w any
	for _, p := range []struct {
		in  any
		out *any
	}{{got, &g}, {want, &w}} {
		b, err := json.Marshal(p.in)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, p.out); err != nil {
			t.Fatal(err)
		}
	}
	var out []string
	var walk func(path string, a, b any)
	walk = func(path string, a, b any) {
		am, aok := a.(map[string]any)
		bm, bok := b.(map[string]any)
		if aok && bok {
			keys := map[string]bool{}
			for k := range am {
				keys[k] = true
			}
			for k := range bm {
				keys[k] = true
			}
			for k := range keys {
				walk(path+"."+k, am[k], bm[k])
			}
			return
		}
		if !reflect.DeepEqual(a, b) {
			out = append(out, fmt.Sprintf("%s: got %v, want %v", path, a, b))
		}
	}
	walk("", g, w)
	slices.Sort(out)
	return out
}

func args(t *testing.T, pod corev1.PodSpec, container string) []string {
	t.Helper()
	for _, c := range pod.Containers {
		if c.Name == container {
			return c.Args
		}
	}
	t.Fatalf("no container %s", container)
	return nil
}

type result struct {
	Install       viz.Install    `json:"install"`
	PrometheusURL string         `json:"prometheusURL"`
	DryRun        bool           `json:"dryRun"`
	Changes       change.Changes `json:"changes"`
}

func runJSON(t *testing.T, env *framework.Env, host string, a ...string) result {
	t.Helper()
	r := env.MustMeshmon(t, host, append(a, "-o", "json")...)
	var res result
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
		t.Fatalf("%s-meshmon %s: stdout is not JSON: %v\n%s", host, strings.Join(a, " "), err, r.Stdout)
	}
	return res
}

// writeMarks identify writes to what configure touches: the namespace's resourceVersion (no
// controller writes it) and the workloads' generation (their status is the controllers').
func writeMarks(t *testing.T, kc kubernetes.Interface, ns string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	n, _ := kc.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	out["namespace"] = n.ResourceVersion
	for _, name := range []string{viz.MetricsAPIName, viz.BundledPrometheus} {
		if d, err := kc.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
			out[name] = fmt.Sprint(d.UID, "/", d.Generation)
		}
	}
	if cj, err := kc.BatchV1().CronJobs("linkerd").Get(ctx, viz.DefaultHeartbeatName, metav1.GetOptions{}); err == nil {
		out["heartbeat"] = fmt.Sprint(cj.Generation)
	}
	return out
}

func TestConfigureRestoreCLIInstalledViz(t *testing.T) {
	env := framework.Current(t)
	installPrometheus(t, env)
	kc, _ := env.Clients(t)
	ctx := context.Background()
	before := snapshot(t, kc, vizNS, true)
	rvs := writeMarks(t, kc, vizNS)

	t.Run("dry run writes nothing and shows the patches", func(t *testing.T) {
		r := env.MustMeshmon(t, "kubectl", "viz", "configure", "--heartbeat", "--dry-run")
		for _, want := range []string{
			"installed with the Linkerd CLI",
			"Prometheus URL: " + wantURL + " (from Service linkerd-viz/prometheus-server of release prometheus)",
			`{"op":"test","path":"/spec/template/spec/containers/0/args"`,
			"deployment/prometheus -n linkerd-viz  deleted (dry run)",
			"DELETE apps/v1 Deployment linkerd-viz/prometheus",
		} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("dry run output lacks %q:\n%s", want, r.Stdout)
			}
		}
		if got := writeMarks(t, kc, vizNS); !reflect.DeepEqual(got, rvs) {
			t.Errorf("dry run changed objects: %v -> %v", rvs, got)
		}
	})

	t.Run("configure", func(t *testing.T) {
		res := runJSON(t, env, "kubectl", "viz", "configure", "--heartbeat")
		if res.Install.Method != viz.MethodCLI || res.PrometheusURL != wantURL {
			t.Fatalf("configure saw method %q, URL %q; want cli and %s", res.Install.Method, res.PrometheusURL, wantURL)
		}
		d, err := kc.AppsV1().Deployments(vizNS).Get(ctx, viz.MetricsAPIName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Clone(before.Deployments[viz.MetricsAPIName].Spec.(appsv1.DeploymentSpec).Template.Spec.Containers[0].Args)
		want[slices.Index(want, "-prometheus-url="+oldURL)] = "-prometheus-url=" + wantURL
		if got := args(t, d.Spec.Template.Spec, viz.MetricsAPIName); !slices.Equal(got, want) {
			t.Errorf("metrics-api args =\n  %q\nwant (only the URL changed, order kept)\n  %q", got, want)
		}
		if _, err := kc.AppsV1().Deployments(vizNS).Get(ctx, viz.BundledPrometheus, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("the bundled Prometheus Deployment still exists (err %v)", err)
		}
		framework.Eventually(t, 30*time.Second, func() error {
			pods, err := kc.CoreV1().Pods(vizNS).List(ctx, metav1.ListOptions{LabelSelector: "component=prometheus"})
			if err != nil {
				return err
			}
			if len(pods.Items) > 0 {
				return fmt.Errorf("%d bundled Prometheus pods left", len(pods.Items))
			}
			return nil
		})
		n, _ := kc.CoreV1().Namespaces().Get(ctx, vizNS, metav1.GetOptions{})
		if n.Annotations[viz.AnnotationExternalPrometheus] != wantURL {
			t.Errorf("namespace annotation %s = %q", viz.AnnotationExternalPrometheus, n.Annotations[viz.AnnotationExternalPrometheus])
		}
		if _, ok := n.Annotations[viz.AnnotationRecord]; !ok {
			t.Errorf("no record %s on the namespace", viz.AnnotationRecord)
		}
		cj, _ := kc.BatchV1().CronJobs("linkerd").Get(ctx, viz.DefaultHeartbeatName, metav1.GetOptions{})
		if got := args(t, cj.Spec.JobTemplate.Spec.Template.Spec, "heartbeat"); !slices.Contains(got, "-prometheus-url="+wantURL) {
			t.Errorf("heartbeat args = %q", got)
		}
		if _, err := kc.CoreV1().ConfigMaps(vizNS).Get(ctx, viz.BackupConfigMap, metav1.GetOptions{}); err != nil {
			t.Errorf("backup ConfigMap: %v", err)
		}
	})

	t.Run("configure twice changes nothing", func(t *testing.T) {
		rv := writeMarks(t, kc, vizNS)
		res := runJSON(t, env, "kubectl", "viz", "configure", "--heartbeat")
		for _, c := range res.Changes {
			if c.Action != change.Unchanged {
				t.Errorf("second configure: %s %s %s (%s), want unchanged", c.Kind, c.Name, c.Action, c.Detail)
			}
		}
		if got := writeMarks(t, kc, vizNS); !reflect.DeepEqual(got, rv) {
			t.Errorf("second configure wrote: %v -> %v", rv, got)
		}
		text := env.MustMeshmon(t, "kubectl", "viz", "configure", "--heartbeat")
		if !strings.Contains(text.Stderr, "linkerd-viz already uses "+wantURL) || !strings.Contains(text.Stdout, "unchanged") {
			t.Errorf("text output does not say unchanged:\nstdout:\n%s\nstderr:\n%s", text.Stdout, text.Stderr)
		}
	})

	t.Run("restore through linkerd-meshmon puts back every field", func(t *testing.T) {
		r := env.MustMeshmon(t, "linkerd", "viz", "restore")
		if !strings.Contains(r.Stdout, "deployment/prometheus -n linkerd-viz") || !strings.Contains(r.Stdout, "created") {
			t.Errorf("restore output:\n%s", r.Stdout)
		}
		after := snapshot(t, kc, vizNS, true)
		if d := diff(t, after, before); len(d) > 0 {
			t.Errorf("after restore the objects differ from before configure:\n%s", strings.Join(d, "\n"))
		}
		if _, err := kc.CoreV1().ConfigMaps(vizNS).Get(ctx, viz.BackupConfigMap, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("backup ConfigMap left behind (err %v)", err)
		}
		again := env.MustMeshmon(t, "kubectl", "viz", "restore")
		if !strings.Contains(again.Stdout, "nothing to restore") {
			t.Errorf("a second restore should have nothing to do:\n%s", again.Stdout)
		}
	})
}

func TestKeepBundled(t *testing.T) {
	env := framework.Current(t)
	installPrometheus(t, env)
	kc, _ := env.Clients(t)
	ctx := context.Background()
	before := snapshot(t, kc, vizNS, false)

	env.MustMeshmon(t, "kubectl", "viz", "configure", "--keep-bundled")
	d, err := kc.AppsV1().Deployments(vizNS).Get(ctx, viz.BundledPrometheus, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("--keep-bundled removed the bundled Prometheus: %v", err)
	}
	if *d.Spec.Replicas != 0 {
		t.Errorf("bundled Prometheus replicas = %d, want 0", *d.Spec.Replicas)
	}
	env.MustMeshmon(t, "kubectl", "viz", "restore")
	if d := diff(t, snapshot(t, kc, vizNS, false), before); len(d) > 0 {
		t.Errorf("after restore the objects differ from before configure:\n%s", strings.Join(d, "\n"))
	}
}

// A Helm-installed viz is rewired by a release upgrade with its own chart and values, and
// restored by another; meshmon never patches the chart's objects.
func TestConfigureRestoreHelmInstalledViz(t *testing.T) {
	env := framework.Current(t)
	installPrometheus(t, env)
	kc, _ := env.Clients(t)
	ctx := context.Background()
	for _, tc := range []struct {
		ns   string
		vals map[string]any
	}{
		// Bundled Prometheus: no external annotation was ever written.
		{ns: "linkerd-viz-helm", vals: map[string]any{"metricsAPI": map[string]any{"logLevel": "debug"}}},
		// Already external at install: the chart wrote the annotation, its first upgrade drops it.
		{ns: "linkerd-viz-helm-ext", vals: map[string]any{"prometheusUrl": "http://old-prometheus.monitoring.svc.cluster.local:9090", "prometheus": map[string]any{"enabled": false}}},
	} {
		t.Run(tc.ns, func(t *testing.T) {
			orig := installChart(t, env, "linkerd-viz", "linkerd-viz", tc.ns, tc.vals, func(in *action.Install) {
				// The chart renders its own Namespace, like the real one (installNamespace).
				in.CreateNamespace, in.TakeOwnership = true, true
			})
			before := snapshot(t, kc, tc.ns, false)
			// Release storage lacks a chart's subcharts, so meshmon upgrades viz with the
			// chart itself: here the fixture chart it was installed from.
			chart := framework.TestChart(t, "linkerd-viz")

			res := runJSON(t, env, "kubectl", "viz", "configure", "--viz-namespace", tc.ns, "-n", vizNS, "--viz-chart", chart)
			if res.Install.Method != viz.MethodHelm || res.Install.Release == nil || res.Install.Release.Name != "linkerd-viz" {
				t.Fatalf("detected %+v, want the Helm release linkerd-viz", res.Install)
			}
			rel := lastRelease(t, env, tc.ns, "linkerd-viz")
			if rel.Version != orig.Version+1 {
				t.Errorf("revision %d after configure, want %d", rel.Version, orig.Version+1)
			}
			want := map[string]any{}
			b, _ := json.Marshal(orig.Config)
			_ = json.Unmarshal(b, &want)
			want["prometheusUrl"] = wantURL
			pm, _ := want["prometheus"].(map[string]any)
			if pm == nil {
				pm = map[string]any{}
				want["prometheus"] = pm
			}
			pm["enabled"] = false
			if d := diff(t, rel.Config, want); len(d) > 0 {
				t.Errorf("release values after configure (other values must be unchanged):\n%s", strings.Join(d, "\n"))
			}
			d, err := kc.AppsV1().Deployments(tc.ns).Get(ctx, viz.MetricsAPIName, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := args(t, d.Spec.Template.Spec, viz.MetricsAPIName); !slices.Contains(got, "-prometheus-url="+wantURL) {
				t.Errorf("Helm did not render the new URL into metrics-api: %q", got)
			}
			if _, err := kc.AppsV1().Deployments(tc.ns).Get(ctx, viz.BundledPrometheus, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("the bundled Prometheus survived prometheus.enabled=false (err %v)", err)
			}
			n, _ := kc.CoreV1().Namespaces().Get(ctx, tc.ns, metav1.GetOptions{})
			if n.Annotations[viz.AnnotationExternalPrometheus] != wantURL {
				t.Errorf("namespace annotation = %q, want %s", n.Annotations[viz.AnnotationExternalPrometheus], wantURL)
			}

			again := runJSON(t, env, "kubectl", "viz", "configure", "--viz-namespace", tc.ns, "-n", vizNS, "--viz-chart", chart)
			if again.Changes.Changed() || lastRelease(t, env, tc.ns, "linkerd-viz").Version != rel.Version {
				t.Errorf("second configure changed something: %+v", again.Changes)
			}

			env.MustMeshmon(t, "kubectl", "viz", "restore", "--viz-namespace", tc.ns, "--viz-chart", chart)
			back := lastRelease(t, env, tc.ns, "linkerd-viz")
			if back.Version != rel.Version+1 {
				t.Errorf("revision %d after restore, want %d", back.Version, rel.Version+1)
			}
			if d := diff(t, back.Config, orig.Config); len(d) > 0 {
				t.Errorf("release values after restore differ from the original:\n%s", strings.Join(d, "\n"))
			}
			if d := diff(t, snapshot(t, kc, tc.ns, false), before); len(d) > 0 {
				t.Errorf("after restore the objects differ from before configure:\n%s", strings.Join(d, "\n"))
			}
		})
	}
}

func TestVizAbsent(t *testing.T) {
	env := framework.Current(t)
	for _, cmd := range [][]string{{"viz", "configure"}, {"viz", "restore"}} {
		r := env.Meshmon(t, "kubectl", append(cmd, "--viz-namespace", "nope")...)
		if r.Code != 1 {
			t.Errorf("%v: exit %d, want 1", cmd, r.Code)
		}
		if !strings.Contains(r.Stderr, `linkerd-viz is not installed: namespace "nope" does not exist`) || !strings.Contains(r.Stderr, "--viz-namespace") {
			t.Errorf("%v: unclear error:\n%s", cmd, r.Stderr)
		}
		if strings.Count(strings.TrimSpace(r.Stderr), "\n") > 1 {
			t.Errorf("%v: more than one error line:\n%s", cmd, r.Stderr)
		}
	}
	r := env.Meshmon(t, "kubectl", "viz", "configure", "--prometheus-url", "prometheus:9090")
	if r.Code != 2 || !strings.Contains(r.Stderr, "want http(s)://host:port") {
		t.Errorf("bad --prometheus-url: exit %d\n%s", r.Code, r.Stderr)
	}
}
