//go:build e2e

package framework

import (
	"testing"

	"k8s.io/client-go/kubernetes"

	"github.com/meshmon/meshmon/e2e/sim"
)

// DashboardAddr is where kwok sends every port-forward to a pod's port 8084.
const DashboardAddr = sim.DashboardAddr

// FakeDashboard stands in for linkerd-viz's web server and metrics-api.
type FakeDashboard = sim.Dashboard

// StartFakeDashboard serves sim's dashboard at DashboardAddr until the test
// ends. promHost is the in-cluster host:port of the Prometheus that promURL
// (a real Prometheus) plays.
func StartFakeDashboard(t testing.TB, kc kubernetes.Interface, vizNS, promHost, promURL string) *FakeDashboard {
	t.Helper()
	d, err := sim.NewDashboard(kc, vizNS, promHost, promURL)
	if err != nil {
		t.Fatal(err)
	}
	Serve(t, DashboardAddr, d)
	return d
}
