package checks

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshmon/meshmon/pkg/healthcheck"
)

// operatorFixture adds the operator's API and a healthy monitored app:
// Service "api" (port http-metrics -> container port "metrics"), one pod,
// a ServiceMonitor for it and a Prometheus with a volume.
func operatorFixture(t *testing.T) *fixture {
	f := newFixture(t)
	f.setDiscovery(true)
	app := map[string]string{"app": "api"}
	f.create(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: appNS, Labels: app},
		Spec: corev1.ServiceSpec{Selector: app, Ports: []corev1.ServicePort{{Name: "http-metrics", Port: 8080, TargetPort: intstr.FromString("metrics")}}}})
	f.create(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "api-0", Namespace: appNS, Labels: app},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: 8080}}}}}})
	f.putDyn(monitor("api", appNS, app, map[string]any{"port": "http-metrics", "path": "/metrics"}))
	f.putDyn(&unstructured.Unstructured{Object: map[string]any{
		"apiVersion": operatorGroupVersion, "kind": "Prometheus",
		"metadata": map[string]any{"name": "k8s", "namespace": "monitoring"},
		"spec":     map[string]any{"storage": map[string]any{"volumeClaimTemplate": map[string]any{"spec": map[string]any{}}}},
	}})
	return f
}

func monitor(name, ns string, sel map[string]string, endpoints ...map[string]any) *unstructured.Unstructured {
	eps := make([]any, 0, len(endpoints))
	for _, e := range endpoints {
		eps = append(eps, e)
	}
	ml := map[string]any{}
	for k, v := range sel {
		ml[k] = v
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": operatorGroupVersion, "kind": "ServiceMonitor",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     map[string]any{"selector": map[string]any{"matchLabels": ml}, "endpoints": eps},
	}}
}

func operatorChecks(res healthcheck.Results) []healthcheck.Result {
	for _, c := range res.Categories {
		if c.Name == CategoryPrometheusOperator {
			return c.Checks
		}
	}
	return nil
}

func TestOperatorSkippedWithoutCRDs(t *testing.T) {
	f := newFixture(t)
	for _, r := range operatorChecks(f.run(Options{})) {
		if r.Status != healthcheck.StatusSkipped {
			t.Errorf("%q is %s though prometheus-operator is not installed", r.Description, r.Status)
		}
	}
}

func TestOperatorHealthy(t *testing.T) {
	f := operatorFixture(t)
	rs := operatorChecks(f.run(Options{}))
	if len(rs) != 7 {
		t.Fatalf("%d operator checks, want 7", len(rs))
	}
	for _, r := range rs {
		if r.Status != healthcheck.StatusSuccess {
			t.Errorf("%q: %s %v", r.Description, r.Status, r.Err)
		}
	}
}

