//go:build e2e

package faults

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshmon/meshmon/e2e/framework"
)

// TestFaults injects one fault per row into a real process around meshmon. The rows
// run in order, not in parallel: one of them stops the package's API server.
func TestFaults(t *testing.T) {
	for _, row := range []struct {
		name string
		run  func(t *testing.T, env *framework.Env)
	}{
		{"kube-apiserver killed during the release wait", apiServerKilledMidInstall},
		{"meshmon SIGKILLed during the install wait", meshmonKilledMidInstall},
		{"meshmon SIGKILLed during the upgrade wait", meshmonKilledMidUpgrade},
		{"SIGINT during preflight", interruptedPreflight},
		{"SIGINT during the release wait", interruptedReleaseWait},
		{"API server slower than --request-timeout", slowAPIServer},
		{"API server that never answers one API group", stalledAPIServer},
		{"Prometheus killed, port-forward streams dropped", prometheusKilledMidCheck},
	} {
		t.Run(row.name, func(t *testing.T) { row.run(t, framework.Current(t)) })
	}
}

// chart is the fixture chart, relative to the package directory the tests run in.
const chart = "../testdata/charts/prometheus"

func installArgs(ns string, extra ...string) []string {
	return append([]string{"install", "-n", ns, "--chart", chart, "--skip-viz", "--skip-policy", "--skip-check", "--storage-class", ns}, extra...)
}

// Row 1: the API server dies while meshmon waits for the release, and comes back a few
// seconds later.
func apiServerKilledMidInstall(t *testing.T, env *framework.Env) {
	kc, _ := env.Clients(t)
	const ns = "mm-fault-apiserver"
	volumeClass(t, kc, ns)
	api := env.KubeAPIServer(t)
	p := startMeshmon(t, env, installArgs(ns, "--timeout", "2m", "--request-timeout", "10s")...)
	p.waitLine(t, "waiting for PVC prometheus-server")
	uid := pvcUID(t, kc, ns)
	api.Kill(t)
	time.Sleep(3 * time.Second)
	api.Start(t)
	kc, _ = env.Clients(t)
	freeVolume(t, kc, ns)
	p.wait(t, 4*time.Minute)
	t.Logf("install across the API server restart: exit %d after %s\n%s", p.code, p.took, p.output())
	if strings.Contains(p.output(), "reflector.go") {
		t.Errorf("client-go's log lines are mixed into meshmon's output:\n%s", p.output())
	}
	if p.code != 0 && !strings.Contains(p.output(), "API server") {
		t.Errorf("install failed without naming the API server (exit %d):\n%s", p.code, p.output())
	}
	rerun := env.Meshmon(t, "kubectl", installArgs(ns)...)
	if rerun.Code != 0 {
		for _, want := range []string{"prometheus", "pending", "--repair"} {
			if !strings.Contains(rerun.Stderr, want) {
				t.Errorf("the rerun failed without naming %q:\n%s", want, rerun.Stderr)
			}
		}
		env.MustMeshmon(t, "kubectl", installArgs(ns, "--repair")...)
	}
	if revs := revisions(t, kc, ns); len(revs) == 0 || !strings.HasSuffix(revs[len(revs)-1], "=deployed") {
		t.Errorf("release history after the rerun: %v", revs)
	}
	if got := pvcUID(t, kc, ns); got != uid {
		t.Errorf("PVC prometheus-server is a new one: UID %s, was %s", got, uid)
	}
	noOrphans(t, kc, ns)
}

// Row 2: a real pending-install, left by SIGKILL while Helm waits for the volume.
func meshmonKilledMidInstall(t *testing.T, env *framework.Env) {
	kc, _ := env.Clients(t)
	const ns = "mm-fault-kill-install"
	volumeClass(t, kc, ns)
	p := startMeshmon(t, env, installArgs(ns)...)
	p.waitLine(t, "waiting for PVC prometheus-server")
	uid := pvcUID(t, kc, ns)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.wait(t, time.Minute)
	if revs := revisions(t, kc, ns); !slices.Equal(revs, []string{"v1=pending-install"}) {
		t.Fatalf("after SIGKILL: %v", revs)
	}
	refused := env.Meshmon(t, "kubectl", installArgs(ns)...)
	for _, want := range []string{"stuck in pending-install at revision 1", "--repair"} {
		if refused.Code != 1 || !strings.Contains(refused.Stderr, want) {
			t.Errorf("install after the kill (exit %d) lacks %q:\n%s", refused.Code, want, refused.Stderr)
		}
	}
	freeVolume(t, kc, ns)
	fixed := env.MustMeshmon(t, "kubectl", installArgs(ns, "--repair")...)
	if !strings.Contains(fixed.Stdout, "Repaired: release prometheus was stuck in pending-install at revision 1") {
		t.Errorf("--repair output:\n%s", fixed.Stdout)
	}
	if revs := revisions(t, kc, ns); !slices.Equal(revs, []string{"v1=deployed"}) {
		t.Errorf("after --repair: %v", revs)
	}
	if got := pvcUID(t, kc, ns); got != uid {
		t.Errorf("PVC prometheus-server is a new one: UID %s, was %s", got, uid)
	}
	noOrphans(t, kc, ns)
}

