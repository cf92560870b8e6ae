package checks

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshmon/meshmon/pkg/healthcheck"
	"github.com/meshmon/meshmon/pkg/kube"
)

func TestPVC(t *testing.T) {
	t.Run("emptyDir", func(t *testing.T) {
		f := newFixture(t)
		f.setServerPodSpec(func(s *corev1.PodSpec) {
			s.Volumes[1].VolumeSource = corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
		})
		res := f.run(Options{})
		expect(t, res, "data volume claim is bound", healthcheck.StatusError, `emptyDir volume "storage-volume"`, "server.persistentVolume.enabled=true")
		expect(t, res, "data survived a Prometheus restart", healthcheck.StatusSkipped)
	})
	t.Run("not on a volume", func(t *testing.T) {
		f := newFixture(t)
		f.setServerPodSpec(func(s *corev1.PodSpec) { s.Containers[2].VolumeMounts = s.Containers[2].VolumeMounts[:1] })
		expect(t, f.run(Options{}), "data volume claim is bound", healthcheck.StatusError, "Prometheus writes its data to /data, which is not on any volume")
	})
	t.Run("pending", func(t *testing.T) {
		f := newFixture(t)
		pvc := f.pvc()
		pvc.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
		f.update(pvc)
		res := f.run(Options{})
		expect(t, res, "data volume claim is bound", healthcheck.StatusError, `prometheus-server is Pending (asks for 20Gi of class "standard")`, "kubectl describe pvc -n linkerd-viz")
		expect(t, res, "volume is at least as large as requested", healthcheck.StatusSkipped)
		// The class is judged anyway: it is the usual reason for Pending.
		expect(t, res, "storage class exists", healthcheck.StatusSuccess)
	})
	t.Run("missing", func(t *testing.T) {
		f := newFixture(t)
		f.delete(corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims"), vizNS, serverName)
		expect(t, f.run(Options{}), "data volume claim is bound", healthcheck.StatusError, "prometheus-server does not exist")
	})
	t.Run("too small", func(t *testing.T) {
		f := newFixture(t)
		pvc := f.pvc()
		pvc.Status.Capacity[corev1.ResourceStorage] = resource.MustParse("10Gi")
		f.update(pvc)
		expect(t, f.run(Options{}), "volume is at least as large as requested", healthcheck.StatusError, "prometheus-server has 10Gi, asked for 20Gi")
	})
	t.Run("access modes", func(t *testing.T) {
		f := newFixture(t)
		pvc := f.pvc()
		pvc.Status.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		f.update(pvc)
		expect(t, f.run(Options{}), "volume access mode suits Prometheus", healthcheck.StatusWarning, "ReadWriteMany", "NFS")
		pvc.Status.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany}
		f.update(pvc)
		expect(t, f.run(Options{}), "volume access mode suits Prometheus", healthcheck.StatusError, "Prometheus must write to its volume")
	})
}

func TestStorageClass(t *testing.T) {
	t.Run("missing class", func(t *testing.T) {
		f := newFixture(t)
		f.delete(storagev1.SchemeGroupVersion.WithResource("storageclasses"), "", storageName)
		expect(t, f.run(Options{}), "storage class exists", healthcheck.StatusError, `asks for StorageClass "standard", which does not exist`)
	})
	t.Run("default", func(t *testing.T) {
		f := newFixture(t)
		pvc := f.pvc()
		pvc.Spec.StorageClassName = nil
		f.update(pvc)
		// Two defaults: Kubernetes uses the newest.
		f.create(&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "newer", CreationTimestamp: metav1.NewTime(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)),
			Annotations: map[string]string{kube.DefaultStorageClassAnnotation: "true"}}})
		expect(t, f.run(Options{}), "storage class exists", healthcheck.StatusSuccess, "newer (default)")
		f.delete(storagev1.SchemeGroupVersion.WithResource("storageclasses"), "", storageName)
		f.delete(storagev1.SchemeGroupVersion.WithResource("storageclasses"), "", "newer")
		expect(t, f.run(Options{}), "storage class exists", healthcheck.StatusError, "asks for the default StorageClass, but the cluster has none")
	})
	// Kubernetes' admission plugin still honours the beta annotation, and preflight accepts it,
	// so a default class that carries only that one must pass here too.
	t.Run("default by the beta annotation", func(t *testing.T) {
		f := newFixture(t)
		pvc := f.pvc()
		pvc.Spec.StorageClassName = nil
		f.update(pvc)
		f.delete(storagev1.SchemeGroupVersion.WithResource("storageclasses"), "", storageName)
		f.create(&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "legacy",
			Annotations: map[string]string{kube.BetaDefaultStorageClassAnnotation: "true"}}})
		expect(t, f.run(Options{}), "storage class exists", healthcheck.StatusSuccess, "legacy (default)")
	})
	t.Run("static", func(t *testing.T) {
		f := newFixture(t)
		pvc := f.pvc()
		pvc.Spec.StorageClassName = ptr("")
		f.update(pvc)
		expect(t, f.run(Options{}), "storage class exists", healthcheck.StatusSuccess, "statically provisioned")
	})
}

