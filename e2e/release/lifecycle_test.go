//go:build e2e

package release

import (
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshmon/meshmon/e2e/framework"
)

// TestLifecycle walks one release through dry run, install, no-op install, upgrade,
// status, uninstall (keeping the volume), reinstall (onto the same volume) and
// uninstall --delete-data, in linkerd-viz, with the default release name.
func TestLifecycle(t *testing.T) {
	env := framework.Current(t)
	kc, _ := env.Clients(t)
	const ns = "linkerd-viz"
	chart := framework.TestChart(t, "prometheus")
	var pvcUID string

	t.Run("dry run changes nothing", func(t *testing.T) {
		before := snapshot(t, env, ns)
		r := env.MustMeshmon(t, "kubectl", "install", "--skip-check", "--chart", chart, "--dry-run")
		for _, want := range []string{
			"# kubectl meshmon install --dry-run: nothing below has been applied.",
			"# Release prometheus in namespace linkerd-viz: would install (no release yet).",
			"#   scrapeConfigs: null",
			"#     podAnnotations:\n#       linkerd.io/inject: enabled",
			"# Source: prometheus/templates/deploy.yaml",
			"kind: PersistentVolumeClaim",
			"helm.sh/resource-policy: keep",
			"port: 9090",
		} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("dry-run output lacks %q", want)
			}
		}
		if strings.Contains(r.Stdout, "Loading chart") || strings.Contains(r.Stdout, "√") {
			t.Error("progress went to stdout, mixed with the manifests")
		}
		// An override that breaks what Linkerd needs is warned about on stderr only.
		r = env.MustMeshmon(t, "kubectl", "install", "--skip-check", "--chart", chart, "--dry-run", "--set", "server.service.servicePort=80")
		if !strings.Contains(r.Stderr, "‼ warning: server.service.servicePort: is 80, not the integer 9090") || strings.Contains(r.Stdout, "warning") {
			t.Errorf("the port override warning is missing or on stdout:\nstderr:\n%s", r.Stderr)
		}
		if !strings.Contains(r.Stdout, "port: 80\n") {
			t.Error("the user's override did not win over meshmon's value")
		}
		if after := snapshot(t, env, ns); !slices.Equal(before, after) {
			t.Errorf("the dry run changed the cluster:\nbefore %v\nafter  %v", before, after)
		}
	})

	t.Run("install", func(t *testing.T) {
		start := time.Now()
		r := env.MustMeshmon(t, "kubectl", "install", "--skip-check", "--chart", chart)
		t.Logf("install took %s", time.Since(start).Round(10*time.Millisecond))
		if !strings.Contains(r.Stdout, "Installed release prometheus (revision 1, chart prometheus 29.27.0) in namespace linkerd-viz.") ||
			!strings.Contains(r.Stdout, "Prometheus: http://prometheus-server.linkerd-viz.svc.cluster.local:9090") {
			t.Errorf("install output:\n%s", r.Stdout)
		}
		if !strings.Contains(r.Stderr, "checks passed") {
			t.Errorf("no preflight summary on stderr:\n%s", r.Stderr)
		}

		claim := waitBound(t, kc, ns, "prometheus-server")
		pvcUID = string(claim.UID)
		if claim.Annotations["helm.sh/resource-policy"] != "keep" {
			t.Errorf("PVC annotations %v lack the keep policy", claim.Annotations)
		}
		dep, err := kc.AppsV1().Deployments(ns).Get(ctx(t), "prometheus-server", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if dep.Status.ReadyReplicas != 1 {
			t.Errorf("install returned before the Deployment was ready: %d ready", dep.Status.ReadyReplicas)
		}
		for k, v := range map[string]string{"app.kubernetes.io/instance": "prometheus", "app.kubernetes.io/component": "server", "app.kubernetes.io/managed-by": "Helm"} {
			if dep.Labels[k] != v {
				t.Errorf("Deployment label %s = %q, want %q", k, dep.Labels[k], v)
			}
		}
		if dep.Annotations["meta.helm.sh/release-name"] != "prometheus" {
			t.Errorf("Deployment annotations %v", dep.Annotations)
		}
		if dep.Spec.Template.Annotations["linkerd.io/inject"] != "enabled" {
			t.Errorf("pod template annotations %v", dep.Spec.Template.Annotations)
		}
		svc, err := kc.CoreV1().Services(ns).Get(ctx(t), "prometheus-server", metav1.GetOptions{})
		if err != nil || svc.Spec.Ports[0].Port != 9090 {
			t.Errorf("Service: %v %v", svc, err)
		}
		for _, name := range []string{"prometheus-server"} {
			if _, err := kc.CoreV1().ServiceAccounts(ns).Get(ctx(t), name, metav1.GetOptions{}); err != nil {
				t.Error(err)
			}
			if _, err := kc.CoreV1().ConfigMaps(ns).Get(ctx(t), name, metav1.GetOptions{}); err != nil {
				t.Error(err)
			}
		}
		if _, err := kc.RbacV1().ClusterRoles().Get(ctx(t), "linkerd-viz-prometheus-server", metav1.GetOptions{}); err != nil {
			t.Error(err)
		}
		if _, err := kc.RbacV1().ClusterRoleBindings().Get(ctx(t), "linkerd-viz-prometheus-server", metav1.GetOptions{}); err != nil {
			t.Error(err)
		}
		// Helm's own storage, so the helm CLI sees the release.
		sec, err := kc.CoreV1().Secrets(ns).Get(ctx(t), "sh.helm.release.v1.prometheus.v1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sec.Type != "helm.sh/release.v1" || sec.Labels["owner"] != "helm" || sec.Labels["status"] != "deployed" {
			t.Errorf("release Secret type %s labels %v", sec.Type, sec.Labels)
		}
	})

	t.Run("install again changes nothing", func(t *testing.T) {
		r := env.MustMeshmon(t, "kubectl", "install", "--skip-check", "--chart", chart)
		if !strings.Contains(r.Stdout, "Release prometheus is already up to date (revision 1, chart prometheus 29.27.0); nothing changed.") {
			t.Errorf("second install output:\n%s", r.Stdout)
		}
		if revs := revisions(t, kc, ns, "prometheus"); !slices.Equal(revs, []string{"v1=deployed"}) {
			t.Errorf("revisions %v", revs)
		}
	})

	t.Run("upgrade", func(t *testing.T) {
		r := env.MustMeshmon(t, "kubectl", "install", "--skip-check", "--chart", chart, "--retention", "30d")
		if !strings.Contains(r.Stdout, "Upgraded release prometheus to revision 2 (chart prometheus 29.27.0; values changed).") {
			t.Errorf("upgrade output:\n%s", r.Stdout)
		}
		if revs := revisions(t, kc, ns, "prometheus"); !slices.Equal(revs, []string{"v1=superseded", "v2=deployed"}) {
			t.Errorf("revisions %v", revs)
		}
		dep, err := kc.AppsV1().Deployments(ns).Get(ctx(t), "prometheus-server", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		args := strings.Join(dep.Spec.Template.Spec.Containers[len(dep.Spec.Template.Spec.Containers)-1].Args, " ")
		if !strings.Contains(args, "--storage.tsdb.retention.time=30d") {
			t.Errorf("the upgrade did not reach the Deployment: %s", args)
		}
	})

	t.Run("status", func(t *testing.T) {
		s := status(t, env)
		if s.Release != "prometheus" || s.Namespace != ns || s.Revision != 2 || s.Status != "deployed" ||
			s.Chart != "prometheus" || s.ChartVersion != "29.27.0" || s.AppVersion != "v3.14.0" || s.LastDeployed == "" {
			t.Errorf("status %+v", s)
		}
		if s.URL != "http://prometheus-server.linkerd-viz.svc.cluster.local:9090" {
			t.Errorf("url %q", s.URL)
		}
		if s.Workload == nil || s.Workload.Kind != "Deployment" || s.Workload.Ready != 1 || s.Workload.Desired != 1 {
			t.Errorf("workload %+v", s.Workload)
		}
		if len(s.Storage) != 1 {
			t.Fatalf("storage %+v", s.Storage)
		}
		v := s.Storage[0]
		if v.Claim != "prometheus-server" || v.UID != pvcUID || v.Phase != "Bound" || v.Requested != "20Gi" || v.Capacity != "50Gi" ||
			v.StorageClass != "standard" || !strings.HasPrefix(v.PersistentVolume, "meshmon-pv-") || v.ReclaimPolicy != "Retain" || !v.Keep || v.StatefulSet {
			t.Errorf("storage %+v", v)
		}
		table := env.MustMeshmon(t, "kubectl", "status").Stdout
		for _, want := range []string{"REVISION       2", "STATUS         deployed", "CHART          prometheus-29.27.0", "Deployment prometheus-server (1/1 ready)", "PVC prometheus-server: Bound, 20Gi requested, 50Gi bound"} {
			if !strings.Contains(table, want) {
				t.Errorf("status table lacks %q:\n%s", want, table)
			}
		}
	})

	t.Run("uninstall keeps the volume", func(t *testing.T) {
		r := env.MustMeshmon(t, "kubectl", "uninstall")
		for _, want := range []string{
			"Uninstalled release prometheus (revision 2) from namespace linkerd-viz.",
			"Kept the data volume: PVC linkerd-viz/prometheus-server (20Gi requested, 50Gi bound, class standard, volume meshmon-pv-",
			"kubectl meshmon uninstall --delete-data -n linkerd-viz",
			"kubectl delete pvc -n linkerd-viz prometheus-server",
		} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("uninstall output lacks %q:\n%s", want, r.Stdout)
			}
		}
		if got := pvc(t, kc, ns, "prometheus-server"); string(got.UID) != pvcUID {
			t.Errorf("the PVC was replaced: uid %s, was %s", got.UID, pvcUID)
		}
		_, err := kc.AppsV1().Deployments(ns).Get(ctx(t), "prometheus-server", metav1.GetOptions{})
		gone(t, err, "Deployment prometheus-server")
		_, err = kc.RbacV1().ClusterRoles().Get(ctx(t), "linkerd-viz-prometheus-server", metav1.GetOptions{})
		gone(t, err, "ClusterRole linkerd-viz-prometheus-server")
		if revs := revisions(t, kc, ns, "prometheus"); len(revs) != 0 {
			t.Errorf("release records left: %v", revs)
		}
		expectFailure(t, env, 1, []string{"release prometheus is not installed"}, "status")
	})

	t.Run("reinstall binds the same volume", func(t *testing.T) {
		r := env.MustMeshmon(t, "kubectl", "install", "--skip-check", "--chart", chart)
		if !strings.Contains(r.Stdout, "Installed release prometheus (revision 1") {
			t.Errorf("reinstall output:\n%s", r.Stdout)
		}
		if got := waitBound(t, kc, ns, "prometheus-server"); string(got.UID) != pvcUID {
			t.Errorf("reinstall made a new PVC: uid %s, was %s", got.UID, pvcUID)
		}
	})

	t.Run("uninstall --delete-data", func(t *testing.T) {
		r := env.MustMeshmon(t, "kubectl", "uninstall", "--delete-data", "--yes")
		if !strings.Contains(r.Stdout, "Deleted the data volume: PVC linkerd-viz/prometheus-server") || strings.Contains(r.Stdout, "Kept") {
			t.Errorf("uninstall --delete-data output:\n%s", r.Stdout)
		}
		_, err := kc.CoreV1().PersistentVolumeClaims(ns).Get(ctx(t), "prometheus-server", metav1.GetOptions{})
		gone(t, err, "PVC prometheus-server")
		expectFailure(t, env, 1, []string{"nothing to uninstall"}, "uninstall")
	})
}
