package viz

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/meshmon/meshmon/pkg/change"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

const newURL = "http://prometheus-server.linkerd-viz.svc.cluster.local:9090"

// cluster is the CLI-installed viz and the control plane's heartbeat, from the fixtures.
func cluster(t *testing.T) *kubefake.Clientset {
	t.Helper()
	objs := cliViz(t)
	cp := fixtureObjects(t, "control-plane.yaml")
	objs = append(objs, find[*batchv1.CronJob](t, cp, "linkerd", DefaultHeartbeatName), find[*corev1.Namespace](t, cp, "", "linkerd"))
	return kubefake.NewClientset(objs...)
}

// writes counts the mutating calls made since the last reset.
func writes(kc *kubefake.Clientset) []string {
	var out []string
	for _, a := range kc.Actions() {
		switch a.GetVerb() {
		case "create", "update", "patch", "delete":
			out = append(out, a.GetVerb()+" "+a.GetResource().Resource+" "+a.GetNamespace())
		}
	}
	return out
}

// snapshot is what restore must put back: spec and metadata labels and annotations of every
// object configure touches.
type snapshot struct {
	NSAnnotations map[string]string
	NSLabels      map[string]string
	Deployments   map[string]objectState
	CronJob       objectState
}

type objectState struct {
	Labels, Annotations map[string]string
	Spec                any
}

func take(t *testing.T, kc *kubefake.Clientset, ns string) snapshot {
	t.Helper()
	ctx := context.Background()
	n, err := kc.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The API server omits an empty map; the fake keeps it.
	s := snapshot{NSAnnotations: nilIfEmpty(n.Annotations), NSLabels: nilIfEmpty(n.Labels), Deployments: map[string]objectState{}}
	for _, name := range []string{MetricsAPIName, BundledPrometheus} {
		d, err := kc.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		s.Deployments[name] = objectState{d.Labels, d.Annotations, d.Spec}
	}
	if cj, err := kc.BatchV1().CronJobs("linkerd").Get(ctx, DefaultHeartbeatName, metav1.GetOptions{}); err == nil {
		s.CronJob = objectState{cj.Labels, cj.Annotations, cj.Spec}
	}
	return s
}

func containerArgs(t *testing.T, pod corev1.PodSpec, name string) []string {
	t.Helper()
	for _, c := range pod.Containers {
		if c.Name == name {
			return c.Args
		}
	}
	t.Fatalf("no container %s", name)
	return nil
}

