//go:build e2e

// Package framework runs e2e test packages against the real local control
// plane: it starts one cluster per test package inside a fresh network
// namespace, re-runs the test binary inside that namespace, and tears the
// cluster down afterwards, also when tests fail or the run is interrupted.
package framework

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Environment variables passed from the outer process to the inner one.
const (
	envInside     = "MESHMON_E2E_INSIDE"
	envKubeconfig = "MESHMON_E2E_KUBECONFIG"
	envBin        = "MESHMON_E2E_BIN"
	envK8sBin     = "MESHMON_E2E_K8S_BIN"
	envRun        = "MESHMON_E2E_RUN"
	envShared     = "MESHMON_E2E_SHARED"
	envNetns      = "MESHMON_E2E_NETNS"
	// envPromBin is the Prometheus v3 server (with kubernetes_sd) that
	// promtest runs; the name is promtest's.
	envPromBin = "MESHMON_PROMETHEUS_BIN"
	// The remote-write receivers (hack/victoriametrics, hack/thanos).
	envVMBin     = "MESHMON_E2E_VM_BIN"
	envThanosBin = "MESHMON_E2E_THANOS_BIN"
)

// Main is the TestMain body of an e2e package. Outside the network
// namespace it prepares everything and re-executes the test binary inside;
// inside it runs the tests.
func Main(m *testing.M) int {
	if os.Getenv(envInside) == "1" {
		return m.Run()
	}
	code, err := outer()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	return code
}

func outer() (int, error) {
	root, err := repoRoot()
	if err != nil {
		return 1, err
	}
	shared := os.Getenv("MESHMON_SHARED")
	if shared == "" {
		shared = filepath.Join(root, "..", "shared")
	}
	if _, err := os.Stat(filepath.Join(shared, "fixtures", "linkerd", "crds.yaml")); err != nil {
		// The fixtures are not part of the clone; without them there is
		// no Linkerd to test against, and a silent skip would pass a run
		// that tested nothing.
		return 1, fmt.Errorf("the Linkerd fixtures are not at %s: put the shared directory next to the clone (../shared) or point MESHMON_SHARED at it", shared)
	}
	for _, need := range []struct{ what, hint string }{
		{"ip", "Debian package iproute2; run hack/deps.sh"},
		{"openssl", "run hack/deps.sh"},
		{"curl", "run hack/deps.sh"},
	} {
		if _, err := exec.LookPath(need.what); err != nil {
			return 1, fmt.Errorf("prerequisite %q not found on PATH (%s)", need.what, need.hint)
		}
	}
	if os.Geteuid() != 0 {
		return 1, errors.New("e2e tests must run as root: they create a network namespace for the test cluster")
	}

	cache := os.Getenv("MESHMON_CACHE")
	if cache == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return 1, fmt.Errorf("finding the user cache dir: %w", err)
		}
		cache = filepath.Join(c, "meshmon")
	}
	sweepStale(root, cache)

	bin, err := os.MkdirTemp("", "meshmon-e2e-bin-")
	if err != nil {
		return 1, err
	}
	defer func() {
		if err := os.RemoveAll(bin); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: removing the test binaries: %v\n", err)
		}
	}()
	if err := buildMeshmon(root, bin); err != nil {
		return 1, err
	}
	if _, err := runScript(root, nil, "hack/provision.sh"); err != nil {
		return 1, fmt.Errorf("provisioning control-plane binaries: %w", err)
	}
	paths, err := scriptVars(root, "hack/paths.sh")
	if err != nil {
		return 1, err
	}
	k8sBin, promBin := paths["K8S_BIN"], paths["PROM_BIN"]

	pkg := filepath.Base(mustGetwd())
	netns := fmt.Sprintf("mm-e2e-%s-%d", pkg, os.Getpid())
	run := filepath.Join(cache, "e2e", netns)
	env := []string{"MESHMON_NETNS=" + netns, "MESHMON_CLUSTER_RUN=" + run, "MESHMON_CACHE=" + cache}

	// Tear down whatever happens: normal return, test failure, or a signal.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	down := func() {
		if _, err := runScript(root, env, "hack/cluster-down.sh"); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: tearing down %s: %v\n", netns, err)
		}
	}
	defer down()

	t0 := time.Now()
	kubeconfig, err := runScript(root, env, "hack/cluster-up.sh", "--linkerd")
	if err != nil {
		return 1, fmt.Errorf("starting the test cluster: %w", err)
	}
	fmt.Fprintf(os.Stderr, "e2e: cluster with Linkerd fixtures up in %s (network namespace %s)\n", time.Since(t0).Round(100*time.Millisecond), netns)

	self, err := os.Executable()
	if err != nil {
		return 1, err
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", netns, self}, os.Args[1:]...)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(),
		envInside+"=1",
		envKubeconfig+"="+kubeconfig,
		envBin+"="+bin,
		envK8sBin+"="+k8sBin,
		envRun+"="+run,
		envShared+"="+shared,
		envNetns+"="+netns,
		envPromBin+"="+filepath.Join(promBin, "prometheus"),
		envVMBin+"="+filepath.Join(paths["VM_BIN"], "victoria-metrics"),
		envThanosBin+"="+filepath.Join(paths["THANOS_BIN"], "thanos"),
		"KUBECONFIG="+kubeconfig,
		"PATH="+bin+string(os.PathListSeparator)+k8sBin+string(os.PathListSeparator)+os.Getenv("PATH"),
		// Keep test output free of colour, whatever the terminal.
		"NO_COLOR=1",
	)
	if err := cmd.Start(); err != nil {
		return 1, fmt.Errorf("running tests inside %s: %w", netns, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case s := <-sig:
		_ = cmd.Process.Signal(s)
		select {
		case err = <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			err = <-done
		}
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 1, err
	}
	return 0, nil
}