// Row 2: a real pending-upgrade, left by SIGKILL while the new pod cannot be scheduled.
func meshmonKilledMidUpgrade(t *testing.T, env *framework.Env) {
	kc, _ := env.Clients(t)
	const ns = "mm-fault-kill-upgrade"
	volumeClass(t, kc, ns)
	freeVolume(t, kc, ns)
	env.MustMeshmon(t, "kubectl", installArgs(ns)...)
	uid := pvcUID(t, kc, ns)
	p := startMeshmon(t, env, installArgs(ns, "--set", "server.nodeSelector.meshmon-test=nowhere")...)
	p.waitLine(t, "waiting for Deployment prometheus-server")
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.wait(t, time.Minute)
	if revs := revisions(t, kc, ns); !slices.Equal(revs, []string{"v1=deployed", "v2=pending-upgrade"}) {
		t.Fatalf("after SIGKILL: %v", revs)
	}
	refused := env.Meshmon(t, "kubectl", installArgs(ns)...)
	for _, want := range []string{"stuck in pending-upgrade at revision 2", "--repair", "roll back to revision 1"} {
		if refused.Code != 1 || !strings.Contains(refused.Stderr, want) {
			t.Errorf("install after the kill (exit %d) lacks %q:\n%s", refused.Code, want, refused.Stderr)
		}
	}
	fixed := env.MustMeshmon(t, "kubectl", installArgs(ns, "--repair")...)
	if !strings.Contains(fixed.Stdout, "Repaired: release prometheus was stuck in pending-upgrade at revision 2; marked it failed and rolled back to revision 1") {
		t.Errorf("--repair output:\n%s", fixed.Stdout)
	}
	if revs := revisions(t, kc, ns); len(revs) != 3 || revs[2] != "v3=deployed" {
		t.Errorf("after --repair: %v", revs)
	}
	if got := pvcUID(t, kc, ns); got != uid {
		t.Errorf("PVC prometheus-server is a new one: UID %s, was %s", got, uid)
	}
	noOrphans(t, kc, ns)
}

// Row 5: every answer of the API server is held 2s; --request-timeout 500ms must give
// up on each request.
func slowAPIServer(t *testing.T, env *framework.Env) {
	api := env.KubeAPIServer(t)
	proxy := startProxy(t, env, api.Addr(), 2*time.Second, "")
	kcfg := proxy.kubeconfig(t, env, api.Addr())
	start := time.Now()
	r := env.Meshmon(t, "kubectl", "check", "--pre", "--kubeconfig", kcfg, "--request-timeout", "500ms")
	t.Logf("check --pre through a 2s-latency proxy with --request-timeout 500ms: exit %d after %s\n%s%s", r.Code, time.Since(start), r.Stdout, r.Stderr)
	if r.Code == 0 {
		t.Error("check --pre passed although every request exceeded --request-timeout")
	}
	if !strings.Contains(r.Stdout+r.Stderr, "API server") {
		t.Errorf("the failure does not name the API server:\n%s%s", r.Stdout, r.Stderr)
	}
}

// Row 5: an API server that never answers the storage API, with no --request-timeout:
// the check's own deadline must end the storage check, and the others still pass.
func stalledAPIServer(t *testing.T, env *framework.Env) {
	api := env.KubeAPIServer(t)
	proxy := startProxy(t, env, api.Addr(), 0, "/apis/storage.k8s.io/")
	kcfg := proxy.kubeconfig(t, env, api.Addr())
	p := startMeshmon(t, env, "check", "--pre", "--kubeconfig", kcfg)
	p.wait(t, 3*time.Minute)
	t.Logf("check --pre against a stalled API server: exit %d after %s\n%s", p.code, p.took, p.output())
	if p.code == 0 {
		t.Error("check --pre passed against an API server that never answers")
	}
	if !strings.Contains(p.output(), "API server") {
		t.Errorf("the failure does not name the API server:\n%s", p.output())
	}
}

