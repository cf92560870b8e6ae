package viz

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	k8stesting "k8s.io/client-go/testing"
)

// cancelOn makes the first verb on resource cancel ctx and fail as an interrupted request does.
func cancelOn(kc interface {
	PrependReactor(verb, resource string, fn k8stesting.ReactionFunc)
}, verb, resource string, cancel context.CancelFunc) {
	fired := false
	kc.PrependReactor(verb, resource, func(k8stesting.Action) (bool, runtime.Object, error) {
		if fired {
			return false, nil, nil
		}
		fired = true
		cancel()
		return true, nil, context.Canceled
	})
}

// Ctrl-C half-way through a first configure: what was written is put back before Configure
// returns, so linkerd-viz is as it was and no record is left.
func TestInterruptedConfigurePutsVizBack(t *testing.T) {
	kc := cluster(t)
	before := take(t, kc, "linkerd-viz")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The record, metrics-api's flag and the backup copy are written; the bundled
	// Prometheus' delete is interrupted.
	cancelOn(kc, "delete", "deployments", cancel)
	done, err := Configure(ctx, Clients{Kube: kc}, Options{Namespace: "linkerd-viz", PrometheusURL: newURL})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "put back") {
		t.Fatalf("Configure error = %v, want an interruption saying viz was put back", err)
	}
	if len(done) != 0 {
		t.Errorf("changes reported as made although they were undone: %+v", done)
	}
	if d := jsonDiff(t, take(t, kc, "linkerd-viz"), before); len(d) > 0 {
		t.Errorf("linkerd-viz after an interrupted configure differs from before (after != before):\n%s", strings.Join(d, "\n"))
	}
	if _, err := kc.CoreV1().ConfigMaps("linkerd-viz").Get(context.Background(), BackupConfigMap, metav1.GetOptions{}); err == nil {
		t.Errorf("ConfigMap %s is left behind", BackupConfigMap)
	}
}

// An interrupted configure of a viz meshmon configured before keeps the record of the state
// before meshmon: restoring it would undo more than the interrupted run did.
func TestInterruptedReconfigureKeepsRecord(t *testing.T) {
	kc := cluster(t)
	c := Clients{Kube: kc}
	if _, err := Configure(context.Background(), c, Options{Namespace: "linkerd-viz", PrometheusURL: newURL}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancelOn(kc, "patch", "deployments", cancel)
	const other = "http://prometheus-server.monitoring.svc.cluster.local:9090"
	_, err := Configure(ctx, c, Options{Namespace: "linkerd-viz", PrometheusURL: other})
	if !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "put back") {
		t.Fatalf("Configure error = %v, want the interruption without an undo", err)
	}
	ns, err := kc.CoreV1().Namespaces().Get(context.Background(), "linkerd-viz", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ns.Annotations[AnnotationRecord]; !ok {
		t.Errorf("the record of the state before meshmon is gone: %v", ns.Annotations)
	}
	d, _ := kc.AppsV1().Deployments("linkerd-viz").Get(context.Background(), MetricsAPIName, metav1.GetOptions{})
	if f := findFlag(d.Spec.Template.Spec.Containers[0].Args, PrometheusURLFlag); f.value != newURL {
		t.Errorf("metrics-api -prometheus-url = %q, want the earlier configure's %q", f.value, newURL)
	}
}

// A writer that changes metrics-api between configure's read and its patch (a kubectl apply
// of the viz manifest): the JSON patch's test of the old args fails, nothing is overwritten,
// and the error says a concurrent change happened and to run the command again.
func TestConfigureRacingAnApply(t *testing.T) {
	kc := cluster(t)
	gvr := appsv1.SchemeGroupVersion.WithResource("deployments")
	var theirs []string
	raced := false
	kc.PrependReactor("patch", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if raced || a.(k8stesting.PatchAction).GetName() != MetricsAPIName {
			return false, nil, nil
		}
		raced = true
		o, err := kc.Tracker().Get(gvr, "linkerd-viz", MetricsAPIName)
		if err != nil {
			return true, nil, err
		}
		d := o.(*appsv1.Deployment).DeepCopy()
		ct := &d.Spec.Template.Spec.Containers[0]
		ct.Args = append(slices.Clone(ct.Args), "-log-level=debug")
		theirs = ct.Args
		// The concurrent write lands first; the patch then runs against it (false: the
		// fake's own JSON patch handling applies it).
		return false, nil, kc.Tracker().Update(gvr, d, "linkerd-viz")
	})
	_, err := Configure(context.Background(), Clients{Kube: kc}, Options{Namespace: "linkerd-viz", PrometheusURL: newURL})
	if !raced {
		t.Fatal("configure never patched metrics-api")
	}
	for _, want := range []string{"patch Deployment linkerd-viz/metrics-api", "concurrent change", "run the command again"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Configure error = %v, want %q", err, want)
		}
	}
	d, _ := kc.AppsV1().Deployments("linkerd-viz").Get(context.Background(), MetricsAPIName, metav1.GetOptions{})
	if got := d.Spec.Template.Spec.Containers[0].Args; !slices.Equal(got, theirs) {
		t.Errorf("metrics-api args = %q, want the concurrent writer's %q", got, theirs)
	}
}

// The real API server answers a failed test operation with a bare 422 that drops json-patch's
// text (found by e2e/faults: the race was reported as a plain "the server rejected our request").
func TestTestFailedAsTheAPIServerSaysIt(t *testing.T) {
	err := apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", schema.GroupResource{}, "",
		"testing value /spec/template/spec/containers/0/args failed: test failed", 0, false)
	if !isTestFailed(err) {
		t.Errorf("isTestFailed(%v) = false", err)
	}
	msg := writeError("patch", "Deployment", "linkerd-viz", MetricsAPIName, err).Error()
	for _, want := range []string{"concurrent change", "run the command again"} {
		if !strings.Contains(msg, want) {
			t.Errorf("writeError = %q, want %q", msg, want)
		}
	}
	invalid := apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "Deployment"}, MetricsAPIName,
		field.ErrorList{field.Invalid(field.NewPath("spec", "template", "spec", "containers").Index(0).Child("args"), "x", "bad")})
	if isTestFailed(invalid) {
		t.Errorf("isTestFailed took a validation failure for a concurrent change: %v", invalid)
	}
}