func TestVolumeKept(t *testing.T) {
	t.Run("reclaim Delete", func(t *testing.T) {
		f := newFixture(t)
		f.update(&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: pvName}, Spec: corev1.PersistentVolumeSpec{PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete}})
		expect(t, f.run(Options{}), "volume is kept when its claim is deleted", healthcheck.StatusWarning, "PersistentVolume pv-data has reclaim policy Delete", `kubectl patch pv pv-data -p '{"spec":{"persistentVolumeReclaimPolicy":"Retain"}}'`)
	})
	t.Run("no keep annotation", func(t *testing.T) {
		f := newFixture(t)
		pvc := f.pvc()
		pvc.Annotations = nil
		f.update(pvc)
		expect(t, f.run(Options{}), "data volume survives helm uninstall", healthcheck.StatusWarning, "lacks the annotation helm.sh/resource-policy=keep", "kubectl annotate pvc prometheus-server -n linkerd-viz helm.sh/resource-policy=keep")
		// A claim the release only mounts (existingClaim) is never deleted by Helm.
		f.releases[0].Manifest = "---\nkind: Service\nmetadata:\n  name: prometheus-server\n"
		expect(t, f.run(Options{}), "data volume survives helm uninstall", healthcheck.StatusSuccess)
	})
}

// statefulServer turns the fixture's server into a StatefulSet with a
// volumeClaimTemplate, the chart's server.statefulSet.enabled=true shape.
func statefulServer(t *testing.T, f *fixture, deleteClaims bool) {
	d := f.deployment(vizNS, serverName)
	f.delete(appsv1.SchemeGroupVersion.WithResource("deployments"), vizNS, serverName)
	spec := d.Spec.Template.Spec
	spec.Volumes = spec.Volumes[:1]
	st := &appsv1.StatefulSet{
		ObjectMeta: d.ObjectMeta,
		Spec: appsv1.StatefulSetSpec{
			Replicas: d.Spec.Replicas, Selector: d.Spec.Selector,
			Template:             corev1.PodTemplateSpec{ObjectMeta: d.Spec.Template.ObjectMeta, Spec: spec},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "storage-volume"}}},
		},
	}
	if deleteClaims {
		st.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType}
	}
	var obj runtime.Object = st
	if err := f.kube.Tracker().Create(appsv1.SchemeGroupVersion.WithResource("statefulsets"), obj, vizNS); err != nil {
		t.Fatal(err)
	}
	pvc := f.pvc()
	pvc.ResourceVersion = ""
	pvc.Name = "storage-volume-prometheus-server-0"
	f.create(pvc)
}

