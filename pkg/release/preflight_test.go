package release

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshmon/meshmon/pkg/linkerd"
)

func fixtureLinkerdConfig(t *testing.T) *corev1.ConfigMap {
	t.Helper()
	var cm corev1.ConfigMap
	raw, _ := json.Marshal(findDoc(t, fixtureDocs(t, "linkerd", "control-plane.yaml"), "ConfigMap", linkerd.ConfigMapName))
	if err := json.Unmarshal(raw, &cm); err != nil {
		t.Fatal(err)
	}
	return &cm
}

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func storageClass(name string, isDefault bool) *storagev1.StorageClass {
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: "kubernetes.io/no-provisioner"}
	if isDefault {
		sc.Annotations = map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}
	}
	return sc
}

// healthyCluster has Linkerd, viz and a default storage class.
func healthyCluster(t *testing.T) []runtime.Object {
	return []runtime.Object{fixtureLinkerdConfig(t), namespace("linkerd"), namespace("linkerd-viz"), storageClass("standard", true)}
}

// allowAccess answers every SelfSubjectAccessReview with allowed unless deny says no.
func allowAccess(kc *fake.Clientset, deny func(authv1.SelfSubjectAccessReviewSpec) bool) *int {
	asked := 0
	kc.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authv1.SelfSubjectAccessReview)
		asked++
		r.Status.Allowed = deny == nil || !deny(r.Spec)
		return true, r, nil
	})
	return &asked
}

// preflightTarget keeps Helm's releases in Secrets of the fake cluster, as the real
// driver does, so that access to them is what the cluster allows.
func preflightTarget(t *testing.T, objs ...runtime.Object) (*Target, *fake.Clientset) {
	tg, _ := memTarget(t)
	kc := fake.NewClientset(objs...)
	tg.Kube = kc
	tg.Helm.Releases = storage.Init(driver.NewSecrets(kc.CoreV1().Secrets(tg.Namespace)))
	return tg, kc
}

func defaultPreflight(t *testing.T) PreflightOptions {
	return PreflightOptions{LinkerdNamespace: "linkerd", VizNamespace: "linkerd-viz", Manifest: testPlan(t, nil).Manifest}
}

func failed(results []PreflightResult) map[string]string {
	out := map[string]string{}
	for _, r := range results {
		if !r.OK() {
			out[r.Description] = r.Err.Error()
		}
	}
	return out
}

func TestPreflightPasses(t *testing.T) {
	tg, kc := preflightTarget(t, healthyCluster(t)...)
	asked := allowAccess(kc, nil)
	results := Preflight(context.Background(), tg, defaultPreflight(t))
	if f := failed(results); len(f) != 0 {
		t.Fatalf("a healthy cluster fails preflight: %v", f)
	}
	if err := PreflightFailures(results); err != nil {
		t.Fatal(err)
	}
	var descs []string
	for _, r := range results {
		descs = append(descs, r.Description)
	}
	all := strings.Join(descs, "\n")
	for _, want := range []string{
		"can reach the Kubernetes API",
		"Linkerd control plane is installed in namespace linkerd",
		"linkerd-viz namespace linkerd-viz exists",
		"a default storage class exists",
		"release prometheus is not stuck in a pending state",
		"can get, list, watch, create, patch and delete ClusterRoles cluster-wide",
		"can get, list, watch, create, patch and delete ClusterRoleBindings cluster-wide",
		"can get, list, watch, create, patch and delete PersistentVolumeClaims in namespace linkerd-viz",
		"can get, list, watch, create, patch and delete Deployments in namespace linkerd-viz",
		"can get, list, create, update and delete Secrets in namespace linkerd-viz",
		"can grant ClusterRole linkerd-viz-prometheus-server's permissions to Prometheus",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("preflight lacks %q; it checked:\n%s", want, all)
		}
	}
	t.Logf("%d access reviews", *asked)
	if *asked < 20 {
		t.Errorf("only %d access reviews; every verb on every kind must be asked", *asked)
	}
	if strings.Contains(all, "namespace linkerd-viz exists\nnamespace") {
		t.Error("the install namespace, which is the viz namespace, was checked twice")
	}
}

