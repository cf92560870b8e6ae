//go:build e2e

package release

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshmon/meshmon/e2e/framework"
)

// Every refused install says why and how to fix it, and writes nothing.
func TestRefusedInstallsWriteNothing(t *testing.T) {
	env := framework.Current(t)
	kc, _ := env.Clients(t)
	const ns = "mm-refused"
	createNamespace(t, kc, ns)
	chart := framework.TestChart(t, "prometheus")

	t.Run("invalid size", func(t *testing.T) {
		expectFailure(t, env, 2, []string{`storage size "20gb" is not a Kubernetes quantity: write it like 20Gi`}, "install", "--skip-check", "-n", ns, "--chart", chart, "--storage-size", "20gb")
		nothingWritten(t, kc, ns)
	})
	t.Run("unknown storage class", func(t *testing.T) {
		expectFailure(t, env, 1, []string{
			"preflight found 1 problem(s); nothing was changed in the cluster",
			`storage class "gold" does not exist`, "available:", "standard", "--storage-class",
		}, "install", "--skip-check", "-n", ns, "--chart", chart, "--storage-class", "gold")
		nothingWritten(t, kc, ns)
	})
	t.Run("missing Linkerd", func(t *testing.T) {
		expectFailure(t, env, 1, []string{
			`Linkerd is not installed in namespace "mesh-nowhere" (it has no ConfigMap linkerd-config)`,
			"-L/--linkerd-namespace",
		}, "install", "--skip-check", "-n", ns, "--chart", chart, "-L", "mesh-nowhere")
		nothingWritten(t, kc, ns)
	})
	t.Run("missing namespace", func(t *testing.T) {
		expectFailure(t, env, 1, []string{"namespace mm-nowhere does not exist", "kubectl create namespace mm-nowhere"},
			"install", "--skip-check", "-n", "mm-nowhere", "--chart", chart)
	})

	limited := []string{"--kubeconfig", env.LimitedKubeconfig()}
	t.Run("user without permissions", func(t *testing.T) {
		expectFailure(t, env, 1, []string{
			`permission denied: cannot get configmaps "linkerd-config" in namespace "linkerd"`,
			"you may not list Secrets in namespace " + ns,
			"you may not get, list, watch, create, patch and delete clusterroles.rbac.authorization.k8s.io",
		}, append([]string{"install", "--skip-check", "-n", ns, "--chart", chart}, limited...)...)
		nothingWritten(t, kc, ns)
	})

	t.Run("user who may only read", func(t *testing.T) {
		reader := &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "mm-e2e-reader"},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"configmaps", "namespaces", "secrets", "persistentvolumeclaims", "services"}, Verbs: []string{"get", "list", "watch"}},
				{APIGroups: []string{"storage.k8s.io"}, Resources: []string{"storageclasses"}, Verbs: []string{"get", "list"}},
			},
		}
		binding := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "mm-e2e-reader"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "meshmon:limited"}},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: reader.Name},
		}
		if _, err := kc.RbacV1().ClusterRoles().Create(ctx(t), reader, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := kc.RbacV1().ClusterRoleBindings().Create(ctx(t), binding, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = kc.RbacV1().ClusterRoleBindings().Delete(context.Background(), binding.Name, metav1.DeleteOptions{})
			_ = kc.RbacV1().ClusterRoles().Delete(context.Background(), reader.Name, metav1.DeleteOptions{})
		})
		// RBAC changes reach the authorizer's cache within a moment.
		var r framework.Result
		framework.Eventually(t, 30*time.Second, func() error {
			r = env.Meshmon(t, "kubectl", append([]string{"install", "--skip-check", "-n", ns, "--chart", chart}, limited...)...)
			if strings.Contains(r.Stderr, `cannot get configmaps "linkerd-config"`) {
				return errors.New("the read permissions are not in effect yet")
			}
			return nil
		})
		if r.Code != 1 {
			t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
		}
		for _, want := range []string{
			"√ chart prometheus 29.27.0",
			"you may not create, patch and delete persistentvolumeclaims",
			"you may not get, list, watch, create, patch and delete clusterroles.rbac.authorization.k8s.io (the chart creates them)",
			"you may not create, update and delete secrets (Helm stores the release in them)",
			"lets Prometheus get, list and watch nodes",
			"escalate and bind",
		} {
			if !strings.Contains(r.Stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
			}
		}
		for _, notWant := range []string{"Linkerd control plane is installed", "a default storage class exists", "is not stuck"} {
			if strings.Contains(r.Stderr, notWant) {
				t.Errorf("a check the reader passes was reported failed: %q\n%s", notWant, r.Stderr)
			}
		}
		nothingWritten(t, kc, ns)
	})
}

// An install interrupted (Ctrl-C) while Helm waits is rolled back, not left pending.
func TestInterruptedInstallIsNotLeftPending(t *testing.T) {
	env := framework.Current(t)
	kc, _ := env.Clients(t)
	const ns = "mm-interrupt"
	createNamespace(t, kc, ns)
	noProvisionerClass(t, kc, "mm-no-volumes")

	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(c, filepath.Join(env.Bin, "kubectl-meshmon"), "install", "--skip-check", "-n", ns, "--chart", framework.TestChart(t, "prometheus"), "--storage-class", "mm-no-volumes")
	cmd.Env = os.Environ()
	output, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout // progress is on stderr; read both in order
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(output)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var seen []string
	deadline := time.After(90 * time.Second)
wait:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the install ended before waiting for the PVC:\n%s", strings.Join(seen, "\n"))
			}
			seen = append(seen, line)
			if strings.Contains(line, "waiting for PVC prometheus-server to bind (Pending, storage class mm-no-volumes)") {
				break wait
			}
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("the install never reported waiting for the PVC:\n%s", strings.Join(seen, "\n"))
		}
	}
	go func() {
		for range lines {
		}
	}()
	// Helm is mid-wait with a pending-install record now.
	if revs := revisions(t, kc, ns, "prometheus"); !slices.Equal(revs, []string{"v1=pending-install"}) {
		t.Errorf("while waiting, revisions = %v", revs)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("exit after SIGINT: %v, want code 130", err)
	}
	for _, r := range revisions(t, kc, ns, "prometheus") {
		if strings.Contains(r, "pending") {
			t.Errorf("the interrupted install left %s", r)
		}
	}
	if revs := revisions(t, kc, ns, "prometheus"); len(revs) != 0 && !slices.Equal(revs, []string{"v1=failed"}) {
		t.Errorf("after the interruption revisions = %v, want none (rolled back) or failed", revs)
	}
	_, err = kc.AppsV1().Deployments(ns).Get(ctx(t), "prometheus-server", metav1.GetOptions{})
	gone(t, err, "Deployment of the interrupted install")
	// The claim is kept by its policy, like any data volume; clean it up.
	_ = kc.CoreV1().PersistentVolumeClaims(ns).Delete(ctx(t), "prometheus-server", metav1.DeleteOptions{})
}