func TestConfigureRestoreCLIRoundTrip(t *testing.T) {
	ctx := context.Background()
	kc := cluster(t)
	c := Clients{Kube: kc}
	before := take(t, kc, "linkerd-viz")
	opts := Options{Namespace: "linkerd-viz", PrometheusURL: newURL, Heartbeat: true}

	plan, err := Plan(ctx, c, opts)
	if err != nil {
		t.Fatal(err)
	}
	if w := writes(kc); len(w) != 0 {
		t.Fatalf("Plan wrote to the cluster: %v", w)
	}
	var sawPatch bool
	for _, ch := range plan {
		if !ch.DryRun {
			t.Errorf("planned change %+v is not marked dryRun", ch)
		}
		if ch.Kind == "Deployment" && ch.Name == MetricsAPIName {
			sawPatch = strings.Contains(ch.Patch, `"op":"test"`) && strings.Contains(ch.Patch, newURL)
		}
	}
	if !sawPatch {
		t.Errorf("the plan does not show metrics-api's JSON patch with a test op and the new URL: %+v", plan)
	}

	changes, err := Configure(ctx, c, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !changes.Changed() {
		t.Fatalf("first configure changed nothing: %+v", changes)
	}
	if changes[0].Kind != "Namespace" || !strings.Contains(changes[0].Detail, AnnotationRecord) {
		t.Errorf("the record must be written first, got %+v", changes[0])
	}

	d, err := kc.AppsV1().Deployments("linkerd-viz").Get(ctx, MetricsAPIName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantArgs := []string{"-controller-namespace=linkerd", "-log-level=info", "-log-format=plain", "-cluster-domain=cluster.local",
		"-prometheus-url=" + newURL, "-enable-pprof=false"}
	if got := containerArgs(t, d.Spec.Template.Spec, MetricsAPIName); !slices.Equal(got, wantArgs) {
		t.Errorf("metrics-api args =\n  %q\nwant\n  %q", got, wantArgs)
	}
	if _, err := kc.AppsV1().Deployments("linkerd-viz").Get(ctx, BundledPrometheus, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("bundled Prometheus still exists (err %v)", err)
	}
	cm, err := kc.CoreV1().ConfigMaps("linkerd-viz").Get(ctx, BackupConfigMap, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("backup ConfigMap: %v", err)
	}
	if !strings.Contains(cm.Data[BackupKey], `"serviceAccountName":"prometheus"`) {
		t.Errorf("backup does not hold the Deployment spec:\n%s", cm.Data[BackupKey])
	}
	ns, _ := kc.CoreV1().Namespaces().Get(ctx, "linkerd-viz", metav1.GetOptions{})
	if ns.Annotations[AnnotationExternalPrometheus] != newURL {
		t.Errorf("namespace annotation = %q", ns.Annotations[AnnotationExternalPrometheus])
	}
	var rec record
	if err := json.Unmarshal([]byte(ns.Annotations[AnnotationRecord]), &rec); err != nil {
		t.Fatalf("record: %v", err)
	}
	if rec.MetricsAPI == nil || !slices.Equal(rec.MetricsAPI.Tokens, []string{"-prometheus-url=http://prometheus.linkerd-viz.svc.cluster.local:9090"}) ||
		rec.Bundled == nil || rec.Bundled.Mode != bundledDeleted || rec.Bundled.Replicas != 1 ||
		rec.ExternalPrometheus == nil || rec.ExternalPrometheus.Set || rec.Heartbeat == nil {
		t.Errorf("record = %s", ns.Annotations[AnnotationRecord])
	}
	cj, _ := kc.BatchV1().CronJobs("linkerd").Get(ctx, DefaultHeartbeatName, metav1.GetOptions{})
	wantHB := []string{"heartbeat", "-controller-namespace=linkerd", "-log-level=info", "-log-format=plain", "-prometheus-url=" + newURL}
	if got := containerArgs(t, cj.Spec.JobTemplate.Spec.Template.Spec, "heartbeat"); !slices.Equal(got, wantHB) {
		t.Errorf("heartbeat args = %q, want %q", got, wantHB)
	}

	kc.ClearActions()
	again, err := Configure(ctx, c, opts)
	if err != nil {
		t.Fatal(err)
	}
	if again.Changed() {
		t.Errorf("second configure changed something: %+v", again)
	}
	for _, ch := range again {
		if ch.Action != change.Unchanged {
			t.Errorf("second configure: %s %s is %q, want unchanged", ch.Kind, ch.Name, ch.Action)
		}
	}
	if w := writes(kc); len(w) != 0 {
		t.Errorf("second configure wrote: %v", w)
	}

	kc.ClearActions()
	if _, err := PlanRestore(ctx, c, RestoreOptions{Namespace: "linkerd-viz"}); err != nil {
		t.Fatal(err)
	}
	if w := writes(kc); len(w) != 0 {
		t.Fatalf("PlanRestore wrote: %v", w)
	}
	restored, err := Restore(ctx, c, RestoreOptions{Namespace: "linkerd-viz"})
	if err != nil {
		t.Fatal(err)
	}
	if !restored.Changed() {
		t.Errorf("restore changed nothing: %+v", restored)
	}
	if d := jsonDiff(t, take(t, kc, "linkerd-viz"), before); len(d) > 0 {
		t.Errorf("restore did not put back the original state (after != before):\n%s", strings.Join(d, "\n"))
	}
	if _, err := kc.CoreV1().ConfigMaps("linkerd-viz").Get(ctx, BackupConfigMap, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("backup ConfigMap left behind (err %v)", err)
	}

	kc.ClearActions()
	none, err := Restore(ctx, c, RestoreOptions{Namespace: "linkerd-viz"})
	if err != nil {
		t.Fatal(err)
	}
	if len(none) != 1 || none[0].Action != change.Absent || len(writes(kc)) != 0 {
		t.Errorf("a second restore should do nothing; got %+v, writes %v", none, writes(kc))
	}
}

func TestKeepBundledThenRemove(t *testing.T) {
	ctx := context.Background()
	kc := cluster(t)
	c := Clients{Kube: kc}
	before := take(t, kc, "linkerd-viz")

	if _, err := Configure(ctx, c, Options{Namespace: "linkerd-viz", PrometheusURL: newURL, KeepBundled: true}); err != nil {
		t.Fatal(err)
	}
	d, err := kc.AppsV1().Deployments("linkerd-viz").Get(ctx, BundledPrometheus, metav1.GetOptions{})
	if err != nil || *d.Spec.Replicas != 0 {
		t.Fatalf("--keep-bundled: Deployment %v, err %v; want it kept at 0 replicas", d.Spec.Replicas, err)
	}
	// Changing one's mind: removing it now must still restore the original replica count.
	changes, err := Configure(ctx, c, Options{Namespace: "linkerd-viz", PrometheusURL: newURL})
	if err != nil {
		t.Fatal(err)
	}
	if a := actionOf(changes, "Deployment", BundledPrometheus); a != change.Deleted {
		t.Errorf("bundled Prometheus: %q, want deleted", a)
	}
	if _, err := Restore(ctx, c, RestoreOptions{Namespace: "linkerd-viz"}); err != nil {
		t.Fatal(err)
	}
	if d := jsonDiff(t, take(t, kc, "linkerd-viz"), before); len(d) > 0 {
		t.Errorf("restore after scale-then-delete differs from the original (after != before):\n%s", strings.Join(d, "\n"))
	}
}

func actionOf(cs change.Changes, kind, name string) change.Action {
	for _, c := range cs {
		if c.Kind == kind && c.Name == name {
			return c.Action
		}
	}
	return ""
}

// Restore undoes only what is still meshmon's: an edit made since configure survives.
func TestRestoreLeavesLaterEditsAlone(t *testing.T) {
	ctx := context.Background()
	kc := cluster(t)
	c := Clients{Kube: kc}
	if _, err := Configure(ctx, c, Options{Namespace: "linkerd-viz", PrometheusURL: newURL, KeepBundled: true}); err != nil {
		t.Fatal(err)
	}
	d, _ := kc.AppsV1().Deployments("linkerd-viz").Get(ctx, MetricsAPIName, metav1.GetOptions{})
	d.Spec.Template.Spec.Containers[0].Args = setFlag(d.Spec.Template.Spec.Containers[0].Args, PrometheusURLFlag, "http://someone-else:9090")
	if _, err := kc.AppsV1().Deployments("linkerd-viz").Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	changes, err := Restore(ctx, c, RestoreOptions{Namespace: "linkerd-viz"})
	if err != nil {
		t.Fatal(err)
	}
	if a := actionOf(changes, "Deployment", MetricsAPIName); a != change.Kept {
		t.Errorf("metrics-api: %q, want kept", a)
	}
	d, _ = kc.AppsV1().Deployments("linkerd-viz").Get(ctx, MetricsAPIName, metav1.GetOptions{})
	if f := findFlag(d.Spec.Template.Spec.Containers[0].Args, PrometheusURLFlag); f.value != "http://someone-else:9090" {
		t.Errorf("restore clobbered a later edit: %q", f.value)
	}
	b, _ := kc.AppsV1().Deployments("linkerd-viz").Get(ctx, BundledPrometheus, metav1.GetOptions{})
	if *b.Spec.Replicas != 1 {
		t.Errorf("bundled Prometheus replicas = %d, want 1 back", *b.Spec.Replicas)
	}
}

// A write that fails half-way leaves the record, so restore still puts everything back.
func TestInterruptedConfigureIsRestorable(t *testing.T) {
	ctx := context.Background()
	kc := cluster(t)
	before := take(t, kc, "linkerd-viz")
	kc.PrependReactor("delete", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(appsv1.Resource("deployments"), BundledPrometheus, nil)
	})
	c := Clients{Kube: kc}
	done, err := Configure(ctx, c, Options{Namespace: "linkerd-viz", PrometheusURL: newURL})
	if err == nil || !strings.Contains(err.Error(), "permission denied: cannot delete Deployment linkerd-viz/prometheus") {
		t.Fatalf("Configure error = %v, want the denied delete", err)
	}
	if len(done) == 0 || done[0].Kind != "Namespace" {
		t.Errorf("the changes made before the failure are not reported: %+v", done)
	}
	kc.ReactionChain = kc.ReactionChain[1:]
	if _, err := Restore(ctx, c, RestoreOptions{Namespace: "linkerd-viz"}); err != nil {
		t.Fatal(err)
	}
	if d := jsonDiff(t, take(t, kc, "linkerd-viz"), before); len(d) > 0 {
		t.Errorf("restore after an interrupted configure differs from the original (after != before):\n%s", strings.Join(d, "\n"))
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Namespace: "linkerd-viz", PrometheusURL: newURL}, ""},
		{Options{Namespace: "linkerd-viz", PrometheusURL: "prometheus:9090"}, "want http(s)://host:port"},
		{Options{Namespace: "linkerd-viz", PrometheusURL: ""}, "URL is empty"},
		{Options{Namespace: "Linkerd_Viz", PrometheusURL: newURL}, "invalid viz namespace"},
	} {
		err := tc.opts.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.opts, err, tc.want)
		}
	}
}

