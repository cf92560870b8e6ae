//go:build e2e

package concurrency

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshmon/meshmon/e2e/framework"
	"github.com/meshmon/meshmon/pkg/policy"
)

const ns = "linkerd-viz"

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// install installs meshmon's Prometheus with the fixture chart, once per package.
var installOnce sync.Once

func install(t *testing.T, env *framework.Env) {
	t.Helper()
	installOnce.Do(func() {
		env.MustMeshmon(t, "kubectl", "install", "--skip-check", "--chart", framework.TestChart(t, "prometheus"))
	})
}

// parallel runs n meshmon commands at once and returns their results in order.
func parallel(t *testing.T, env *framework.Env, n int, args func(i int) []string) []framework.Result {
	t.Helper()
	out := make([]framework.Result, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			out[i] = env.Meshmon(t, "kubectl", args(i)...)
		})
	}
	close(start)
	wg.Wait()
	return out
}

// Row 6: 20 concurrent `policy apply --mtls-authentication shared --allow-client ns-i/sa-i`.
// Every run succeeds, every client's AuthorizationPolicy exists, the scraper identities are
// merged into the shared MeshTLSAuthentication once, and its foreign identity survives.
func TestConcurrentPolicyApply(t *testing.T) {
	env := framework.Current(t)
	install(t, env)
	kc, dc := env.Clients(t)
	const n = 20
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("ns-%d", i)
		if _, err := kc.CoreV1().Namespaces().Create(ctx(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("sa-%d", i)}}
		if _, err := kc.CoreV1().ServiceAccounts(name).Create(ctx(t), sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	const foreign = "vmagent.monitoring.serviceaccount.identity.linkerd.cluster.local"
	mtls := dc.Resource(schema.GroupVersionResource{Group: policy.Group, Version: "v1alpha1", Resource: "meshtlsauthentications"}).Namespace(ns)
	shared := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "policy.linkerd.io/v1alpha1", "kind": "MeshTLSAuthentication",
		"metadata": map[string]any{"name": "shared", "namespace": ns},
		"spec":     map[string]any{"identities": []any{foreign}},
	}}
	if _, err := mtls.Create(ctx(t), shared, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	res := parallel(t, env, n, func(i int) []string {
		return []string{"policy", "apply", "--mtls-authentication", "shared", "--allow-client", fmt.Sprintf("ns-%d/sa-%d", i+1, i+1)}
	})
	for i, r := range res {
		if r.Code != 0 {
			t.Errorf("apply %d: exit %d\n%s%s", i+1, r.Code, r.Stdout, r.Stderr)
		}
	}
	got, err := mtls.Get(ctx(t), "shared", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ids, _, _ := unstructured.NestedStringSlice(got.Object, "spec", "identities")
	want := []string{foreign,
		"prometheus-server.linkerd-viz.serviceaccount.identity.linkerd.cluster.local",
		"prometheus.linkerd-viz.serviceaccount.identity.linkerd.cluster.local",
		"tap.linkerd-viz.serviceaccount.identity.linkerd.cluster.local"}
	slices.Sort(ids)
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("shared identities\n  %v\nwant\n  %v", ids, want)
	}
	aps := dc.Resource(schema.GroupVersionResource{Group: policy.Group, Version: "v1alpha1", Resource: "authorizationpolicies"}).Namespace(ns)
	for i := 1; i <= n; i++ {
		name := policy.ClientAuthorizationName(policy.ServiceAccountRef{Namespace: fmt.Sprintf("ns-%d", i), Name: fmt.Sprintf("sa-%d", i)})
		if _, err := aps.Get(ctx(t), name, metav1.GetOptions{}); err != nil {
			t.Errorf("client %d: AuthorizationPolicy %s: %v", i, name, err)
		}
	}
}

