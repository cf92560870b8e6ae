package checks

import (
	"net/http"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshmon/meshmon/pkg/healthcheck"
	"github.com/meshmon/meshmon/pkg/viz"
)

func setMetricsAPIArgs(f *fixture, args ...string) {
	d := f.deployment(vizNS, viz.MetricsAPIName)
	d.Spec.Template.Spec.Containers[0].Args = args
	f.update(d)
}

func TestVizWiring(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		status healthcheck.Status
		want   []string
	}{
		{"viz's own Prometheus", []string{"-prometheus-url=http://prometheus.linkerd-viz.svc.cluster.local:9090"}, healthcheck.StatusError,
			[]string{"metrics-api queries http://prometheus.linkerd-viz.svc.cluster.local:9090, not this Prometheus (" + serverURL + "): it addresses Service linkerd-viz/prometheus, not linkerd-viz/prometheus-server", "meshmon viz configure"}},
		{"port 80", []string{"-prometheus-url=http://prometheus-server.linkerd-viz.svc.cluster.local"}, healthcheck.StatusError,
			[]string{"it uses port 80, but the Service listens on 9090"}},
		{"other cluster domain", []string{"-prometheus-url=http://prometheus-server.linkerd-viz.svc.example.org:9090"}, healthcheck.StatusError,
			[]string{"it uses cluster domain example.org, but the cluster's is cluster.local"}},
		{"short name", []string{"--prometheus-url=http://prometheus-server:9090"}, healthcheck.StatusSuccess, nil},
		{"no flag", []string{"-controller-namespace=linkerd"}, healthcheck.StatusError, []string{"metrics-api has no -prometheus-url argument"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			setMetricsAPIArgs(f, tt.args...)
			expect(t, f.run(Options{}), "metrics-api queries this Prometheus", tt.status, tt.want...)
		})
	}
	t.Run("no metrics-api", func(t *testing.T) {
		f := newFixture(t)
		f.delete(appsv1.SchemeGroupVersion.WithResource("deployments"), vizNS, viz.MetricsAPIName)
		expect(t, f.run(Options{}), "metrics-api queries this Prometheus", healthcheck.StatusError, "linkerd-viz has no metrics-api Deployment")
	})
}

func TestBundledPrometheus(t *testing.T) {
	f := newFixture(t)
	one, zero := int32(1), int32(0)
	bundled := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "prometheus", Namespace: vizNS, Labels: map[string]string{"linkerd.io/extension": "viz", "component": "prometheus"}},
		Spec: appsv1.DeploymentSpec{Replicas: &one}}
	f.create(bundled)
	expect(t, f.run(Options{}), "linkerd-viz's own Prometheus is gone", healthcheck.StatusWarning, "Deployment linkerd-viz/prometheus) still runs", "prometheus.enabled=false")
	bundled.Spec.Replicas = &zero
	f.update(bundled)
	expect(t, f.run(Options{}), "linkerd-viz's own Prometheus is gone", healthcheck.StatusSuccess)
}

func TestVizAnnotation(t *testing.T) {
	f := newFixture(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: vizNS, Labels: map[string]string{"linkerd.io/extension": "viz"}}}
	f.update(ns)
	expect(t, f.run(Options{}), "viz namespace annotation names this Prometheus", healthcheck.StatusWarning,
		"namespace linkerd-viz lacks the annotation viz.linkerd.io/external-prometheus", "kubectl annotate ns linkerd-viz viz.linkerd.io/external-prometheus="+serverURL)
	ns.Annotations = map[string]string{viz.AnnotationExternalPrometheus: "http://prometheus.linkerd-viz.svc.cluster.local:9090"}
	f.update(ns)
	expect(t, f.run(Options{}), "viz namespace annotation names this Prometheus", healthcheck.StatusWarning, "not this Prometheus")
}

func TestDashboard(t *testing.T) {
	t.Run("web fails", func(t *testing.T) {
		f := newFixture(t)
		f.web.rootCode = http.StatusBadGateway
		res := f.run(Options{})
		expect(t, res, "dashboard answers", healthcheck.StatusError, "the dashboard answered / with HTTP 502")
		expect(t, res, "dashboard shows mesh traffic", healthcheck.StatusSkipped)
	})
	t.Run("metrics-api fails", func(t *testing.T) {
		f := newFixture(t)
		f.web.tpsStatus = http.StatusInternalServerError
		f.web.tps = `{"error":"rpc error: code = Unknown desc = Query failed: Post \"http://prometheus.linkerd-viz.svc.cluster.local:9090/api/v1/query\": dial tcp: connect: connection refused"}`
		expect(t, f.run(Options{}), "dashboard shows mesh traffic", healthcheck.StatusError,
			"metrics-api failed: rpc error: code = Unknown desc = Query failed", "-prometheus-url")
	})
	t.Run("idle", func(t *testing.T) {
		f := newFixture(t)
		f.web.tps = `{"ok":{"statTables":[{"podGroup":{"rows":[{"resource":{"namespace":"emojivoto","type":"deployment","name":"web"},"stats":null}]}}]}}`
		expect(t, f.run(Options{}), "dashboard shows mesh traffic", healthcheck.StatusWarning, "lists 1 deployment but no traffic")
	})
	t.Run("host header", func(t *testing.T) {
		// Through --dashboard-url the Host is the URL's own, which this web
		// server refuses: the check says why.
		f := newFixture(t)
		expect(t, f.run(Options{DashboardURL: f.webSrv.URL}), "dashboard answers", healthcheck.StatusError, "HTTP 400", "Host header of --dashboard-url")
	})
	t.Run("no web", func(t *testing.T) {
		f := newFixture(t)
		f.delete(appsv1.SchemeGroupVersion.WithResource("deployments"), vizNS, webName)
		expect(t, f.run(Options{}), "dashboard answers", healthcheck.StatusError, "linkerd-viz has no web Deployment", "--dashboard-url")
	})
}