func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// An uninstall of one release passes its Prometheus as the Owner: a configuration that
// points linkerd-viz at another Prometheus is refused with nothing written.
func TestRestoreOnlyForItsOwner(t *testing.T) {
	ctx := context.Background()
	kc := cluster(t)
	c := Clients{Kube: kc}
	const url = "http://meshmon-prometheus-server.monitoring.svc.cluster.local:9090"
	if _, err := Configure(ctx, c, Options{Namespace: "linkerd-viz", PrometheusURL: url}); err != nil {
		t.Fatal(err)
	}
	configured := take(t, kc, "linkerd-viz")
	for _, other := range []Owner{
		{Release: "meshmon", Namespace: "team-a", Service: "meshmon-prometheus-server"},
		{Release: "other", Namespace: "monitoring", Service: "other-prometheus-server"},
		{Release: "meshmon", Namespace: "monitoring"}, // a release that has no Service owns nothing
	} {
		kc.ClearActions()
		_, err := Restore(ctx, c, RestoreOptions{Namespace: "linkerd-viz", Owner: &other})
		if !errors.Is(err, ErrOtherPrometheus) {
			t.Fatalf("restore for %s: %v, want ErrOtherPrometheus", other, err)
		}
		if !strings.Contains(err.Error(), url) || !strings.Contains(err.Error(), other.String()) {
			t.Errorf("the refusal names neither the configured URL nor the owner: %v", err)
		}
		if w := writes(kc); len(w) > 0 {
			t.Errorf("restore for %s wrote %v", other, w)
		}
	}
	if got := take(t, kc, "linkerd-viz"); !reflect.DeepEqual(got, configured) {
		t.Error("a refused restore changed linkerd-viz")
	}
	if _, err := Restore(ctx, c, RestoreOptions{Namespace: "linkerd-viz", Owner: &Owner{Release: "meshmon", Namespace: "monitoring", Service: "meshmon-prometheus-server"}}); err != nil {
		t.Fatalf("restore for the owner: %v", err)
	}
	d, _ := kc.AppsV1().Deployments("linkerd-viz").Get(ctx, MetricsAPIName, metav1.GetOptions{})
	if f := findFlag(d.Spec.Template.Spec.Containers[0].Args, PrometheusURLFlag); f.value == url {
		t.Errorf("the owner's restore left metrics-api on %s", url)
	}
}

