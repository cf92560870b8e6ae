//go:build e2e

package framework

import (
	"context"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/meshmon/meshmon/e2e/sim"
)

// AuthzSample is one series of a proxy's authorization counters.
type AuthzSample = sim.AuthzSample

// FakeProxy plays one pod's linkerd2-proxy admin endpoint.
type FakeProxy = sim.FakeProxy

// FakeMesh brings the test cluster's pods to life for Prometheus (sim.Mesh).
type FakeMesh struct{ m *sim.Mesh }

// StartFakeMesh serves every running pod that has an IP: proxies in all
// namespaces, admin ports in controlNamespaces (Linkerd's and viz's). It
// stops when the test ends.
func StartFakeMesh(t testing.TB, kc kubernetes.Interface, controlNamespaces ...string) *FakeMesh {
	t.Helper()
	m := &FakeMesh{m: sim.NewMesh(sim.MeshOptions{ControlNamespaces: controlNamespaces})}
	t.Cleanup(func() {
		if err := m.m.Close(); err != nil {
			t.Log(err)
		}
	})
	m.Refresh(t, kc)
	return m
}

// Refresh serves the pods that appeared, or got another IP, since the last
// call, and stops serving those that are gone.
func (m *FakeMesh) Refresh(t testing.TB, kc kubernetes.Interface) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.m.Refresh(ctx, kc); err != nil {
		t.Fatal(err)
	}
}

// Proxy returns the fake proxy of namespace/pod.
func (m *FakeMesh) Proxy(t testing.TB, namespace, pod string) *FakeProxy {
	t.Helper()
	p, err := m.m.Proxy(namespace, pod)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ProxyOf returns the fake proxy of the first pod (by name) in namespace
// whose name starts with prefix.
func (m *FakeMesh) ProxyOf(t testing.TB, namespace, prefix string) *FakeProxy {
	t.Helper()
	p, err := m.m.ProxyOf(namespace, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Pods lists namespace/pod of every fake proxy, sorted.
func (m *FakeMesh) Pods() []string { return m.m.Pods() }