// sweepStale tears down clusters left by e2e runs whose process died
// without cleaning up (e.g. killed by a test timeout or a machine restart).
// It looks at the state dirs under the cache and at the network namespaces
// themselves: a namespace whose state dir is gone (another cache, a wiped
// one) would otherwise block a later run that happens to get the same PID.
func sweepStale(root, cache string) {
	stale := map[string]bool{} // name -> has a state dir
	if entries, err := os.ReadDir(filepath.Join(cache, "e2e")); err == nil {
		for _, e := range entries {
			if deadE2EName(e.Name()) {
				stale[e.Name()] = true
			}
		}
	}
	if out, err := exec.Command("ip", "netns", "list").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) > 0 && deadE2EName(f[0]) && !stale[f[0]] {
				stale[f[0]] = false
			}
		}
	}
	for name, hasState := range stale {
		if !hasState {
			// No recorded PIDs: only an empty namespace is removed; one
			// with processes in it is left alone and named.
			pids, err := exec.Command("ip", "netns", "pids", name).Output()
			if err != nil || strings.TrimSpace(string(pids)) != "" {
				fmt.Fprintf(os.Stderr, "e2e: leaving stale network namespace %s alone: it still has processes (ip netns pids %s)\n", name, name)
				continue
			}
		}
		env := []string{"MESHMON_NETNS=" + name, "MESHMON_CLUSTER_RUN=" + filepath.Join(cache, "e2e", name)}
		if _, err := runScript(root, env, "hack/cluster-down.sh"); err == nil {
			fmt.Fprintf(os.Stderr, "e2e: removed stale test cluster %s\n", name)
		}
	}
}

// deadE2EName reports whether name is an e2e cluster name
// (mm-e2e-<package>-<pid>) whose test process is no longer running.
func deadE2EName(name string) bool {
	i := strings.LastIndex(name, "-")
	if !strings.HasPrefix(name, "mm-e2e-") || i < 0 {
		return false
	}
	pid, err := strconv.Atoi(name[i+1:])
	return err == nil && pid > 0 && !processAlive(pid)
}

func processAlive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func buildMeshmon(root, bin string) error {
	ld := "-X github.com/meshmon/meshmon/pkg/version.version=v0.0.0-e2e"
	cmd := exec.Command("go", "build", "-ldflags", ld, "-o", bin+string(os.PathSeparator), "./cmd/kubectl-meshmon", "./cmd/linkerd-meshmon")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("building meshmon: %v\n%s", err, out)
	}
	return nil
}

// runScript runs a hack/ script and returns the last line of its stdout.
func runScript(root string, env []string, script string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, script), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %w", script, err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	return strings.TrimSpace(lines[len(lines)-1]), nil
}

// scriptVars runs a script that prints KEY=VALUE lines.
func scriptVars(root, script string) (map[string]string, error) {
	cmd := exec.Command(filepath.Join(root, script))
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", script, err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			vars[k] = v
		}
	}
	return vars, nil
}

func repoRoot() (string, error) {
	dir := mustGetwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the repository root (no go.mod above the test directory)")
		}
		dir = parent
	}
}

func mustGetwd() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return wd
}
