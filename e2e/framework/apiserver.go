//go:build e2e

package framework

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ClusterProcess is a real process of this package's cluster (kube-apiserver,
// kwok…), as hack/cluster-up.sh started it and recorded it in the run dir's
// pids file.
type ClusterProcess struct {
	env  *Env
	name string
	pid  int
	argv []string
}

// KubeAPIServer is the cluster's kube-apiserver.
func (e *Env) KubeAPIServer(t testing.TB) *ClusterProcess { return e.Process(t, "kube-apiserver") }

// Kwok is the cluster's kwok, which plays the kubelet and serves port-forwards.
func (e *Env) Kwok(t testing.TB) *ClusterProcess { return e.Process(t, "kwok") }

// Process finds the running cluster process recorded as name and the exact
// command line it was started with (read from /proc, so a restart runs the
// same binary with the same flags).
func (e *Env) Process(t testing.TB, name string) *ClusterProcess {
	t.Helper()
	pid, err := e.recordedPID(name)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Fatalf("reading the command line of %s (pid %d): %v", name, pid, err)
	}
	argv := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
	if len(argv) == 0 || filepath.Base(argv[0]) != name {
		t.Fatalf("pid %d recorded as %s runs %q", pid, name, argv)
	}
	return &ClusterProcess{env: e, name: name, pid: pid, argv: argv}
}

func (e *Env) recordedPID(name string) (int, error) {
	b, err := os.ReadFile(filepath.Join(e.Run, "pids"))
	if err != nil {
		return 0, fmt.Errorf("reading the cluster's pids: %w", err)
	}
	pid := 0
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == name {
			pid, _ = strconv.Atoi(f[1]) // the last line wins: a restart appends
		}
	}
	if pid == 0 {
		return 0, fmt.Errorf("no %s recorded in %s/pids", name, e.Run)
	}
	return pid, nil
}

// Kill ends the process with SIGKILL (as a crash or an OOM kill would) and
// waits until it is gone.
func (a *ClusterProcess) Kill(t testing.TB) {
	t.Helper()
	if err := syscall.Kill(a.pid, syscall.SIGKILL); err != nil {
		t.Fatalf("killing %s (pid %d): %v", a.name, a.pid, err)
	}
	Eventually(t, 30*time.Second, func() error {
		st, readErr := os.ReadFile(fmt.Sprintf("/proc/%d/stat", a.pid))
		if readErr != nil {
			return nil //nolint:nilerr // no /proc entry: the process is gone (reaped)
		}
		if f := strings.Fields(string(st)); len(f) > 2 && f[2] == "Z" {
			return nil
		}
		return fmt.Errorf("%s pid %d still running", a.name, a.pid)
	})
}

// Start runs the process again with the same command line, appending to the
// same log and recording the new PID (so hack/cluster-down.sh stops it); the
// API server is waited for until it is ready.
func (a *ClusterProcess) Start(t testing.TB) {
	t.Helper()
	log, err := os.OpenFile(filepath.Join(a.env.Run, "logs", a.name+".log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = log.Close() }()
	cmd := exec.Command(a.argv[0], a.argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("restarting %s: %v", a.name, err)
	}
	a.pid = cmd.Process.Pid
	go func() { _ = cmd.Wait() }() // reap it if it exits before the cluster goes down
	pids, err := os.OpenFile(filepath.Join(a.env.Run, "pids"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fmt.Fprintf(pids, "%s %d\n", a.name, a.pid)
	if cerr := pids.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if a.name == "kube-apiserver" {
		a.waitReady(t)
	}
}

func (a *ClusterProcess) waitReady(t testing.TB) {
	t.Helper()
	ca, err := os.ReadFile(filepath.Join(a.env.Run, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	url := "https://" + a.Addr() + "/readyz"
	Eventually(t, 2*time.Minute, func() error {
		resp, err := hc.Get(url)
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s %s", url, resp.Status, b.String())
		}
		return nil
	})
}

// Addr is the host:port the API server listens on (--bind-address, --secure-port).
func (a *ClusterProcess) Addr() string {
	host, port := "127.0.0.1", ""
	for i, arg := range a.argv {
		switch {
		case arg == "--bind-address" && i+1 < len(a.argv):
			host = a.argv[i+1]
		case arg == "--secure-port" && i+1 < len(a.argv):
			port = a.argv[i+1]
		}
	}
	return host + ":" + port
}