func TestOperatorTraps(t *testing.T) {
	t.Run("port name", func(t *testing.T) {
		f := operatorFixture(t)
		f.putDyn(monitor("api", appNS, map[string]string{"app": "api"}, map[string]any{"port": "metrics"}))
		f.putDyn(monitor("ghost", appNS, map[string]string{"app": "ghost"}, map[string]any{"port": "web"}))
		expect(t, f.run(Options{}), "ServiceMonitors name existing Service ports", healthcheck.StatusError,
			`ServiceMonitor emojivoto/api endpoint 0 asks for port "metrics", but Service emojivoto/api has ports: http-metrics`,
			"ServiceMonitor emojivoto/ghost selects no Service (selector app=ghost in emojivoto)")
	})
	t.Run("target port", func(t *testing.T) {
		f := operatorFixture(t)
		svc, _ := f.kube.CoreV1().Services(appNS).Get(t.Context(), "api", metav1.GetOptions{})
		svc.Spec.Ports[0].TargetPort = intstr.FromString("prom")
		f.update(svc)
		expect(t, f.run(Options{}), "Service target ports resolve to container ports", healthcheck.StatusError,
			`Service emojivoto/api port http-metrics targets "prom", which no container of pod api-0 declares`)
	})
	t.Run("https on plain http", func(t *testing.T) {
		f := operatorFixture(t)
		f.putDyn(monitor("api", appNS, map[string]string{"app": "api"}, map[string]any{"port": "http-metrics", "scheme": "https"}))
		expect(t, f.run(Options{}), "ServiceMonitor schemes match their ports", healthcheck.StatusError,
			"uses scheme https on Service emojivoto/api port http-metrics, a plain-HTTP port", "set scheme: http")
	})
	t.Run("http on a TLS port", func(t *testing.T) {
		f := operatorFixture(t)
		svc, _ := f.kube.CoreV1().Services(appNS).Get(t.Context(), "api", metav1.GetOptions{})
		svc.Spec.Ports[0].Name = "https"
		f.update(svc)
		f.putDyn(monitor("api", appNS, map[string]string{"app": "api"}, map[string]any{"port": "https"}))
		expect(t, f.run(Options{}), "ServiceMonitor schemes match their ports", healthcheck.StatusWarning, "uses scheme http on Service emojivoto/api port https, a TLS port")
	})
	t.Run("appProtocol decides", func(t *testing.T) {
		f := operatorFixture(t)
		svc, _ := f.kube.CoreV1().Services(appNS).Get(t.Context(), "api", metav1.GetOptions{})
		svc.Spec.Ports[0].Name = "https-metrics"
		svc.Spec.Ports[0].AppProtocol = ptr("http")
		f.update(svc)
		f.putDyn(monitor("api", appNS, map[string]string{"app": "api"}, map[string]any{"port": "https-metrics", "scheme": "https"}))
		expect(t, f.run(Options{}), "ServiceMonitor schemes match their ports", healthcheck.StatusError, "a plain-HTTP port")
	})
	t.Run("Prometheus without volume", func(t *testing.T) {
		f := operatorFixture(t)
		p := f.getDyn("Prometheus", "monitoring", "k8s")
		unstructured.RemoveNestedField(p.Object, "spec", "storage")
		f.putDyn(p)
		expect(t, f.run(Options{}), "Prometheus resources keep data on a volume", healthcheck.StatusError, "without spec.storage.volumeClaimTemplate", "monitoring/k8s")
	})
	t.Run("federation", func(t *testing.T) {
		f := operatorFixture(t)
		f.putDyn(monitor("api", appNS, map[string]string{"app": "api"},
			map[string]any{"port": "http-metrics", "path": "/federate", "honorLabels": true},
			map[string]any{"port": "http-metrics", "params": map[string]any{"match[]": []any{`{job="linkerd-proxy"}`}}},
			map[string]any{"port": "http-metrics", "path": "/federate", "params": map[string]any{"match[]": []any{`{job="linkerd-proxy"}`}}},
		))
		expect(t, f.run(Options{}), "federation ServiceMonitors ask /federate with match[]", healthcheck.StatusError,
			"endpoint 0 scrapes /federate without params.match[]", "endpoint 1 passes match[] but scrapes /metrics", "endpoint 2 federates without honorLabels: true")
	})
	t.Run("ExternalName and Endpoints", func(t *testing.T) {
		f := operatorFixture(t)
		w := map[string]string{"app": "worker-cluster"}
		f.create(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "worker-cluster-metrics", Namespace: appNS, Labels: w},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "worker.example.com", Ports: []corev1.ServicePort{{Name: "http-metrics", Port: 9090}}}})
		f.putDyn(monitor("worker", appNS, w, map[string]any{"port": "http-metrics", "path": "/federate", "honorLabels": true,
			"params": map[string]any{"match[]": []any{`{job="linkerd-proxy"}`}}}))
		expect(t, f.run(Options{}), "selector-less Services have matching Endpoints", healthcheck.StatusError,
			"Service emojivoto/worker-cluster-metrics has no selector and no Endpoints named worker-cluster-metrics")
		f.create(&corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "worker-cluster-metrics", Namespace: appNS},
			Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.10"}}, Ports: []corev1.EndpointPort{{Name: "metrics", Port: 9090}}}}})
		expect(t, f.run(Options{}), "selector-less Services have matching Endpoints", healthcheck.StatusError,
			`Endpoints emojivoto/worker-cluster-metrics name their ports metrics, not "http-metrics"`)
		e, _ := f.kube.CoreV1().Endpoints(appNS).Get(t.Context(), "worker-cluster-metrics", metav1.GetOptions{})
		e.Subsets[0].Ports[0].Name = "http-metrics"
		f.update(e)
		expect(t, f.run(Options{}), "selector-less Services have matching Endpoints", healthcheck.StatusSuccess)
	})
}
