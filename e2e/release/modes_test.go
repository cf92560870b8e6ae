//go:build e2e

package release

import (
	"os"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshmon/meshmon/e2e/framework"
)

// TestStatefulSetMode installs the server as a StatefulSet, whose claim Helm never
// deletes: uninstall keeps it, --delete-data removes it.
func TestStatefulSetMode(t *testing.T) {
	env := framework.Current(t)
	kc, _ := env.Clients(t)
	const ns = "mm-statefulset"
	createNamespace(t, kc, ns)

	r := env.MustMeshmon(t, "linkerd", "install", "--skip-check", "-n", ns, "--chart", framework.TestChart(t, "prometheus"), "--statefulset", "--storage-size", "10Gi", "--cluster-name", "e2e")
	if !strings.Contains(r.Stdout, "Installed release prometheus (revision 1") {
		t.Fatalf("install output:\n%s", r.Stdout)
	}
	sts, err := kc.AppsV1().StatefulSets(ns).Get(ctx(t), "prometheus-server", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sts.Status.ReadyReplicas != 1 || sts.Spec.ServiceName != "prometheus-server-headless" {
		t.Errorf("StatefulSet ready %d, serviceName %s", sts.Status.ReadyReplicas, sts.Spec.ServiceName)
	}
	if _, err := kc.AppsV1().Deployments(ns).Get(ctx(t), "prometheus-server", metav1.GetOptions{}); err == nil {
		t.Error("StatefulSet mode also made a Deployment")
	}
	claim := waitBound(t, kc, ns, "storage-volume-prometheus-server-0")
	if claim.Annotations["helm.sh/resource-policy"] != "keep" || claim.Labels["app.kubernetes.io/instance"] != "prometheus" {
		t.Errorf("claim annotations %v labels %v", claim.Annotations, claim.Labels)
	}

	s := status(t, env, "-n", ns)
	if s.Workload == nil || s.Workload.Kind != "StatefulSet" || s.Workload.Ready != 1 {
		t.Errorf("workload %+v", s.Workload)
	}
	if s.URL != "http://prometheus-server.mm-statefulset.svc.cluster.local:9090" {
		t.Errorf("url %q (the headless Service must not be taken for the server's)", s.URL)
	}
	if len(s.Storage) != 1 || !s.Storage[0].StatefulSet || !s.Storage[0].Keep || s.Storage[0].Requested != "10Gi" {
		t.Errorf("storage %+v", s.Storage)
	}

	r = env.MustMeshmon(t, "kubectl", "uninstall", "-n", ns)
	if !strings.Contains(r.Stdout, "Kept the data volume: PVC mm-statefulset/storage-volume-prometheus-server-0") {
		t.Errorf("uninstall output:\n%s", r.Stdout)
	}
	if got := pvc(t, kc, ns, "storage-volume-prometheus-server-0"); got.UID != claim.UID {
		t.Error("the claim was replaced")
	}
	r = env.MustMeshmon(t, "kubectl", "uninstall", "-n", ns, "--delete-data", "--yes")
	if !strings.Contains(r.Stdout, "Release prometheus was not installed in namespace mm-statefulset; only its data volume was left.") ||
		!strings.Contains(r.Stdout, "Deleted the data volume: PVC mm-statefulset/storage-volume-prometheus-server-0") {
		t.Errorf("uninstall --delete-data output:\n%s", r.Stdout)
	}
	_, err = kc.CoreV1().PersistentVolumeClaims(ns).Get(ctx(t), "storage-volume-prometheus-server-0", metav1.GetOptions{})
	gone(t, err, "the StatefulSet's claim")
}

// TestRealChart installs a real prometheus-community chart (directory or .tgz) named
// by MESHMON_TEST_CHART. None is reachable from the test machines, so it only runs
// when one was downloaded beforehand.
func TestRealChart(t *testing.T) {
	path := os.Getenv("MESHMON_TEST_CHART")
	if path == "" {
		t.Skip("MESHMON_TEST_CHART is not set: set it to a downloaded prometheus-community prometheus chart (directory or .tgz) to install the real chart")
	}
	env := framework.Current(t)
	kc, _ := env.Clients(t)
	const ns = "mm-real-chart"
	createNamespace(t, kc, ns)
	r := env.MustMeshmon(t, "kubectl", "install", "--skip-check", "-n", ns, "--chart", path)
	if !strings.Contains(r.Stdout, "Installed release prometheus (revision 1") {
		t.Errorf("install output:\n%s", r.Stdout)
	}
	s := status(t, env, "-n", ns)
	if s.Status != "deployed" || s.Workload == nil || s.Workload.Ready != 1 || len(s.Storage) != 1 || s.Storage[0].Phase != "Bound" {
		t.Errorf("status %+v", s)
	}
	if s.URL != "http://prometheus-server.mm-real-chart.svc.cluster.local:9090" {
		t.Errorf("url %q", s.URL)
	}
	r = env.MustMeshmon(t, "kubectl", "install", "--skip-check", "-n", ns, "--chart", path)
	if !strings.Contains(r.Stdout, "already up to date") {
		t.Errorf("second install:\n%s", r.Stdout)
	}
	env.MustMeshmon(t, "kubectl", "uninstall", "-n", ns, "--delete-data", "--yes")
}