// Row 6: two concurrent `federate add` of different sources: both end up present, or one
// says another operation is in progress and its retry succeeds; never a pending release.
func TestConcurrentFederateAdd(t *testing.T) {
	env := framework.Current(t)
	install(t, env)
	names := []string{"west", "east"}
	res := parallel(t, env, 2, func(i int) []string {
		return []string{"federate", "add", names[i], "--url", fmt.Sprintf("http://%s.example:9090/federate", names[i])}
	})
	for i, r := range res {
		switch {
		case r.Code == 0:
		case strings.Contains(r.Stderr, "another operation is in progress") && strings.Contains(r.Stderr, "retry"):
			t.Logf("%s refused while the other ran; retrying", names[i])
			env.MustMeshmon(t, "kubectl", "federate", "add", names[i], "--url", fmt.Sprintf("http://%s.example:9090/federate", names[i]))
		default:
			t.Errorf("federate add %s: exit %d without the retry hint\n%s%s", names[i], r.Code, r.Stdout, r.Stderr)
		}
	}
	st := env.MustMeshmon(t, "kubectl", "status")
	if !strings.Contains(st.Stdout, "deployed") {
		t.Errorf("release not deployed after the race:\n%s", st.Stdout)
	}
	list := env.MustMeshmon(t, "kubectl", "federate", "list")
	for _, n := range names {
		if !strings.Contains(list.Stdout, n) {
			t.Errorf("source %s lost:\n%s", n, list.Stdout)
		}
	}
}

// onTerminal runs meshmon with stdin, stdout and stderr on a new pseudo-terminal, typing
// answer once the prompt appears; it returns everything printed and the exit code.
func onTerminal(t *testing.T, env *framework.Env, answer string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(env.Bin, "kubectl-meshmon"), args...)
	f, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		typed := false
		for {
			n, err := f.Read(buf)
			out.Write(buf[:n])
			if !typed && strings.Contains(out.String(), "[y/N]") {
				typed = true
				_, _ = io.WriteString(f, answer+"\n")
			}
			if err != nil {
				return
			}
		}
	}()
	err = cmd.Wait()
	<-done
	code := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), code
}

// Row 7: uninstall --delete-data deletes the data volume only when confirmed: --yes, or "y"
// typed on a terminal. Without a terminal it refuses and changes nothing; "n" keeps it.
func TestDeleteDataNeedsConfirmation(t *testing.T) {
	env := framework.Current(t)
	install(t, env)
	kc, _ := env.Clients(t)
	claim := func() *corev1.PersistentVolumeClaim {
		p, err := kc.CoreV1().PersistentVolumeClaims(ns).Get(ctx(t), "prometheus-server", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	before := claim()
	if before == nil {
		t.Fatal("no PVC after install")
	}

	r := env.Meshmon(t, "kubectl", "uninstall", "--delete-data")
	if r.Code != 2 || !strings.Contains(r.Stderr, "pass --yes") || !strings.Contains(r.Stdout, "PVC linkerd-viz/prometheus-server") {
		t.Errorf("no terminal, no --yes: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if p := claim(); p == nil || p.UID != before.UID {
		t.Fatal("the refused uninstall deleted the PVC")
	}
	env.MustMeshmon(t, "kubectl", "status") // the release is still there

	out, code := onTerminal(t, env, "n", "uninstall", "--delete-data")
	if code == 0 || !strings.Contains(out, "PVC linkerd-viz/prometheus-server") || !strings.Contains(out, "not confirmed") {
		t.Errorf("answered n: exit %d\n%s", code, out)
	}
	if p := claim(); p == nil || p.UID != before.UID {
		t.Fatal("answering n deleted the PVC")
	}

	out, code = onTerminal(t, env, "y", "uninstall", "--delete-data")
	if code != 0 || !strings.Contains(out, "Deleted the data volume: PVC linkerd-viz/prometheus-server") {
		t.Errorf("answered y: exit %d\n%s", code, out)
	}
	if p := claim(); p != nil {
		t.Errorf("PVC still there after a confirmed --delete-data (deletion %v)", p.DeletionTimestamp)
	}
	installOnce = sync.Once{}
}
