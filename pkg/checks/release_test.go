package checks

import (
	"testing"

	"helm.sh/helm/v4/pkg/release/common"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshmon/meshmon/pkg/healthcheck"
)

func TestReleaseStatus(t *testing.T) {
	tests := []struct {
		status common.Status
		rev    int
		want   []string
	}{
		{common.StatusPendingUpgrade, 3, []string{"stuck in pending-upgrade since 2026-11-22 04:00:00 UTC (revision 3)", "helm rollback prometheus 2 -n linkerd-viz"}},
		{common.StatusPendingInstall, 1, []string{"stuck in pending-install", "helm uninstall prometheus -n linkerd-viz` (the data volume is kept)"}},
		{common.StatusFailed, 2, []string{"the last operation on Helm release linkerd-viz/prometheus failed (revision 2: Install complete)"}},
		{common.StatusUninstalling, 2, []string{"is uninstalling (revision 2), not deployed"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			f := newFixture(t)
			if tt.rev == 1 {
				f.releases = nil
			}
			f.releases = append(f.releases, f.release(tt.rev, tt.status, "prometheus"))
			res := f.run(Options{})
			expect(t, res, "Prometheus Helm release is deployed", healthcheck.StatusError, tt.want...)
			expect(t, res, "chart version is the one meshmon pins", healthcheck.StatusSkipped)
			// The workload is judged on its own: a failed upgrade may have left it running.
			expect(t, res, "Prometheus server is ready", healthcheck.StatusSuccess)
		})
	}
	t.Run("not installed", func(t *testing.T) {
		f := newFixture(t)
		f.releases = nil
		expect(t, f.run(Options{}), "Prometheus Helm release is deployed", healthcheck.StatusError, `no Helm release "prometheus" in namespace linkerd-viz`, "meshmon install")
	})
	t.Run("chart version", func(t *testing.T) {
		f := newFixture(t)
		f.releases[0].Chart.Metadata.Version = "29.20.0"
		expect(t, f.run(Options{}), "chart version is the one meshmon pins", healthcheck.StatusWarning, "chart prometheus-29.20.0 is installed; meshmon pins 29.27.0")
	})
}

func TestServer(t *testing.T) {
	t.Run("no Service", func(t *testing.T) {
		f := newFixture(t)
		f.delete(corev1.SchemeGroupVersion.WithResource("services"), vizNS, serverName)
		res := f.run(Options{})
		expect(t, res, "Prometheus server Service and workload exist", healthcheck.StatusError, "no Service labelled")
		expect(t, res, "can reach Prometheus", healthcheck.StatusSkipped)
		expect(t, res, "data volume claim is bound", healthcheck.StatusSkipped)
	})
	t.Run("pod not ready", func(t *testing.T) {
		f := newFixture(t)
		p := f.pod(vizNS, serverPod)
		p.Status.Conditions[0].Status = corev1.ConditionFalse
		p.Status.ContainerStatuses[2].State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}
		f.update(p)
		res := f.run(Options{})
		expect(t, res, "Prometheus server is ready", healthcheck.StatusError, "1 of 1 Prometheus pod is not ready", "linkerd-viz/"+serverPod+" (container prometheus-server: CrashLoopBackOff)")
		expect(t, res, "can reach Prometheus", healthcheck.StatusSkipped)
		if len(f.forwards) > 1 {
			t.Errorf("port-forwards %v opened to a server that is not ready", f.forwards)
		}
	})
	t.Run("no pods", func(t *testing.T) {
		f := newFixture(t)
		f.delete(corev1.SchemeGroupVersion.WithResource("pods"), vizNS, serverPod)
		expect(t, f.run(Options{}), "Prometheus server is ready", healthcheck.StatusError, "Deployment linkerd-viz/prometheus-server has no pods")
	})
	t.Run("not meshed", func(t *testing.T) {
		f := newFixture(t)
		p := f.pod(vizNS, serverPod)
		p.Spec.Containers = p.Spec.Containers[1:]
		f.update(p)
		expect(t, f.run(Options{}), "Prometheus pod is meshed and its proxy is ready", healthcheck.StatusError,
			"no linkerd-proxy container", "linkerd.io/inject=enabled", "kubectl rollout restart deployment/prometheus-server -n linkerd-viz")
	})
	t.Run("proxy as native sidecar", func(t *testing.T) {
		f := newFixture(t)
		p := f.pod(vizNS, serverPod)
		p.Spec.InitContainers = []corev1.Container{p.Spec.Containers[0]}
		p.Spec.Containers = p.Spec.Containers[1:]
		p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "linkerd-proxy", Ready: true}}
		f.update(p)
		expect(t, f.run(Options{}), "Prometheus pod is meshed and its proxy is ready", healthcheck.StatusSuccess)
	})
	t.Run("proxy not ready", func(t *testing.T) {
		f := newFixture(t)
		p := f.pod(vizNS, serverPod)
		p.Status.ContainerStatuses[0].Ready = false
		f.update(p)
		expect(t, f.run(Options{}), "Prometheus pod is meshed and its proxy is ready", healthcheck.StatusError, "the linkerd-proxy container of 1 Prometheus pod is not ready")
	})
}

func TestServicePortChain(t *testing.T) {
	setTarget := func(f *fixture, tp intstr.IntOrString) {
		svc, err := f.kube.CoreV1().Services(vizNS).Get(t.Context(), serverName, metaGet)
		if err != nil {
			t.Fatal(err)
		}
		svc.Spec.Ports[0].TargetPort = tp
		f.update(svc)
	}
	t.Run("to the reloader", func(t *testing.T) {
		f := newFixture(t)
		setTarget(f, intstr.FromInt32(8080))
		expect(t, f.run(Options{}), "Service port resolves to the Prometheus container port", healthcheck.StatusError,
			"targets pod port 8080 (it belongs to container prometheus-server-configmap-reload), but Prometheus listens on 9090")
	})
	t.Run("unknown name", func(t *testing.T) {
		f := newFixture(t)
		setTarget(f, intstr.FromString("web"))
		expect(t, f.run(Options{}), "Service port resolves to the Prometheus container port", healthcheck.StatusError,
			`targets the port named "web", but no container of Deployment prometheus-server declares a port of that name`)
	})
	t.Run("named port", func(t *testing.T) {
		f := newFixture(t)
		f.setServerPodSpec(func(s *corev1.PodSpec) { s.Containers[2].Ports[0].Name = "web" })
		setTarget(f, intstr.FromString("web"))
		expect(t, f.run(Options{}), "Service port resolves to the Prometheus container port", healthcheck.StatusSuccess, "targetPort web -> container prometheus-server port 9090")
	})
	t.Run("other listen port", func(t *testing.T) {
		f := newFixture(t)
		f.setServerPodSpec(func(s *corev1.PodSpec) {
			s.Containers[2].Args = append(s.Containers[2].Args, "--web.listen-address=:9091")
		})
		res := f.run(Options{})
		expect(t, res, "Service port resolves to the Prometheus container port", healthcheck.StatusError, "but Prometheus listens on 9091")
		// The port-forward goes where Prometheus listens, whatever the Service says.
		found := false
		for _, fw := range f.forwards {
			found = found || (fw.What == "the Prometheus server" && fw.Port == 9091)
		}
		if !found {
			t.Errorf("forwards = %+v, want one to the server's port 9091", f.forwards)
		}
	})
}

var metaGet = metav1.GetOptions{}
