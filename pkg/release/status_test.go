package release

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/meshmon/meshmon/pkg/defaults"
)

func serverLabels(release string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/component": "server",
		"app.kubernetes.io/name":      "prometheus",
		"app.kubernetes.io/instance":  release,
	}
}

// claim is a PVC of the release as the chart (helmOwned) or a StatefulSet makes it.
func claim(name string, helmOwned bool, phase corev1.PersistentVolumeClaimPhase, volume string) *corev1.PersistentVolumeClaim {
	class := "standard"
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "linkerd-viz", UID: types.UID("uid-" + name), Labels: serverLabels(defaults.ReleaseName)},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: &class,
			VolumeName:       volume,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("20Gi")}},
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: phase},
	}
	if helmOwned {
		pvc.Annotations = map[string]string{KeepAnnotation: keepValue, "meta.helm.sh/release-name": defaults.ReleaseName}
	}
	if phase == corev1.ClaimBound {
		pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("50Gi")}
	}
	return pvc
}

func volume(name string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.PersistentVolumeSpec{PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain},
	}
}

func statefulServer(ready int32) []runtime.Object {
	l := serverLabels(defaults.ReleaseName)
	one := int32(1)
	return []runtime.Object{
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "prometheus-server-headless", Namespace: "linkerd-viz", Labels: l},
			Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "prometheus-server", Namespace: "linkerd-viz", Labels: l},
			Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.10", Ports: []corev1.ServicePort{{Name: "http", Port: 9090}}}},
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "prometheus-server", Namespace: "linkerd-viz", Labels: l},
			Spec: appsv1.StatefulSetSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: l},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l}, Spec: corev1.PodSpec{ServiceAccountName: "prometheus-server"}}},
			Status: appsv1.StatefulSetStatus{ReadyReplicas: ready, UpdatedReplicas: ready, Replicas: ready}},
		claim("storage-volume-prometheus-server-0", false, corev1.ClaimBound, "meshmon-pv-3"),
		volume("meshmon-pv-3"),
	}
}

func TestStatusStatefulSet(t *testing.T) {
	tg, _ := memTarget(t)
	mustApply(t, tg, testPlan(t, func(o *ValuesOptions) { o.StatefulSet = true }))
	tg.Kube = fake.NewClientset(statefulServer(1)...)

	s, err := GetStatus(context.Background(), tg, "cluster.local")
	if err != nil {
		t.Fatal(err)
	}
	if s.Revision != 1 || s.Status != "deployed" || s.Chart != "prometheus" || s.ChartVersion != "29.27.0" || s.AppVersion != "v3.14.0" {
		t.Errorf("release fields: %+v", s)
	}
	if time.Since(s.LastDeploy) > time.Minute {
		t.Errorf("last deployed %s", s.LastDeploy)
	}
	// The headless Service of StatefulSet mode must not confuse the URL.
	if s.URL != "http://prometheus-server.linkerd-viz.svc.cluster.local:9090" {
		t.Errorf("URL = %s", s.URL)
	}
	if s.Workload == nil || *s.Workload != (Workload{Kind: "StatefulSet", Name: "prometheus-server", Ready: 1, Desired: 1}) {
		t.Errorf("workload = %+v", s.Workload)
	}
	if len(s.Storage) != 1 {
		t.Fatalf("storage = %+v", s.Storage)
	}
	v := s.Storage[0]
	if v.Claim != "storage-volume-prometheus-server-0" || v.Phase != "Bound" || v.Requested != "20Gi" || v.Capacity != "50Gi" ||
		v.StorageClass != "standard" || v.PersistentVolume != "meshmon-pv-3" || v.ReclaimPolicy != "Retain" || !v.Keep || !v.StatefulSet {
		t.Errorf("volume = %+v", v)
	}

	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range doc {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"appVersion", "chart", "chartVersion", "description", "firstDeployed", "lastDeployed", "namespace", "release", "remoteWrite", "revision", "status", "storage", "url", "workload"}
	if !slices.Equal(keys, want) {
		t.Errorf("status JSON keys = %v, want the documented %v", keys, want)
	}
}

func TestStatusNotInstalled(t *testing.T) {
	tg, _ := memTarget(t)
	_, err := GetStatus(context.Background(), tg, "cluster.local")
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "-n/--release-name") {
		t.Errorf("status of a missing release: %v", err)
	}
}