func TestOwnerOwns(t *testing.T) {
	owner := Owner{Release: "meshmon", Namespace: "monitoring", Service: "meshmon-prometheus-server"}
	for _, tc := range []struct {
		owner Owner
		url   string
		want  bool
	}{
		{owner, "http://meshmon-prometheus-server.monitoring.svc.cluster.local:9090", true},
		{owner, "http://meshmon-prometheus-server.monitoring.svc.example.org", true},
		{owner, "http://meshmon-prometheus-server.monitoring.svc:9090", true},
		{owner, "http://meshmon-prometheus-server.monitoring:9090", true},
		{owner, "http://prometheus-server.monitoring.svc.cluster.local:9090", false},
		{owner, "http://meshmon-prometheus-server.team-a.svc.cluster.local:9090", false},
		{owner, "http://meshmon-prometheus-server.monitoring.example.com:9090", false},
		{owner, "http://10.0.0.7:9090", false},
		{owner, "::not a url", false},
		{Owner{Release: "meshmon", Namespace: "monitoring"}, "http://meshmon-prometheus-server.monitoring.svc.cluster.local:9090", false},
	} {
		if got := tc.owner.Owns(tc.url); got != tc.want {
			t.Errorf("%s owns %s: %v, want %v", tc.owner, tc.url, got, tc.want)
		}
	}
}