// Row 4: the release's real Prometheus is SIGKILLed, and kwok (which carries every
// port-forward stream) is killed while a waiting check retries: the check says
// Prometheus is unreachable, with its hint, and with --wait it passes once both are back.
func prometheusKilledMidCheck(t *testing.T, env *framework.Env) {
	kc, _ := env.Clients(t)
	env.MustMeshmon(t, "kubectl", "install", "--chart", chart, "--skip-check")
	rp := framework.ReleasePrometheus{Namespace: "linkerd-viz", ConfigMap: "prometheus-server", ServiceAccount: "prometheus-server",
		Args: framework.ServerRetentionArgs(t, kc, "linkerd-viz", "prometheus-server"), DataDir: t.TempDir()}
	p := framework.StartReleasePrometheus(t, env, kc, rp)
	checkArgs := []string{"check", "--category", "prometheus-api", "-o", "short"}
	framework.Eventually(t, 2*time.Minute, func() error {
		if r := env.Meshmon(t, "kubectl", checkArgs...); r.Code != 0 {
			return fmt.Errorf("check with Prometheus up: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		return nil
	})

	if err := syscall.Kill(p.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	start := time.Now()
	down := env.Meshmon(t, "kubectl", checkArgs...)
	t.Logf("check with Prometheus killed: exit %d after %s\n%s%s", down.Code, time.Since(start), down.Stdout, down.Stderr)
	for _, want := range []string{"× can reach Prometheus", "see https://"} {
		if down.Code != 1 || !strings.Contains(down.Stdout, want) {
			t.Errorf("check with Prometheus killed (exit %d) lacks %q:\n%s%s", down.Code, want, down.Stdout, down.Stderr)
		}
	}
	if !strings.Contains(down.Stdout, "#mm-prometheus-reachable") {
		t.Errorf("the failure does not point at the hint mm-prometheus-reachable:\n%s", down.Stdout)
	}

	w := startMeshmon(t, env, append(checkArgs, "--wait", "2m")...)
	time.Sleep(3 * time.Second)
	kwok := env.Kwok(t)
	kwok.Kill(t)
	time.Sleep(2 * time.Second)
	kwok.Start(t)
	if err := p.Restart(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	w.wait(t, 3*time.Minute)
	t.Logf("check --wait 2m across the Prometheus and kwok restarts: exit %d after %s\n%s", w.code, w.took, w.output())
	if w.code != 0 {
		t.Errorf("check --wait did not recover once Prometheus was back: exit %d\n%s", w.code, w.output())
	}
}

// Row 3: SIGINT while preflight reads the cluster (made slow for real by a proxy that
// holds every API answer 300ms): nothing is written, exit 130.
func interruptedPreflight(t *testing.T, env *framework.Env) {
	kc, _ := env.Clients(t)
	const ns = "mm-fault-int-preflight"
	volumeClass(t, kc, ns)
	api := env.KubeAPIServer(t)
	kcfg := startProxy(t, env, api.Addr(), 300*time.Millisecond, "").kubeconfig(t, env, api.Addr())
	p := startMeshmon(t, env, append(installArgs(ns), "--kubeconfig", kcfg)...)
	p.waitLine(t, "Checking the cluster")
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	p.wait(t, time.Minute)
	t.Logf("install interrupted in preflight: exit %d after %s\n%s", p.code, p.took, p.output())
	if p.code != 130 {
		t.Errorf("exit %d, want 130", p.code)
	}
	if revs := revisions(t, kc, ns); len(revs) != 0 {
		t.Errorf("an install interrupted in preflight wrote a release: %v", revs)
	}
	if pvcs, err := kc.CoreV1().PersistentVolumeClaims(ns).List(ctxT(t), metav1.ListOptions{}); err != nil || len(pvcs.Items) != 0 {
		t.Errorf("an install interrupted in preflight created claims (%v): %d", err, len(pvcs.Items))
	}
}

// Row 3: SIGINT while the release waits for its volume: the install is uninstalled
// (the kept PVC stays), exit 130, and a rerun installs it on the same claim.
func interruptedReleaseWait(t *testing.T, env *framework.Env) {
	kc, _ := env.Clients(t)
	const ns = "mm-fault-int-release"
	volumeClass(t, kc, ns)
	p := startMeshmon(t, env, installArgs(ns)...)
	p.waitLine(t, "waiting for PVC prometheus-server")
	uid := pvcUID(t, kc, ns)
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	p.wait(t, 2*time.Minute)
	t.Logf("install interrupted in the release wait: exit %d after %s\n%s", p.code, p.took, p.output())
	if p.code != 130 {
		t.Errorf("exit %d, want 130", p.code)
	}
	if revs := revisions(t, kc, ns); len(revs) != 0 {
		t.Errorf("the interrupted install left a release: %v", revs)
	}
	if deps, err := kc.AppsV1().Deployments(ns).List(ctxT(t), metav1.ListOptions{}); err != nil || len(deps.Items) != 0 {
		t.Errorf("the interrupted install left Deployments (%v): %d", err, len(deps.Items))
	}
	freeVolume(t, kc, ns)
	env.MustMeshmon(t, "kubectl", installArgs(ns)...)
	if revs := revisions(t, kc, ns); !slices.Equal(revs, []string{"v1=deployed"}) {
		t.Errorf("after the rerun: %v", revs)
	}
	if got := pvcUID(t, kc, ns); got != uid {
		t.Errorf("PVC prometheus-server is a new one: UID %s, was %s", got, uid)
	}
	noOrphans(t, kc, ns)
}