func TestUninstallKeepsData(t *testing.T) {
	tg, _ := memTarget(t)
	mustApply(t, tg, testPlan(t, nil))
	tg.Kube = fake.NewClientset(claim("prometheus-server", true, corev1.ClaimBound, "meshmon-pv-0"), volume("meshmon-pv-0"))

	var updates []string
	res, err := Uninstall(context.Background(), tg, UninstallOptions{OnStatus: func(s string) { updates = append(updates, s) }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 1 || len(res.Deleted) != 0 || len(res.Kept) != 1 {
		t.Fatalf("uninstall = %+v", res)
	}
	if k := res.Kept[0]; k.Claim != "prometheus-server" || k.UID != "uid-prometheus-server" || !k.Keep || k.PersistentVolume != "meshmon-pv-0" {
		t.Errorf("kept %+v", k)
	}
	if !strings.Contains(res.Kept[0].String(), "20Gi requested, 50Gi bound, class standard, volume meshmon-pv-0 reclaim Retain, Bound") {
		t.Errorf("kept volume description: %s", res.Kept[0])
	}
	if h := history(t, tg); len(h) != 0 {
		t.Errorf("the release is still stored: %v", statuses(h))
	}
	if len(updates) == 0 {
		t.Error("no progress was reported")
	}

	// The release is gone but its volume is not: a second uninstall still finds it, and
	// deletes it when asked.
	res, err = Uninstall(context.Background(), tg, UninstallOptions{DeleteData: true, PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 0 || len(res.Deleted) != 1 || res.Deleted[0].Claim != "prometheus-server" {
		t.Errorf("second uninstall = %+v", res)
	}
	if _, err := tg.Kube.CoreV1().PersistentVolumeClaims("linkerd-viz").Get(context.Background(), "prometheus-server", metav1.GetOptions{}); err == nil {
		t.Error("--delete-data left the PVC")
	}
	if _, err := Uninstall(context.Background(), tg, UninstallOptions{}); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("uninstalling nothing: %v", err)
	}
}

func TestUninstallDeleteDataStatefulSet(t *testing.T) {
	tg, _ := memTarget(t)
	mustApply(t, tg, testPlan(t, func(o *ValuesOptions) { o.StatefulSet = true }))
	tg.Kube = fake.NewClientset(statefulServer(1)...)
	res, err := Uninstall(context.Background(), tg, UninstallOptions{DeleteData: true, PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 1 || res.Deleted[0].Claim != "storage-volume-prometheus-server-0" {
		t.Fatalf("deleted %+v; a StatefulSet's claim must be deleted by meshmon, Helm never does", res.Deleted)
	}
	list, _ := tg.Kube.CoreV1().PersistentVolumeClaims("linkerd-viz").List(context.Background(), metav1.ListOptions{})
	if len(list.Items) != 0 {
		t.Errorf("claims left: %d", len(list.Items))
	}
}

func TestDescribeWaiting(t *testing.T) {
	ctx := context.Background()
	if got := describeWaiting(ctx, fake.NewClientset(), "linkerd-viz", defaults.ReleaseName); got != "waiting for the server's objects to appear" {
		t.Errorf("nothing created yet: %q", got)
	}
	l := serverLabels(defaults.ReleaseName)
	one := int32(1)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "prometheus-server", Namespace: "linkerd-viz", Labels: l, Generation: 1},
		Spec:   appsv1.DeploymentSpec{Replicas: &one},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1}}
	pending := claim("prometheus-server", true, corev1.ClaimPending, "")
	got := describeWaiting(ctx, fake.NewClientset(dep, pending), "linkerd-viz", defaults.ReleaseName)
	want := "waiting for PVC prometheus-server to bind (Pending, storage class standard); waiting for Deployment prometheus-server: 0/1 ready"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	dep.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1}
	bound := claim("prometheus-server", true, corev1.ClaimBound, "pv")
	if got := describeWaiting(ctx, fake.NewClientset(dep, bound), "linkerd-viz", defaults.ReleaseName); !strings.HasPrefix(got, "server ready") {
		t.Errorf("everything ready: %q", got)
	}
	dep.Generation = 2
	if got := describeWaiting(ctx, fake.NewClientset(dep, bound), "linkerd-viz", defaults.ReleaseName); got != "waiting for Deployment prometheus-server to pick up the change" {
		t.Errorf("new generation: %q", got)
	}
	dep.Status = appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 1, UpdatedReplicas: 0, ReadyReplicas: 1}
	if got := describeWaiting(ctx, fake.NewClientset(dep, bound), "linkerd-viz", defaults.ReleaseName); got != "waiting for Deployment prometheus-server to roll out the change: 0/1 pods updated" {
		t.Errorf("rolling out: %q", got)
	}
	if got := describeWaiting(ctx, fake.NewClientset(statefulServer(0)...), "linkerd-viz", defaults.ReleaseName); got != "waiting for StatefulSet prometheus-server: 0/1 ready" {
		t.Errorf("StatefulSet: %q", got)
	}
}

// Apply feeds OnStatus from the poll while Helm waits.
func TestApplyReportsProgress(t *testing.T) {
	tg, k := memTarget(t)
	tg.Kube = fake.NewClientset(claim("prometheus-server", true, corev1.ClaimPending, ""))
	k.script(waitOutcome{block: true})
	got := make(chan string, 100)
	done := make(chan error, 1)
	go func() {
		_, err := Apply(context.Background(), tg, testPlan(t, nil), ApplyOptions{PollInterval: time.Millisecond, OnStatus: func(s string) { got <- s }})
		done <- err
	}()
	<-k.blocked
	select {
	case s := <-got:
		if !strings.Contains(s, "waiting for PVC prometheus-server to bind") {
			t.Errorf("progress = %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no progress while Helm waited")
	}
	k.blocked <- struct{}{}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