// Every problem is reported together, each with its fix.
func TestPreflightCollectsEveryFailure(t *testing.T) {
	tg, kc := preflightTarget(t, namespace("linkerd-viz"), storageClass("slow", false))
	tg.Namespace = "monitoring"
	allowAccess(kc, func(s authv1.SelfSubjectAccessReviewSpec) bool {
		return s.ResourceAttributes != nil && s.ResourceAttributes.Resource == "clusterroles" && s.ResourceAttributes.Verb == "create"
	})
	o := defaultPreflight(t)
	o.StorageClass = "fast"
	err := PreflightFailures(Preflight(context.Background(), tg, o))
	var pe *PreflightError
	if !errors.As(err, &pe) {
		t.Fatalf("PreflightFailures = %v", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"nothing was changed",
		`Linkerd is not installed in namespace "linkerd"`, "-L/--linkerd-namespace",
		"namespace monitoring does not exist", "kubectl create namespace monitoring",
		`storage class "fast" does not exist`, "available: slow",
		"you may not create clusterroles.rbac.authorization.k8s.io", "ask a cluster administrator",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("the report lacks %q:\n%s", want, msg)
		}
	}
	if len(pe.Failed) != 4 {
		t.Errorf("%d failures, want 4 (Linkerd, namespace, storage class, ClusterRoles):\n%s", len(pe.Failed), msg)
	}
}

func TestPreflightStorageClasses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		class string
		objs  []runtime.Object
		err   string
		skip  bool
	}{
		{name: "no default", objs: []runtime.Object{storageClass("slow", false)}, err: "no default StorageClass"},
		{name: "named exists", class: "slow", objs: []runtime.Object{storageClass("slow", false)}},
		{name: "beta default", objs: []runtime.Object{&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "old", Annotations: map[string]string{"storageclass.beta.kubernetes.io/is-default-class": "true"}}}}},
		{name: "none needed", class: "-", skip: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg, _ := preflightTarget(t, tc.objs...)
			r, ok := checkStorageClass(context.Background(), tg, tc.class)
			if ok == tc.skip {
				t.Fatalf("checked = %v", ok)
			}
			if tc.err == "" && !r.OK() || tc.err != "" && (r.OK() || !strings.Contains(r.Err.Error(), tc.err)) {
				t.Errorf("result %+v, want error %q", r, tc.err)
			}
		})
	}
}

func TestPreflightUnreachable(t *testing.T) {
	tg, kc := preflightTarget(t)
	kc.PrependReactor("get", "version", func(k8stesting.Action) (bool, runtime.Object, error) {
		// What client-go returns when nothing listens.
		return true, nil, &url.Error{Op: "Get", URL: "https://127.0.0.1:6443/version", Err: syscall.ECONNREFUSED}
	})
	results := Preflight(context.Background(), tg, defaultPreflight(t))
	if len(results) != 1 || results[0].OK() || !strings.Contains(results[0].Err.Error(), "--context/--kubeconfig") ||
		!strings.Contains(results[0].Err.Error(), "Kubernetes API server") {
		t.Errorf("unreachable cluster: %+v", results)
	}
}

func TestPreflightForbiddenReads(t *testing.T) {
	tg, kc := preflightTarget(t, healthyCluster(t)...)
	allowAccess(kc, func(authv1.SelfSubjectAccessReviewSpec) bool { return true })
	forbid := func(verb, resource string) {
		kc.PrependReactor(verb, resource, func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: resource}, "", errors.New("no RBAC"))
		})
	}
	forbid("get", "configmaps")
	forbid("list", "secrets")
	forbid("list", "storageclasses")
	f := failed(Preflight(context.Background(), tg, defaultPreflight(t)))
	for desc, want := range map[string]string{
		"Linkerd control plane is installed in namespace linkerd":                         "permission denied: cannot get configmaps",
		"release prometheus is not stuck in a pending state":                              "meshmon needs list on secrets",
		"a default storage class exists":                                                  "permission denied: cannot list storageclasses",
		"can grant ClusterRole linkerd-viz-prometheus-server's permissions to Prometheus": "escalate and bind",
	} {
		if !strings.Contains(f[desc], want) {
			t.Errorf("%s: %q, want it to say %q", desc, f[desc], want)
		}
	}
}

// Holding escalate and bind is enough to create a ClusterRole one does not hold.
func TestPreflightGrantWithEscalate(t *testing.T) {
	tg, kc := preflightTarget(t, healthyCluster(t)...)
	allowAccess(kc, func(s authv1.SelfSubjectAccessReviewSpec) bool {
		return s.NonResourceAttributes != nil || s.ResourceAttributes.Resource == "nodes"
	})
	if f := failed(Preflight(context.Background(), tg, defaultPreflight(t))); len(f) != 0 {
		t.Errorf("escalate and bind did not suffice: %v", f)
	}
}

