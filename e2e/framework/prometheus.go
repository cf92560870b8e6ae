//go:build e2e

package framework

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshmon/meshmon/e2e/sim"
)

// PrometheusAddr is where kwok sends every port-forward to a pod's port 9090.
const PrometheusAddr = sim.PrometheusAddr

// ReleasePrometheus describes the in-cluster Prometheus a test runs for real.
type ReleasePrometheus struct {
	// Namespace and ConfigMap hold the release's prometheus.yml (key "prometheus.yml").
	Namespace, ConfigMap string
	// ServiceAccount is the one the server pod runs as.
	ServiceAccount string
	// Args are extra flags, e.g. the retention flags of the server container.
	Args []string
	// DataDir keeps the TSDB; empty means a fresh directory.
	DataDir string
	// Deployment, when set, is the server Deployment whose Secret volumes
	// Prometheus gets, as files, with the paths in its configuration
	// pointed at them (remote_write credentials; sim.PrometheusOptions).
	Deployment string
}

// PodLog is the file kwok serves as the log of every pod's
// prometheus-server container (hack/cluster-up.sh): StartReleasePrometheus
// writes the real Prometheus' log there, so pods/log shows it.
func (e *Env) PodLog() string {
	return filepath.Join(e.Run, "pod-logs", "prometheus-server.log")
}

// StartReleasePrometheus runs the real Prometheus at PrometheusAddr with the
// release's configuration (sim.StartPrometheus) until the test ends; its log
// is printed if the test failed.
func StartReleasePrometheus(t testing.TB, env *Env, kc kubernetes.Interface, o ReleasePrometheus) *sim.Prometheus {
	t.Helper()
	kcfg, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := sim.StartPrometheus(ctx, kc, sim.PrometheusOptions{
		Kube: kcfg, Namespace: o.Namespace, ConfigMap: o.ConfigMap, ServiceAccount: o.ServiceAccount,
		Args: o.Args, DataDir: o.DataDir, Dir: t.TempDir(), Deployment: o.Deployment, PodLog: env.PodLog(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("Prometheus %s log:\n%s", p.Addr, p.Logs())
		}
	})
	return p
}

// ServerRetentionArgs are the retention flags of the server container of Deployment name
// in namespace: the real Prometheus a test runs gets them too, as the pod would.
func ServerRetentionArgs(t testing.TB, kc kubernetes.Interface, namespace, name string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := kc.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, a := range c.Args {
			if strings.HasPrefix(a, "--storage.tsdb.retention.") {
				out = append(out, a)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("Deployment %s/%s has no retention flags: %+v", namespace, name, d.Spec.Template.Spec.Containers)
	}
	return out
}
