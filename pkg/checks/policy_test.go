package checks

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	fakediscovery "k8s.io/client-go/discovery/fake"

	"github.com/meshmon/meshmon/pkg/healthcheck"
	"github.com/meshmon/meshmon/pkg/policy"
	"github.com/meshmon/meshmon/pkg/viz"
)

func TestPolicyObjects(t *testing.T) {
	t.Run("missing", func(t *testing.T) {
		f := newFixture(t)
		f.deleteDyn(policy.KindServer, vizNS, policy.ServerName)
		f.deleteDyn(policy.KindAuthorizationPolicy, vizNS, policy.AdminAuthorizationName)
		res := f.run(Options{})
		expect(t, res, "authorization policy objects are present", healthcheck.StatusError,
			"Server linkerd-viz/prometheus-server-admin is missing", "AuthorizationPolicy linkerd-viz/prometheus-server-admin is missing", "meshmon policy apply")
		expect(t, res, "Server selects the Prometheus pods and port", healthcheck.StatusError, "Server linkerd-viz/prometheus-server-admin is missing")
		expect(t, res, "authorized ServiceAccounts exist", healthcheck.StatusSuccess)
	})
	t.Run("drifted", func(t *testing.T) {
		f := newFixture(t)
		s := f.getDyn(policy.KindServer, vizNS, policy.ServerName)
		_ = unstructured.SetNestedField(s.Object, "all-unauthenticated", "spec", "accessPolicy")
		f.putDyn(s)
		expect(t, f.run(Options{}), "authorization policy objects are present", healthcheck.StatusError, "Server linkerd-viz/prometheus-server-admin differs: spec.accessPolicy: want deny, got all-unauthenticated")
	})
	t.Run("someone else's", func(t *testing.T) {
		f := newFixture(t)
		ap := f.getDyn(policy.KindAuthorizationPolicy, vizNS, policy.AdminAuthorizationName)
		ap.SetLabels(nil)
		f.putDyn(ap)
		expect(t, f.run(Options{}), "authorization policy objects are present", healthcheck.StatusWarning, "AuthorizationPolicy linkerd-viz/prometheus-server-admin exists but was not made by meshmon")
	})
	t.Run("no CRDs", func(t *testing.T) {
		f := newFixture(t)
		f.kube.Discovery().(*fakediscovery.FakeDiscovery).Resources = nil
		res := f.run(Options{})
		expect(t, res, "Linkerd policy resources can be read", healthcheck.StatusError, "Linkerd policy CRDs (policy.linkerd.io) are not installed")
		expect(t, res, "authorization policy objects are present", healthcheck.StatusSkipped)
	})
}

func setServerSpec(f *fixture, field string, v any, name string) {
	s := f.getDyn(policy.KindServer, vizNS, name)
	_ = unstructured.SetNestedField(s.Object, v, "spec", field)
	f.putDyn(s)
}

func TestPolicyServer(t *testing.T) {
	t.Run("selector", func(t *testing.T) {
		f := newFixture(t)
		setServerSpec(f, "podSelector", map[string]any{"matchLabels": map[string]any{"app": "prometheus"}}, policy.ServerName)
		expect(t, f.run(Options{}), "Server selects the Prometheus pods and port", healthcheck.StatusError, "its podSelector (app=prometheus) does not select pod "+serverPod)
	})
	t.Run("port", func(t *testing.T) {
		f := newFixture(t)
		setServerSpec(f, "port", int64(80), policy.ServerName)
		expect(t, f.run(Options{}), "Server selects the Prometheus pods and port", healthcheck.StatusError, "port 80 is 80 on pod "+serverPod+", but Prometheus listens on 9090")
		setServerSpec(f, "port", "http", policy.ServerName)
		expect(t, f.run(Options{}), "Server selects the Prometheus pods and port", healthcheck.StatusError, `port "http" is not a port of pod `+serverPod)
		setServerSpec(f, "port", "linkerd-admin", policy.ServerName)
		expect(t, f.run(Options{}), "Server selects the Prometheus pods and port", healthcheck.StatusError, "port linkerd-admin is 4191")
	})
}

func addServer(f *fixture, name string, created time.Time) {
	s := f.getDyn(policy.KindServer, vizNS, policy.ServerName).DeepCopy()
	s.SetName(name)
	s.SetLabels(nil)
	s.SetResourceVersion("")
	s.SetCreationTimestamp(metav1.NewTime(created))
	f.putDyn(s)
}