func TestChartAccessDefaultsAndExtra(t *testing.T) {
	access, err := ChartAccess(context.Background(), "", "linkerd-viz", nil)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, a := range access {
		kinds = append(kinds, a.Kind)
	}
	for _, want := range []string{"ServiceAccounts", "ConfigMaps", "PersistentVolumeClaims", "Services", "Deployments", "ClusterRoles", "ClusterRoleBindings", "Secrets", "Pods", "ReplicaSets"} {
		if !strings.Contains(strings.Join(kinds, ","), want) {
			t.Errorf("default access lacks %s: %v", want, kinds)
		}
	}
	_, err = ChartAccess(context.Background(), "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n", "ns", nil)
	if err == nil || !strings.Contains(err.Error(), "Widget") {
		t.Errorf("an unknown kind without a mapper: %v", err)
	}
}

func TestPreflightExistingVolume(t *testing.T) {
	expandable := storageClass("expandable", false)
	yes := true
	expandable.AllowVolumeExpansion = &yes
	resizable := claim("prometheus-server", true, corev1.ClaimBound, "pv")
	resizable.Spec.StorageClassName = &expandable.Name
	for _, tc := range []struct {
		name        string
		claim       *corev1.PersistentVolumeClaim
		size        string
		statefulSet bool
		err         string
		warning     bool
	}{
		{name: "same size", claim: claim("prometheus-server", true, corev1.ClaimBound, "pv"), size: "20Gi"},
		{name: "shrink", claim: claim("prometheus-server", true, corev1.ClaimBound, "pv"), size: "10Gi", err: "never shrinks a claim; keep --storage-size 20Gi"},
		{name: "grow without expansion", claim: claim("prometheus-server", true, corev1.ClaimBound, "pv"), size: "30Gi", err: "storage class standard does not allow volume expansion"},
		{name: "grow with expansion", claim: resizable, size: "30Gi"},
		{name: "grow StatefulSet", claim: claim("storage-volume-prometheus-server-0", false, corev1.ClaimBound, "pv"), size: "30Gi", statefulSet: true, err: "the StatefulSet takes it as it is"},
		{name: "switch to StatefulSet", claim: claim("prometheus-server", true, corev1.ClaimBound, "pv"), size: "20Gi", statefulSet: true, err: "new, empty volume", warning: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg, _ := preflightTarget(t, tc.claim, storageClass("standard", true), expandable)
			results := checkVolumes(context.Background(), tg, PreflightOptions{StorageSize: tc.size, StatefulSet: tc.statefulSet})
			if len(results) != 1 {
				t.Fatalf("results = %+v", results)
			}
			r := results[0]
			switch {
			case tc.err == "" && r.Err != nil:
				t.Errorf("unexpected error: %v", r.Err)
			case tc.err != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), tc.err)):
				t.Errorf("error = %v, want %q", r.Err, tc.err)
			case r.Warning != tc.warning || r.OK() != (tc.err == "" || tc.warning):
				t.Errorf("warning %v, ok %v", r.Warning, r.OK())
			}
		})
	}
	tg, _ := preflightTarget(t)
	if r := checkVolumes(context.Background(), tg, PreflightOptions{StorageSize: "20Gi"}); len(r) != 0 {
		t.Errorf("no volume yet, yet %+v", r)
	}
}

// A check whose reads never return (an API server that stops answering) ends at its own
// deadline with the deadline error, and the checks after it still run.
func TestPreflightCheckDeadline(t *testing.T) {
	tg, kc := preflightTarget(t, healthyCluster(t)...)
	allowAccess(kc, func(authv1.SelfSubjectAccessReviewSpec) bool { return true })
	o := defaultPreflight(t)
	o.CheckTimeout = 50 * time.Millisecond
	ran := false
	o.Steps = []func(context.Context) PreflightResult{
		func(ctx context.Context) PreflightResult {
			<-ctx.Done()
			return PreflightResult{Description: "stalled", Err: ctx.Err()}
		},
		func(ctx context.Context) PreflightResult {
			ran = ctx.Err() == nil
			return PreflightResult{Description: "after"}
		},
	}
	f := failed(Preflight(context.Background(), tg, o))
	if !strings.Contains(f["stalled"], "context deadline exceeded") {
		t.Errorf("the stalled check: %q (all failures: %v)", f["stalled"], f)
	}
	if !ran {
		t.Error("the check after the stalled one ran with an expired context")
	}
}