func TestStatefulSet(t *testing.T) {
	f := newFixture(t)
	statefulServer(t, f, false)
	res := f.run(Options{})
	expect(t, res, "data volume claim is bound", healthcheck.StatusSuccess, "storage-volume-prometheus-server-0 (50Gi)")
	expect(t, res, "data volume survives helm uninstall", healthcheck.StatusSuccess)

	f = newFixture(t)
	statefulServer(t, f, true)
	expect(t, f.run(Options{}), "data volume survives helm uninstall", healthcheck.StatusWarning, "persistentVolumeClaimRetentionPolicy.whenDeleted: Delete", "pvcDeleteOnStsDelete=false")
}

func TestRetentionSize(t *testing.T) {
	setArgs := func(f *fixture, args ...string) {
		f.setServerPodSpec(func(s *corev1.PodSpec) { s.Containers[2].Args = args })
	}
	f := newFixture(t)
	setArgs(f, "--storage.tsdb.path=/data")
	expect(t, f.run(Options{}), "size-based retention fits the volume", healthcheck.StatusWarning, "no size-based retention is set", "about 90% of the volume (46080MB")
	setArgs(f, "--storage.tsdb.path=/data", "--storage.tsdb.retention.size=49GB")
	expect(t, f.run(Options{}), "size-based retention fits the volume", healthcheck.StatusWarning, "retention size 49GB leaves less than 5% of the 50Gi volume")
	setArgs(f, "--storage.tsdb.path=/data", "--storage.tsdb.retention.size", "45GiB")
	expect(t, f.run(Options{}), "size-based retention fits the volume", healthcheck.StatusSuccess)
	setArgs(f, "--storage.tsdb.path=/data", "--storage.tsdb.retention.size=lots")
	expect(t, f.run(Options{}), "size-based retention fits the volume", healthcheck.StatusWarning, "is not a size Prometheus accepts")
}

func TestParsePrometheusSize(t *testing.T) {
	for in, want := range map[string]float64{"18GB": 18 << 30, "512MB": 512 << 20, "1.5KB": 1536, "10B": 10, "2TiB": 2 << 40} {
		if got, ok := parsePrometheusSize(in); !ok || got != want {
			t.Errorf("parsePrometheusSize(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "18G", "GB", "-1GB"} {
		if _, ok := parsePrometheusSize(in); ok {
			t.Errorf("parsePrometheusSize(%q) accepted", in)
		}
	}
}

func TestPersistenceProven(t *testing.T) {
	t.Run("proven", func(t *testing.T) {
		f := newFixture(t)
		expect(t, f.run(Options{}), "data survived a Prometheus restart", healthcheck.StatusSuccess)
	})
	t.Run("first run", func(t *testing.T) {
		f := newFixture(t)
		f.prom.oldest = nil
		expect(t, f.run(Options{}), "data survived a Prometheus restart", healthcheck.StatusWarning,
			"not yet proven: Prometheus has not restarted since it started writing (process started 2026-11-22T05:00:00Z)",
			"kubectl rollout restart deployment/prometheus-server -n linkerd-viz")
	})
	t.Run("crash loop before any scrape is no proof of loss", func(t *testing.T) {
		f := newFixture(t)
		f.prom.oldest = nil
		f.lastRun(10*time.Second, 3)
		expect(t, f.run(Options{}), "data survived a Prometheus restart", healthcheck.StatusWarning, "not yet proven")
	})
	t.Run("lost", func(t *testing.T) {
		f := newFixture(t)
		f.prom.oldest = nil
		f.lastRun(2*time.Hour, 1)
		expect(t, f.run(Options{}), "data survived a Prometheus restart", healthcheck.StatusError,
			"data was lost: container prometheus-server of pod "+serverPod+" ran from 2026-11-22T02:59:00Z to 2026-11-22T04:59:00Z before its last restart")
	})
}

// lastRun records an earlier Prometheus process in the pod that ran for d
// and ended a minute before the current one started.
func (f *fixture) lastRun(d time.Duration, restarts int32) {
	p := f.pod(vizNS, serverPod)
	end := f.prom.startTime.Add(-time.Minute)
	cs := &p.Status.ContainerStatuses[2]
	cs.RestartCount = restarts
	cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{StartedAt: metav1.NewTime(end.Add(-d)), FinishedAt: metav1.NewTime(end)}
	f.update(p)
}