func TestPolicyOverlap(t *testing.T) {
	f := newFixture(t)
	addServer(f, "prometheus-all", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	expect(t, f.run(Options{}), "no other Server claims the Prometheus port", healthcheck.StatusWarning,
		"Server prometheus-all also selects port 9090 of the Prometheus pods; Linkerd applies only the oldest Server (prometheus-server-admin), so it has no effect: delete it")

	f = newFixture(t)
	addServer(f, "legacy-admin", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	expect(t, f.run(Options{}), "no other Server claims the Prometheus port", healthcheck.StatusError,
		"Server legacy-admin (created 2025-01-01 00:00:00 UTC) is older than prometheus-server-admin", "meshmon's policy is not in effect")

	// A Server for another port of the same pods does not overlap.
	f = newFixture(t)
	addServer(f, "proxy-admin", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	setServerSpec(f, "port", "linkerd-admin", "proxy-admin")
	expect(t, f.run(Options{}), "no other Server claims the Prometheus port", healthcheck.StatusSuccess)
}

func TestPolicyServiceAccounts(t *testing.T) {
	f := newFixture(t)
	f.delete(corev1.SchemeGroupVersion.WithResource("serviceaccounts"), vizNS, viz.MetricsAPIName)
	expect(t, f.run(Options{}), "authorized ServiceAccounts exist", healthcheck.StatusError,
		"ServiceAccount linkerd-viz/metrics-api (authorized by prometheus-server-admin)", "--allow-client")
}

func TestPolicyIdentity(t *testing.T) {
	f := newFixture(t)
	m := f.getDyn(policy.KindMeshTLSAuthentication, vizNS, policy.DefaultMTLSAuthenticationName)
	wrong := "prometheus.linkerd-viz.serviceaccount.identity.linkerd.example.org"
	_ = unstructured.SetNestedStringSlice(m.Object, []string{wrong}, "spec", "identities")
	f.putDyn(m)
	expect(t, f.run(Options{}), "MeshTLSAuthentication names Prometheus' identity", healthcheck.StatusError,
		"does not name "+promID+", the identity Prometheus runs with (its ServiceAccount prometheus-server and the trust domain cluster.local)", "\n\t* "+wrong)

	_ = unstructured.SetNestedStringSlice(m.Object, []string{"*.linkerd-viz.serviceaccount.identity.linkerd.cluster.local"}, "spec", "identities")
	f.putDyn(m)
	expect(t, f.run(Options{}), "MeshTLSAuthentication names Prometheus' identity", healthcheck.StatusSuccess)

	f.deleteDyn(policy.KindMeshTLSAuthentication, vizNS, policy.DefaultMTLSAuthenticationName)
	expect(t, f.run(Options{}), "MeshTLSAuthentication names Prometheus' identity", healthcheck.StatusError, "MeshTLSAuthentication linkerd-viz/meshmon-prometheus is missing")
}

func TestAuthzCounters(t *testing.T) {
	t.Run("metrics-api denied", func(t *testing.T) {
		f := newFixture(t)
		f.prom.allow = `[]`
		f.prom.deny = `[{"metric":{"namespace":"linkerd-viz","srv_kind":"server","srv_name":"prometheus-server-admin","tls":"true","client_id":"` + metricsAPI + `"},"value":[1763787600,"12"]}]`
		res := f.run(Options{})
		expect(t, res, "Prometheus' proxy authorizes metrics-api", healthcheck.StatusError, "denied 12 requests from metrics-api")
		expect(t, res, "Prometheus' proxy denies no client", healthcheck.StatusWarning, "denied requests from 1 client", metricsAPI)
	})
	t.Run("no traffic yet", func(t *testing.T) {
		f := newFixture(t)
		f.prom.allow = `[]`
		expect(t, f.run(Options{}), "Prometheus' proxy authorizes metrics-api", healthcheck.StatusWarning, "no request from metrics-api ("+metricsAPI+") to Prometheus has been authorized")
	})
	t.Run("others denied", func(t *testing.T) {
		f := newFixture(t)
		f.prom.deny = `[{"metric":{"namespace":"linkerd-viz","srv_kind":"server","srv_name":"prometheus-server-admin","tls":"true","client_id":"grafana.grafana.serviceaccount.identity.linkerd.cluster.local"},"value":[1763787600,"3"]},` +
			`{"metric":{"namespace":"linkerd-viz","srv_kind":"server","srv_name":"prometheus-server-admin","tls":"no_identity","no_tls_reason":"no_tls_from_remote"},"value":[1763787600,"2"]}]`
		res := f.run(Options{})
		expect(t, res, "Prometheus' proxy authorizes metrics-api", healthcheck.StatusSuccess)
		expect(t, res, "Prometheus' proxy denies no client", healthcheck.StatusWarning,
			"denied requests from 2 clients", "\n\t* grafana.grafana.serviceaccount.identity.linkerd.cluster.local", "\n\t* unauthenticated (no_tls_from_remote)", "--allow-federate-from")
	})
}
