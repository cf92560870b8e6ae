//go:build e2e

package framework

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Env describes the running test cluster, as seen from inside its network
// namespace.
type Env struct {
	Kubeconfig string // admin kubeconfig
	Bin        string // the meshmon binaries built for this run
	K8sBin     string // kubectl and the control-plane binaries
	Run        string // cluster state dir (pki, logs)
	Shared     string // ../shared
	Netns      string
	Prometheus string // the Prometheus v3 server binary (with kubernetes_sd)
	// VictoriaMetrics and Thanos are the remote-write receivers' binaries.
	VictoriaMetrics, Thanos string
}

// Current returns the environment, failing the test when called outside
// the framework (e.g. `go test -tags e2e -run X` on a package without
// framework.Main in its TestMain).
func Current(t testing.TB) *Env {
	t.Helper()
	if os.Getenv(envInside) != "1" {
		t.Fatal("not inside the e2e test cluster; the package's TestMain must call framework.Main")
	}
	return &Env{
		Kubeconfig:      os.Getenv(envKubeconfig),
		Bin:             os.Getenv(envBin),
		K8sBin:          os.Getenv(envK8sBin),
		Run:             os.Getenv(envRun),
		Shared:          os.Getenv(envShared),
		Netns:           os.Getenv(envNetns),
		Prometheus:      os.Getenv(envPromBin),
		VictoriaMetrics: os.Getenv(envVMBin),
		Thanos:          os.Getenv(envThanosBin),
	}
}

// LimitedKubeconfig is a kubeconfig for the user "limited-user" (group
// meshmon:limited), which has no permissions until a test grants some.
func (e *Env) LimitedKubeconfig() string {
	return filepath.Join(e.Run, "limited.kubeconfig")
}

// Fixture returns the path of a file under ../shared/fixtures.
func (e *Env) Fixture(parts ...string) string {
	return filepath.Join(append([]string{e.Shared, "fixtures"}, parts...)...)
}

// Result is what a command printed and how it exited.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Exec runs a program with the cluster environment and returns its result;
// only a failure to start it fails the test.
func (e *Env) Exec(t testing.TB, env []string, name string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running %s %s: %v", name, strings.Join(args, " "), err)
	}
	return res
}

// Meshmon runs kubectl-meshmon or linkerd-meshmon (host "kubectl" or
// "linkerd") from this run's build.
func (e *Env) Meshmon(t testing.TB, host string, args ...string) Result {
	t.Helper()
	r := e.Exec(t, nil, filepath.Join(e.Bin, host+"-meshmon"), args...)
	record(host+"-meshmon "+strings.Join(args, " "), r)
	return r
}

// MustMeshmon is Meshmon that fails the test on a non-zero exit.
func (e *Env) MustMeshmon(t testing.TB, host string, args ...string) Result {
	t.Helper()
	r := e.Meshmon(t, host, args...)
	if r.Code != 0 {
		t.Fatalf("%s-meshmon %s: exit %d\nstdout:\n%s\nstderr:\n%s", host, strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r
}

// Kubectl runs the real kubectl and fails the test on error.
func (e *Env) Kubectl(t testing.TB, args ...string) string {
	t.Helper()
	r := e.Exec(t, nil, filepath.Join(e.K8sBin, "kubectl"), args...)
	if r.Code != 0 {
		t.Fatalf("kubectl %s: exit %d\n%s%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// KubectlApply applies a manifest given as text.
func (e *Env) KubectlApply(t testing.TB, manifest string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(e.K8sBin, "kubectl"), "apply", "--server-side", "--field-manager=e2e", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl apply: %v\n%s\nmanifest:\n%s", err, out, manifest)
	}
}

// Clients returns admin clients for the cluster.
func (e *Env) Clients(t testing.TB) (kubernetes.Interface, dynamic.Interface) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", e.Kubeconfig)
	if err != nil {
		t.Fatalf("loading %s: %v", e.Kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return kc, dc
}

// Eventually polls cond until it returns nil or the timeout passes, then
// fails with the last error.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %v", timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestChart is the absolute path of a hand-made fixture chart in e2e/testdata/charts
// (e.g. "prometheus", which plays the prometheus-community chart), for tests that run in
// an e2e package directory.
func TestChart(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "testdata", "charts", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
