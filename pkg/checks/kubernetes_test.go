package checks

import (
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/version"
	fakediscovery "k8s.io/client-go/discovery/fake"

	"github.com/meshmon/meshmon/pkg/healthcheck"
)

func TestKubernetesAPI(t *testing.T) {
	t.Run("no client", func(t *testing.T) {
		f := newFixture(t)
		f.clientErr = errors.New("no Kubernetes cluster configured: set KUBECONFIG")
		res := f.run(Options{})
		expect(t, res, "can initialize the Kubernetes client", healthcheck.StatusError, "set KUBECONFIG")
		// Everything else depends on the client and is skipped, not failed.
		expect(t, res, "can query the Kubernetes API", healthcheck.StatusSkipped)
		expect(t, res, "Prometheus is ready", healthcheck.StatusSkipped)
		if res.Success() {
			t.Error("run succeeded without a client")
		}
	})
	t.Run("old server", func(t *testing.T) {
		f := newFixture(t)
		f.kube.Discovery().(*fakediscovery.FakeDiscovery).FakedServerVersion = &version.Info{GitVersion: "v1.21.14"}
		expect(t, f.run(Options{}), "Kubernetes version is supported", healthcheck.StatusError, "Kubernetes v1.21.14 is too old", "1.22.0 or newer")
	})
	t.Run("missing permissions", func(t *testing.T) {
		f := newFixture(t)
		f.denied["list pods "] = true
		f.denied["create pods linkerd-viz"] = true
		res := f.run(Options{})
		expect(t, res, "can read what the checks need", healthcheck.StatusError,
			"missing 3 permissions",
			"list pods in all namespaces (measure meshed-pod coverage)",
			"create pods/portforward in namespace linkerd-viz (reach Prometheus)",
			"create pods/portforward in namespace linkerd-viz (reach the dashboard)")
		// With both URLs given, no port-forward permission is needed.
		res = f.run(Options{PrometheusURL: f.promSrv.URL, DashboardURL: "http://127.0.0.1:1"})
		expect(t, res, "can read what the checks need", healthcheck.StatusError, "missing 1 permission;")
	})
}
